"""The eligibility service over HTTP (httpx): timeouts, retries, and a clear 'unavailable' for our outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from zorg_common.service_auth import ServiceTokens, TokenUnavailable

from ..domain.intake import Evaluation, FailedCriterion, RegisterEntry
from ..settings import ContractingSettings

log = logging.getLogger(__name__)


class EligibilityUnavailable(Exception):
    """Eligibility could not be reached, timed out or answered 5xx: try again later."""


class EligibilityClient:
    """Calls with a service token (scope providers:read) that eligibility accepts: the identity
    provider's in production (``ServiceTokens``); ``http`` may be given (tests: an ASGI app)."""

    def __init__(
        self,
        settings: ContractingSettings,
        http: httpx.AsyncClient | None = None,
        tokens: ServiceTokens | None = None,
    ) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(
            base_url=settings.ELIGIBILITY_URL,
            timeout=settings.ELIGIBILITY_TIMEOUT_S,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._owns_http = http is None
        self.tokens = tokens or ServiceTokens(settings, ["providers:read"])

    async def close(self) -> None:
        await self.tokens.close()
        if self._owns_http:
            await self.http.aclose()

    async def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        tries = self.settings.ELIGIBILITY_RETRIES + 1
        last: str = ""
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
        raise EligibilityUnavailable(f"{method} {path}: {last}")

    async def register(self, agb: str) -> RegisterEntry | None:
        """The provider as the register holds it (name, KvK, kind, contact addresses); None when unknown."""
        response = await self._call("GET", f"/providers/{agb}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise EligibilityUnavailable(f"GET /providers/{agb} answered {response.status_code}")
        body = response.json()
        return RegisterEntry(
            name=body.get("name"),
            kvk=body.get("kvk"),
            kind=body.get("kind"),
            contact_emails=tuple(body.get("contact_emails") or ()),
        )

    async def evaluation(self, agb: str, policy_id: str) -> Evaluation | None:
        """Evaluate the provider under the policy now (stored in eligibility); None when it is unknown."""
        response = await self._call("POST", "/evaluations", json={"agb": agb, "policy_id": policy_id})
        if response.status_code == 404:
            return None
        if response.status_code != 201:
            raise EligibilityUnavailable(f"POST /evaluations answered {response.status_code}: {response.text[:200]}")
        body = response.json()
        return Evaluation(
            eligible=bool(body["eligible"]),
            route=body.get("route"),
            failed=tuple(
                FailedCriterion(c["code"], c["verdict"], c.get("text_nl", ""))
                for c in body.get("criteria", [])
                if c.get("blocking") and c.get("verdict") != "pass"
            ),
            warnings=tuple(body.get("warnings", [])),
            id=body.get("id"),
            contract_years=body.get("contract_years"),
        )

    async def providers(self, sector: str) -> AsyncIterator[dict[str, Any]]:
        """Every provider of the sector in the register, page by page."""
        page = 1
        while True:
            response = await self._call("GET", "/providers", params={"sector": sector, "page": page, "page_size": 200})
            if response.status_code != 200:
                raise EligibilityUnavailable(f"GET /providers answered {response.status_code}")
            body = response.json()
            for item in body["items"]:
                yield item
            if page * body["page_size"] >= body["total"] or not body["items"]:
                return
            page += 1
