"""Tokens for calls to another service: from the identity provider (OAuth2 client credentials), or, in
development, signed here with ZORG_JWT_SECRET.

In production the callee accepts only tokens of the identity provider (RS256/ES256 through its
keys or JWKS), so a caller asks the provider's token endpoint (``ZORG_OAUTH_TOKEN_URL``) with its
own client id and secret, and keeps the token until shortly before it expires. Any service that
calls another uses one ``ServiceTokens`` per callee and scope set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from .auth import issue_token
from .settings import ServiceSettings

log = logging.getLogger(__name__)

#: A token without ``expires_in`` is kept this long (seconds).
DEFAULT_LIFETIME_S = 300.0
#: A signed development token lives this long.
DEVELOPMENT_LIFETIME = dt.timedelta(hours=1)


class TokenUnavailable(Exception):
    """The identity provider could not be reached or refused us: the call waits and is tried again."""


def refresh_margin(lifetime_s: float) -> float:
    """How long before expiry a token is replaced: a fifth of its life, at most a minute (clock skew,
    a slow call in flight)."""
    return min(60.0, lifetime_s / 5)


class ServiceTokens:
    """The bearer token this service shows another, cached until shortly before it expires."""

    def __init__(
        self,
        settings: ServiceSettings,
        scopes: Sequence[str],
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.scopes = tuple(scopes)
        self._http = http
        self._owns_http = http is None
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        #: How many tokens were fetched or signed (the cache at work shows here).
        self.issued = 0

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        async with self._lock:  # one request to the identity provider, however many callers wait
            if self._token is None or self._clock() >= self._renew_at:
                token, lifetime = await self._fetch() if self.settings.ZORG_OAUTH_TOKEN_URL else self._sign()
                self._token = token
                self._renew_at = self._clock() + lifetime - refresh_margin(lifetime)
                self.issued += 1
            return self._token

    def forget(self) -> None:
        """The callee refused the token (401): the next call gets a new one."""
        self._token = None

    async def close(self) -> None:
        if self._http is not None and self._owns_http:
            await self._http.aclose()
        self._http = None

    def _sign(self) -> tuple[str, float]:
        subject = self.settings.ZORG_CLIENT_ID or self.settings.SERVICE
        token = issue_token(self.settings, self.scopes, subject=subject, ttl=DEVELOPMENT_LIFETIME)
        return token, DEVELOPMENT_LIFETIME.total_seconds()

    async def _fetch(self) -> tuple[str, float]:
        """RFC 6749 section 4.4: client credentials, the client authenticated with HTTP Basic."""
        settings = self.settings
        assert settings.ZORG_OAUTH_TOKEN_URL and settings.ZORG_CLIENT_ID and settings.ZORG_CLIENT_SECRET
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        try:
            response = await self._http.post(
                settings.ZORG_OAUTH_TOKEN_URL,
                data={"grant_type": "client_credentials", "scope": " ".join(self.scopes)},
                auth=(settings.ZORG_CLIENT_ID, settings.ZORG_CLIENT_SECRET.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise TokenUnavailable(f"the token endpoint cannot be reached ({type(exc).__name__})") from exc
        if response.status_code != 200:
            # The body may name the client; it never holds our secret, but it stays out of errors anyway.
            raise TokenUnavailable(f"the token endpoint answered {response.status_code}")
        return _read_token(response)


def _read_token(response: httpx.Response) -> tuple[str, float]:
    try:
        body: Any = response.json()
    except ValueError as exc:
        raise TokenUnavailable("the token endpoint did not answer JSON") from exc
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenUnavailable("the token endpoint's answer has no access_token")
    if str(body.get("token_type", "bearer")).lower() != "bearer":
        raise TokenUnavailable(f"the token endpoint gave a {body.get('token_type')!r} token, not a bearer token")
    return token, _lifetime(body.get("expires_in"))


def _lifetime(expires_in: object) -> float:
    """``expires_in`` as seconds: a number, or a number as a string (some providers send that)."""
    if isinstance(expires_in, str) and expires_in.isdecimal():
        expires_in = int(expires_in)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        return DEFAULT_LIFETIME_S
    return float(expires_in)
