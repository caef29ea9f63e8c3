"""Simulate a draft policy over the register (issue 15) and keep the result: who would newly fail (and on which
criteria), become eligible or change route, and what those who would newly fail claimed the year before.

The draft is validated by the one policy schema and stored with the simulation; it never becomes a
policy. The claims service is asked once for the amounts; when it cannot answer, the simulation is
stored without them (``claims_available: false``), never refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from zorg_common import clock
from zorg_common.claims_api import ProviderVolumes
from zorg_common.policy import Policy, policy_for
from zorg_common.service_client import ServiceUnavailable
from zorg_common.uow import UnitOfWork

from ..adapters.orm import providers, simulations
from ..domain.evaluation import ProviderProfile
from ..domain.simulation import Candidate, Compared, Side, Simulation, simulate

log = logging.getLogger(__name__)


class VolumeSource(Protocol):
    """Where last year's claims come from (the claims service): ``ServiceUnavailable`` when it cannot say."""

    async def volumes(self, year: int, agbs: Sequence[str]) -> dict[str, ProviderVolumes]: ...


class NoCurrentPolicy(LookupError):
    """The draft's sector has no policy for its year or before: nothing to compare it with."""


def claims_year(on: dt.date) -> int:
    """ "Last year" of a simulation: the calendar year before the day its verdicts are taken."""
    return on.year - 1


async def register_of(session: AsyncSession, sector: str) -> list[Candidate]:
    """Every provider of the sector, as the evaluation reads it (one query)."""
    rows = await session.execute(
        select(providers.c.agb, providers.c.name, providers.c.kind, providers.c.sectors, providers.c.facts)
        .where(providers.c.sectors.like(f"%,{sector},%"))
        .order_by(providers.c.agb)
    )
    return [
        Candidate(r.agb, r.name, r.kind, ProviderProfile(r.kind, [s for s in r.sectors.split(",") if s], r.facts))
        for r in rows
    ]


async def run_simulation(
    uow: UnitOfWork, draft: Policy, on: dt.date | None, actor: str, claims: VolumeSource, keep: int
) -> dict[str, Any]:
    """Simulate, store (keeping the newest ``keep``) and return the record; the caller commits."""
    current = policy_for(draft.sector, draft.contract_year)
    if current is None:
        raise NoCurrentPolicy(f"no {draft.sector} policy for {draft.contract_year} or before to compare the draft with")
    day = on or dt.date(draft.contract_year, 1, 1)
    candidates = await register_of(uow.session, draft.sector)
    await uow.rollback()  # the register is read: no connection is held while the claims service answers
    result = simulate(current, draft, candidates, day)
    year = claims_year(day)
    amounts = await last_year(claims, year, [p.agb for p in result.with_change("newly_ineligible")])
    record = simulation_record(str(uuid.uuid4()), result, draft, year, amounts, actor, clock.utcnow())
    await uow.session.execute(insert(simulations).values(**_row(record)))
    await _keep_newest(uow.session, keep)
    log.info(
        "simulation %s: draft %s against %s over %d provider(s)", record["id"], draft.id, current.id, len(candidates)
    )
    return record


async def last_year(claims: VolumeSource, year: int, agbs: Sequence[str]) -> dict[str, ProviderVolumes] | None:
    """The providers' claims of ``year``, or None when the claims service cannot answer now."""
    if not agbs:
        return {}
    try:
        return await claims.volumes(year, agbs)
    except ServiceUnavailable as exc:
        log.warning("simulation without last year's amounts: %s", exc)
        return None


def _side(side: Side) -> dict[str, Any]:
    return {"eligible": side.eligible, "route": side.route, "failing": list(side.failing)}


def _amounts(volumes: ProviderVolumes | None) -> dict[str, int]:
    return {
        "claimed_cents": volumes.claimed_cents if volumes else 0,
        "allowed_cents": volumes.allowed_cents if volumes else 0,
    }


