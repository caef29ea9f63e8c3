"""The claims service's summaries for other services: claim volumes per provider, year and prestation, and held
claims per hold. The models are the claims API's answers and what its callers read, defined once here.

Staff-facing summaries are read once per request (a simulation, an offer's projection, the year
page), never per claim (ARCHITECTURE.md): a caller asks for up to ``MAX_AGBS`` providers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from fastapi import FastAPI
from pydantic import BaseModel, Field

from .paging import MAX_PAGE_SIZE, Page
from .service import Runtime
from .service_auth import ServiceTokens
from .service_client import ServiceClient, ServiceUnavailable
from .settings import ServiceSettings

#: The most providers one `GET /claims/volumes` names (``agb`` repeated).
MAX_AGBS = MAX_PAGE_SIZE


class PrestationVolume(BaseModel):
    """One provider's claims of one prestation in one contract year, as decided.

    ``lines``, ``quantity`` and ``claimed_cents``: the care delivered and claimed (every decided line but a
    duplicate and one a person rejected); ``paid_*`` and ``allowed_cents``: the lines that were paid and
    what they cost. A pending line counts nowhere until it is decided.
    """

    sector: str = Field(description="GLI or GGZ")
    prestation_code: str
    lines: int
    quantity: int
    claimed_cents: int
    paid_lines: int
    paid_quantity: int
    allowed_cents: int


class ProviderVolumes(BaseModel):
    agb: str
    year: int = Field(description="the contract year: a DBC's opening year, else the service year")
    prestations: list[PrestationVolume]
    lines: int
    quantity: int
    claimed_cents: int
    paid_lines: int
    allowed_cents: int = Field(description="what the year actually cost: the allowed amounts of paid lines")

    @classmethod
    def of(cls, agb: str, year: int, prestations: Sequence[PrestationVolume]) -> ProviderVolumes:
        return cls(
            agb=agb,
            year=year,
            prestations=list(prestations),
            lines=sum(p.lines for p in prestations),
            quantity=sum(p.quantity for p in prestations),
            claimed_cents=sum(p.claimed_cents for p in prestations),
            paid_lines=sum(p.paid_lines for p in prestations),
            allowed_cents=sum(p.allowed_cents for p in prestations),
        )


class HeldCount(BaseModel):
    hold: str = Field(description="contract or review")
    reason: str = Field(description="AWAITING_CONTRACT (a procurement in progress) or REVIEW_VOLUME (a person decides)")
    claims: int
    claimed_cents: int
    providers: int


class HeldClaims(BaseModel):
    sector: str = Field(description="GLI or GGZ")
    year: int = Field(description="the claims' contract year")
    holds: list[HeldCount]
    claims: int


class ClaimsClient:
    """The claims service's summaries over HTTP, with a token of scope ``claims:read``; an outage raises
    ``ServiceUnavailable`` (the caller answers without the figures, never fails whole)."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    @classmethod
    def of(cls, settings: ServiceSettings, base_url: str, timeout_s: float, retries: int = 1) -> ClaimsClient:
        tokens = ServiceTokens(settings, ["claims:read"])
        return cls(ServiceClient("claims", tokens, base_url=base_url, timeout_s=timeout_s, retries=retries))

    async def close(self) -> None:
        await self.client.close()

    async def volumes(self, year: int, agbs: Sequence[str]) -> dict[str, ProviderVolumes]:
        """The year's volumes of these providers (one call per ``MAX_AGBS``, at once); a provider without
        claims is left out."""
        wanted = sorted(set(agbs))
        chunks = [wanted[start : start + MAX_AGBS] for start in range(0, len(wanted), MAX_AGBS)]
        pages = await asyncio.gather(*(self._volumes(year, chunk) for chunk in chunks))
        return {item.agb: item for page in pages for item in page.items}

    async def _volumes(self, year: int, agbs: Sequence[str]) -> Page[ProviderVolumes]:
        params: list[tuple[str, str | int]] = [("year", year), ("page_size", MAX_AGBS), *(("agb", a) for a in agbs)]
        return Page[ProviderVolumes].model_validate(await self._get("/claims/volumes", params))

    async def holds(self, sector: str, year: int) -> HeldClaims:
        return HeldClaims.model_validate(await self._get("/claims/holds", [("sector", sector), ("year", year)]))

    async def _get(self, path: str, params: list[tuple[str, str | int]]) -> object:
        response = await self.client.request("GET", path, params=params)
        if response.status_code != 200:  # a refusal of our call is an outage to the caller, and a bug to us
            raise ServiceUnavailable(f"claims: GET {path} answered {response.status_code}: {response.text[:200]}")
        return response.json()


class CallsClaims(Protocol):
    """The settings of a service that asks claims for its summaries."""

    CLAIMS_URL: str
    CLAIMS_TIMEOUT_S: float


def claims_client(runtime: Runtime) -> ClaimsClient:
    """The one claims client of this process (its token cached, its connections kept), made on first use."""
    if "claims" not in runtime.state:
        settings = runtime.settings
        assert hasattr(settings, "CLAIMS_URL") and hasattr(settings, "CLAIMS_TIMEOUT_S")
        caller: CallsClaims = settings
        runtime.state["claims"] = ClaimsClient.of(settings, caller.CLAIMS_URL, caller.CLAIMS_TIMEOUT_S)
    client: ClaimsClient = runtime.state["claims"]
    return client


async def close_claims_client(runtime: Runtime) -> None:
    if "claims" in runtime.state:
        await runtime.state.pop("claims").close()


@contextlib.asynccontextmanager
async def closing_claims_client(app: FastAPI) -> AsyncIterator[None]:
    """A router's lifespan: the process's claims client is closed when the app stops."""
    try:
        yield
    finally:
        await close_claims_client(app.state.runtime)
