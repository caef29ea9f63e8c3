"""Calling another service's API: a service token, a timeout, a few tries, and one exception for an outage.

An outage (the callee cannot be reached, times out, answers 5xx, or the identity provider gives no
token) raises ``ServiceUnavailable``; any other answer (a 4xx included) is the caller's to read.
A 401 makes the next try fetch a new token (the old one expired or was revoked early).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from .service_auth import ServiceTokens, TokenUnavailable


class ServiceUnavailable(Exception):
    """The other service could not answer now; its text says which call and why (for the log only)."""


class ServiceClient:
    """One callee: its base URL, the token shown to it, the time one try may take and how often to try."""

    def __init__(
        self,
        name: str,
        tokens: ServiceTokens,
        *,
        base_url: str,
        timeout_s: float,
        retries: int,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self.tokens = tokens
        self.retries = retries
        self.http = http or httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._owns_http = http is None

    async def close(self) -> None:
        await self.tokens.close()
        if self._owns_http:
            await self.http.aclose()

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The callee's answer (below 500), or ``ServiceUnavailable`` once every try failed."""
        tries = self.retries + 1
        last = ""
        for attempt in range(tries):
            try:
                response = await self.http.request(method, path, headers=await self.tokens.headers(), **kw)
            except (httpx.HTTPError, TokenUnavailable) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 401:
                    self.tokens.forget()  # expired or revoked early: the next try gets a new one
                    last = "HTTP 401"
                elif response.status_code < 500:
                    return response
                else:
                    last = f"HTTP {response.status_code}"
            if attempt + 1 < tries:
                await asyncio.sleep(0.2 * 2**attempt)
        raise ServiceUnavailable(f"{self.name}: {method} {path}: {last}")
