"""The token a service shows another: signed here in development, from the identity provider otherwise,
kept until shortly before it expires. (The real token endpoint over HTTP: tests/integration/test_service_auth.py.)"""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from zorg_common.auth import decode_token
from zorg_common.service_auth import ServiceTokens, TokenUnavailable, refresh_margin
from zorg_common.settings import ServiceSettings

SECRET = "client-secret-that-never-shows"


def settings(**overrides: Any) -> ServiceSettings:
    return ServiceSettings(_env_file=None, **overrides)  # type: ignore[call-arg]


class TokenEndpoint:
    """Answers as an identity provider's token endpoint would, and counts the requests."""

    def __init__(self, *, status: int = 200, body: Any = None, expires_in: Any = 100) -> None:
        self.status = status
        self.body = body
        self.expires_in = expires_in
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.body is not None:
            return httpx.Response(self.status, json=self.body)
        return httpx.Response(
            self.status,
            json={"access_token": f"token-{len(self.requests)}", "token_type": "Bearer", "expires_in": self.expires_in},
        )


def oauth(endpoint: TokenEndpoint, clock: Any = None) -> ServiceTokens:
    configured = settings(
        ZORG_OAUTH_TOKEN_URL="https://idp.example/token", ZORG_CLIENT_ID="contracting", ZORG_CLIENT_SECRET=SECRET
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    return ServiceTokens(configured, ["providers:read"], http=http, **({"clock": clock} if clock else {}))


async def test_in_development_the_caller_signs_a_token_the_callee_accepts() -> None:
    configured = settings()
    tokens = ServiceTokens(configured, ["providers:read"])
    token = await tokens.token()
    principal = decode_token(configured, token)
    assert principal.scopes == {"providers:read"} and principal.subject == "service"
    assert await tokens.token() == token and tokens.issued == 1


async def test_client_credentials_with_basic_auth_and_the_scope() -> None:
    endpoint = TokenEndpoint()
    tokens = oauth(endpoint)
    assert await tokens.headers() == {"Authorization": "Bearer token-1"}
    (request,) = endpoint.requests
    assert request.method == "POST" and str(request.url) == "https://idp.example/token"
    assert parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"], "scope": ["providers:read"]}
    user, secret = base64.b64decode(request.headers["authorization"].removeprefix("Basic ")).decode().split(":")
    assert (user, secret) == ("contracting", SECRET)


async def test_the_token_is_kept_until_a_bit_before_it_expires() -> None:
    now = {"t": 1000.0}
    endpoint = TokenEndpoint(expires_in=100)
    tokens = oauth(endpoint, clock=lambda: now["t"])
    assert await tokens.token() == "token-1"
    now["t"] += 100 - refresh_margin(100) - 1  # still fresh
    assert await tokens.token() == "token-1"
    now["t"] += 2  # within the margin before expiry: a new one
    assert await tokens.token() == "token-2"
    assert refresh_margin(100) == 20 and refresh_margin(3600) == 60


async def test_callers_waiting_together_share_one_request() -> None:
    endpoint = TokenEndpoint()
    tokens = oauth(endpoint)
    assert set(await asyncio.gather(*(tokens.token() for _ in range(20)))) == {"token-1"}
    assert len(endpoint.requests) == 1


async def test_a_refused_token_is_forgotten_and_fetched_again() -> None:
    endpoint = TokenEndpoint()
    tokens = oauth(endpoint)
    await tokens.token()
    tokens.forget()
    assert await tokens.token() == "token-2"


@pytest.mark.parametrize(
    "endpoint",
    [
        TokenEndpoint(status=401, body={"error": "invalid_client", "client_secret": SECRET}),
        TokenEndpoint(status=200, body={"token_type": "Bearer"}),
        TokenEndpoint(status=200, body=["not", "an", "object"]),
        TokenEndpoint(status=200, body={"access_token": "x", "token_type": "mac"}),
    ],
)
async def test_a_refusal_or_a_bad_answer_is_token_unavailable_and_never_shows_the_secret(
    endpoint: TokenEndpoint,
) -> None:
    with pytest.raises(TokenUnavailable) as caught:
        await oauth(endpoint).token()
    assert SECRET not in str(caught.value)


async def test_an_unreachable_endpoint_is_token_unavailable() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    configured = settings(ZORG_OAUTH_TOKEN_URL="https://idp.example/token", ZORG_CLIENT_ID="c", ZORG_CLIENT_SECRET="s")
    tokens = ServiceTokens(
        configured, ["providers:read"], http=httpx.AsyncClient(transport=httpx.MockTransport(unreachable))
    )
    with pytest.raises(TokenUnavailable, match="cannot be reached"):
        await tokens.token()


@pytest.mark.parametrize(
    ("expires_in", "kept"), [(100, 100.0), ("3600", 3600.0), (None, 300.0), (-5, 300.0), (True, 300.0)]
)
async def test_expires_in_as_providers_send_it(expires_in: Any, kept: float) -> None:
    now = {"t": 0.0}
    tokens = oauth(TokenEndpoint(expires_in=expires_in), clock=lambda: now["t"])
    await tokens.token()
    assert tokens._renew_at == kept - refresh_margin(kept)
