"""Projections of offers (issue 15): last year's volumes from the claims service, priced at a round's tariffs
and stored with the round; left ``unavailable`` while claims cannot answer and filled in later by the
worker (or at once by staff, who may also compute every round again); and the same for tariffs not yet
offered (what-if), which stores nothing.

Claims is asked once per round (one provider, one year), never per claim, and never while a row lock
is held: the unit of work's reads are ended first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select

from zorg_common import clock, db
from zorg_common.claims_api import ProviderVolumes
from zorg_common.policy import policies
from zorg_common.service_client import ServiceUnavailable
from zorg_common.uow import UnitOfWork

from ..adapters.orm import negotiation_rounds, negotiations, round_projections
from ..domain.projection import Projection, Volume, project, volume_year

log = logging.getLogger(__name__)

COMPUTED, UNAVAILABLE = "computed", "unavailable"


class VolumeSource(Protocol):
    """Last year's claims per provider (the claims service): ``ServiceUnavailable`` when it cannot say."""

    async def volumes(self, year: int, agbs: Sequence[str]) -> dict[str, ProviderVolumes]: ...


def volumes_in(found: ProviderVolumes | None, sector: str) -> list[Volume]:
    """The provider's volumes of the sector (a provider may claim in two)."""
    if found is None:
        return []
    return [
        Volume(p.prestation_code, p.quantity, p.claimed_cents, p.paid_quantity, p.allowed_cents)
        for p in found.prestations
        if p.sector == sector
    ]


async def fetch(claims: VolumeSource, agb: str, year: int, sector: str) -> list[Volume]:
    """The provider's volumes of the year; ``ServiceUnavailable`` when claims cannot answer."""
    found = await claims.volumes(year, [agb])
    return volumes_in(found.get(agb), sector)


async def fetch_or_none(claims: VolumeSource, agb: str, year: int, sector: str) -> list[Volume] | None:
    try:
        return await fetch(claims, agb, year, sector)
    except ServiceUnavailable as exc:
        log.warning("projection left unavailable for now: %s", exc)
        return None


def projection_json(projection: Projection) -> dict[str, Any]:
    """The stored and answered form of a projection."""
    headroom = projection.ceiling_headroom_cents
    return {
        "volume_year": projection.volume_year,
        "projected_cents": projection.projected_cents,
        "ceiling_cents": projection.ceiling_cents,
        "ceiling_headroom_cents": headroom,
        "above_ceiling": None if headroom is None else headroom < 0,
        "last_year_claimed_cents": projection.last_year_claimed_cents,
        "last_year_allowed_cents": projection.last_year_allowed_cents,
        "change_vs_last_year_pct": projection.change_vs_last_year_pct,
        "unpriced_quantity": projection.unpriced_quantity,
        "lines": [
            {
                "prestation_code": line.prestation_code,
                "tariff_cents": line.tariff_cents,
                "quantity": line.quantity,
                "projected_cents": line.projected_cents,
                "last_year_claimed_cents": line.last_year_claimed_cents,
                "last_year_allowed_cents": line.last_year_allowed_cents,
            }
            for line in projection.lines
        ],
    }


async def save(
    uow: UnitOfWork,
    negotiation_id: str,
    n: int,
    year: int,
    tariffs: Sequence[tuple[str, int]],
    ceiling_cents: int | None,
    volumes: Sequence[Volume] | None,
) -> None:
    """Store (or replace) a round's projection; without volumes it is stored as unavailable."""
    now = clock.utcnow()
    computed = None if volumes is None else projection_json(project(tariffs, ceiling_cents, volumes, year))
    row = {
        "negotiation_id": negotiation_id,
        "n": n,
        "volume_year": year,
        "status": UNAVAILABLE if computed is None else COMPUTED,
        "projection": computed,
        "computed_at": None if computed is None else now,
        "attempted_at": now,
    }
    await db.upsert(uow.session, round_projections, [row], ["negotiation_id", "n"])