def _provider(p: Compared, amounts: dict[str, ProviderVolumes] | None) -> dict[str, Any]:
    last = _amounts(amounts.get(p.agb)) if amounts is not None and p.change == "newly_ineligible" else None
    return {
        "agb": p.agb,
        "name": p.name,
        "kind": p.kind,
        "change": p.change,
        "current": _side(p.current),
        "draft": _side(p.draft),
        "newly_failing": list(p.newly_failing),
        "last_year": last,
    }


def simulation_record(
    simulation_id: str,
    result: Simulation,
    draft: Policy,
    year: int,
    amounts: dict[str, ProviderVolumes] | None,
    actor: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The simulation as stored and answered (JSON): summary, totals per criterion and route, every provider."""
    movers = result.with_change("newly_ineligible")
    at_stake = None
    if amounts is not None:
        found = [_amounts(amounts.get(p.agb)) for p in movers]
        at_stake = {k: sum(a[k] for a in found) for k in ("claimed_cents", "allowed_cents")}
    summary = {
        "providers": len(result.providers),
        "eligible": {
            "current": sum(p.current.eligible for p in result.providers),
            "draft": sum(p.draft.eligible for p in result.providers),
        },
        **{c: len(result.with_change(c)) for c in ("newly_ineligible", "newly_eligible", "route_changed")},
        "newly_ineligible_last_year": at_stake,
    }
    return {
        "id": simulation_id,
        "policy_id": result.draft_policy_id,
        "current_policy_id": result.current_policy_id,
        "sector": result.sector,
        "on": result.on.isoformat(),
        "claims_year": year,
        "claims_available": amounts is not None,
        "created_at": now.isoformat(),
        "created_by": actor,
        "summary": summary,
        "criteria": [
            {
                "code": c.code,
                "blocking": {"current": c.blocking_current, "draft": c.blocking_draft},
                "current": c.current or None,
                "draft": c.draft or None,
            }
            for c in result.criteria
        ],
        "routes": [{"route": r.route, "current": r.current, "draft": r.draft} for r in result.routes],
        "providers": [_provider(p, amounts) for p in result.providers],
        "draft": draft.model_dump(mode="json"),
    }


_RESULT = ("criteria", "routes", "providers")


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "policy_id": record["policy_id"],
        "current_policy_id": record["current_policy_id"],
        "sector": record["sector"],
        "simulated_on": dt.date.fromisoformat(record["on"]),
        "claims_year": record["claims_year"],
        "claims_available": record["claims_available"],
        "created_at": dt.datetime.fromisoformat(record["created_at"]),
        "created_by": record["created_by"],
        "draft": record["draft"],
        "summary": record["summary"],
        "result": {k: record[k] for k in _RESULT},
    }


def _record(row: Any, *, full: bool) -> dict[str, Any]:
    record = {
        "id": row.id,
        "policy_id": row.policy_id,
        "current_policy_id": row.current_policy_id,
        "sector": row.sector,
        "on": row.simulated_on.isoformat(),
        "claims_year": row.claims_year,
        "claims_available": row.claims_available,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "summary": row.summary,
    }
    if full:
        record.update({k: row.result[k] for k in _RESULT}, draft=row.draft)
    return record


async def _keep_newest(session: AsyncSession, keep: int) -> None:
    newest = select(simulations.c.id).order_by(simulations.c.created_at.desc(), simulations.c.id.desc()).limit(keep)
    await session.execute(delete(simulations).where(simulations.c.id.not_in(newest)))


async def read_simulation(session: AsyncSession, simulation_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(simulations).where(simulations.c.id == simulation_id))).first()
    return _record(row, full=True) if row is not None else None


async def list_simulations(session: AsyncSession, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """The kept simulations, newest first, without their providers."""
    columns = [c for c in simulations.c if c.name not in ("draft", "result")]
    total = await session.scalar(select(func.count()).select_from(simulations))
    rows = await session.execute(
        select(*columns).order_by(simulations.c.created_at.desc(), simulations.c.id.desc()).offset(offset).limit(limit)
    )
    return total or 0, [_record(r, full=False) for r in rows]
