"""Reading claims through the API, each read of a person's claim written to the access log (NEN 7513)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from zorg_common import clock
from zorg_common.auth import Forbidden, Principal
from zorg_common.problems import NotFound

from ..adapters.repository import AccessEntry, ActorKind, ClaimFilter, ClaimsUnit, ClaimView, DecisionView, ReadVia


def _entries(reader: Principal, via: ReadVia, shown: Sequence[ClaimView]) -> list[AccessEntry]:
    at = clock.utcnow()  # the real moment of the read, never the business date
    kind: ActorKind = "portal" if reader.is_portal else "staff"
    return [AccessEntry(at, reader.subject, kind, via, c.id, c.agb, c.bsn) for c in shown]


async def _visible(unit: ClaimsUnit, claim_id: str, reader: Principal) -> ClaimView:
    claim = await unit.claims.claim(claim_id)
    if claim is None or not reader.may_see_provider(claim.agb):
        raise NotFound(f"no claim {claim_id}")
    return claim


async def read_claim(unit: ClaimsUnit, claim_id: str, reader: Principal) -> ClaimView:
    claim = await _visible(unit, claim_id, reader)
    await unit.claims.log_access(_entries(reader, "claim", [claim]))
    return claim


async def read_decisions(unit: ClaimsUnit, claim_id: str, reader: Principal) -> tuple[ClaimView, list[DecisionView]]:
    claim = await _visible(unit, claim_id, reader)
    await unit.claims.log_access(_entries(reader, "decisions", [claim]))
    return claim, await unit.claims.decisions_of(claim_id)


async def list_claims(
    unit: ClaimsUnit, reader: Principal, where: ClaimFilter, offset: int, limit: int
) -> tuple[int, list[ClaimView]]:
    """A page of claims; a portal token sees its own provider's only. Every claim on the page is logged."""
    if reader.is_portal:
        if where.agb not in (None, reader.agb):
            raise Forbidden("a provider-portal token sees only its own claims")
        where = replace(where, agb=reader.agb)
    total, page = await unit.claims.claims_page(where, offset, limit)
    await unit.claims.log_access(_entries(reader, "list", page))
    return total, page


async def read_access_log(
    unit: ClaimsUnit, bsn: str | None, agb: str | None, since: dt.datetime | None, offset: int, limit: int
) -> tuple[int, list[AccessEntry]]:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)  # a time without offset is UTC
    return await unit.claims.access_page(bsn, agb, since, offset, limit)