async def what_if(
    claims: VolumeSource, agb: str, sector: str, tariffs: Sequence[tuple[str, int]], ceiling_cents: int | None
) -> dict[str, Any]:
    """The projection of tariffs not offered (nothing stored); ``ServiceUnavailable`` when claims cannot answer."""
    year = volume_year(clock.today())
    return projection_json(project(tariffs, ceiling_cents, await fetch(claims, agb, year, sector), year))


def _tariffs(row: Any) -> list[tuple[str, int]]:
    return [(t["prestation_code"], t["amount_cents"]) for t in row.tariffs]


async def _rounds(uow: UnitOfWork, negotiation_id: str, only_unavailable: bool) -> list[Any]:
    query = (
        select(negotiation_rounds, round_projections.c.volume_year)
        .join(
            round_projections,
            (round_projections.c.negotiation_id == negotiation_rounds.c.negotiation_id)
            & (round_projections.c.n == negotiation_rounds.c.n),
            isouter=True,
        )
        .where(negotiation_rounds.c.negotiation_id == negotiation_id)
        .order_by(negotiation_rounds.c.n)
    )
    if only_unavailable:
        query = query.where(round_projections.c.status == UNAVAILABLE)
    return list((await uow.session.execute(query)).all())


async def recompute(
    uow: UnitOfWork, negotiation_id: str, claims: VolumeSource, *, only_unavailable: bool = False
) -> int:
    """Price the negotiation's rounds again from the volumes claims has now, each in the year it was priced
    in (or, never priced, the year before it was offered). Claims is asked once per year, before anything
    changes: ``ServiceUnavailable`` leaves every round as it was. Returns how many were priced."""
    negotiation = (await uow.session.execute(select(negotiations).where(negotiations.c.id == negotiation_id))).first()
    if negotiation is None:
        return 0
    rounds = await _rounds(uow, negotiation_id, only_unavailable)
    years = {r.n: r.volume_year or volume_year(r.offered_at.date()) for r in rounds}
    sector = policies()[negotiation.policy_id].sector
    await uow.rollback()  # the reads are done: no connection is held while claims answers
    volumes = {year: await fetch(claims, negotiation.agb, year, sector) for year in sorted(set(years.values()))}
    for r in rounds:
        await save(uow, negotiation_id, r.n, years[r.n], _tariffs(r), r.ceiling_cents, volumes[years[r.n]])
    return len(rounds)


async def awaiting(uow: UnitOfWork, limit: int = 100) -> list[str]:
    """Negotiations with a round whose projection waits for the claims service."""
    found = await uow.session.scalars(
        select(round_projections.c.negotiation_id)
        .where(round_projections.c.status == UNAVAILABLE)
        .group_by(round_projections.c.negotiation_id)
        .order_by(round_projections.c.negotiation_id)
        .limit(limit)
    )
    return list(found)


async def by_round(uow: UnitOfWork, negotiation_id: str) -> dict[int, dict[str, Any]]:
    """The stored projections of a negotiation's rounds: status, year, when, and the figures when computed."""
    query = select(round_projections).where(round_projections.c.negotiation_id == negotiation_id)
    rows = await uow.session.execute(query)
    return {
        r.n: {
            "status": r.status,
            "volume_year": r.volume_year,
            "computed_at": r.computed_at,
            **(r.projection or {}),
        }
        for r in rows
    }


async def agreed(uow: UnitOfWork, negotiation_id: str) -> int | None:
    """The projected cost of the round the negotiation was agreed on (its last), when it was priced."""
    row = (
        await uow.session.execute(
            select(round_projections.c.status, round_projections.c.projection)
            .where(round_projections.c.negotiation_id == negotiation_id)
            .order_by(round_projections.c.n.desc())
            .limit(1)
        )
    ).first()
    if row is None or row.status != COMPUTED or row.projection is None:
        return None
    projected: int = row.projection["projected_cents"]
    return projected
