"""A small identity provider served over real HTTP (its own thread): a JWKS and an OAuth2 token endpoint.

Keys are generated per test. The token endpoint grants client credentials (HTTP Basic) to the
clients it knows, with the scopes they may have; ``mint`` signs a token directly for the test's
own calls (staff, the demo loader).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from zorg_common.broker import free_port

ISSUER = AUDIENCE = "zorginkoop"


@dataclass
class IdentityProvider:
    #: client id -> (secret, the scopes it may get)
    clients: dict[str, tuple[str, frozenset[str]]]
    lifetime_s: int = 300
    port: int = field(default_factory=free_port)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: token requests granted, per client id
    granted: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def mint(self, scopes: Iterable[str], subject: str = "tester", agb: str | None = None) -> str:
        now = dt.datetime.now(dt.UTC)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "scope": " ".join(sorted(scopes)),
            "iat": now,
            "exp": now + dt.timedelta(seconds=self.lifetime_s),
        }
        if agb:
            claims["agb"] = agb
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def grant(self, authorization: str | None, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}
        try:
            scheme, encoded = (authorization or "").split(" ", 1)
            client_id, secret = base64.b64decode(encoded).decode().split(":", 1)
        except ValueError:
            return 401, {"error": "invalid_client"}
        known = self.clients.get(client_id)
        if scheme.lower() != "basic" or known is None or known[0] != secret:
            return 401, {"error": "invalid_client"}
        asked = set(" ".join(form.get("scope", [])).split())
        if not asked <= known[1]:
            return 400, {"error": "invalid_scope"}
        self.granted[client_id] += 1
        token = self.mint(asked or known[1], subject=client_id)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime_s}

    @contextlib.contextmanager
    def serving(self) -> Iterator[IdentityProvider]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/jwks":
                    self._answer(200, provider.jwks())
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self.path != "/token":
                    self._answer(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                status, body = provider.grant(self.headers.get("Authorization"), form)
                if status != 200:
                    provider.refused += 1
                self._answer(status, body)

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:  # quiet
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, name="identity-provider", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
