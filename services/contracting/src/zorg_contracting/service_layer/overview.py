"""The procurement year of one policy at a glance (issue 15): providers by route and state, days to the
deadline, intakes waiting for a person, claims held per reason (asked of the claims service once), and
the negotiations with their rounds' projections. Read by `GET /procurements/overview` and the staff page.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, select

from zorg_common import clock
from zorg_common.claims_api import HeldClaims
from zorg_common.policy import Policy
from zorg_common.service_client import ServiceUnavailable
from zorg_common.uow import UnitOfWork

from ..adapters.orm import intakes, negotiation_rounds, negotiations, procurements
from ..domain.overview import PROCURED_ROUTES, ProcurementRow, State, by_route_and_state, where_each_stands
from . import projections

log = logging.getLogger(__name__)


class HoldsSource(Protocol):
    """Held claims per hold (the claims service): ``ServiceUnavailable`` when it cannot say."""

    async def holds(self, sector: str, year: int) -> HeldClaims: ...


@dataclass(frozen=True)
class NegotiationSummary:
    id: str
    agb: str
    state: str
    rounds: int
    #: The latest round's projection (None: no round yet); see projections.by_round.
    latest: dict[str, Any] | None


@dataclass(frozen=True)
class Overview:
    policy: Policy
    today: dt.date
    routes: dict[str, dict[State, int]]
    intakes_to_review: int
    held: HeldClaims | None  # None: the claims service could not answer
    negotiations: list[NegotiationSummary] = field(default_factory=list)

    @property
    def days_to_deadline(self) -> int:
        """Days until the contracting deadline; negative once it has passed."""
        return (self.policy.calendar.contracting_deadline - self.today).days

    @property
    def providers(self) -> int:
        return sum(sum(states.values()) for states in self.routes.values())


async def _where_each_stands(uow: UnitOfWork, policy: Policy) -> dict[str, dict[State, int]]:
    rows = await uow.session.execute(
        select(procurements.c.agb, procurements.c.route, procurements.c.status, procurements.c.cause).where(
            procurements.c.policy_id == policy.id
        )
    )
    offered = [r.route for r in policy.routes if r.route in PROCURED_ROUTES]
    stands = where_each_stands(ProcurementRow(r.agb, r.route, r.status, r.cause) for r in rows)
    return by_route_and_state(stands, dict.fromkeys(offered))


async def _negotiations(uow: UnitOfWork, policy: Policy) -> list[NegotiationSummary]:
    rows = (
        await uow.session.execute(
            select(negotiations.c.id, negotiations.c.agb, negotiations.c.state, func.count(negotiation_rounds.c.n))
            .join(negotiation_rounds, negotiation_rounds.c.negotiation_id == negotiations.c.id, isouter=True)
            .where(negotiations.c.policy_id == policy.id)
            .group_by(negotiations.c.id, negotiations.c.agb, negotiations.c.state)
            .order_by(negotiations.c.agb, negotiations.c.id)
        )
    ).all()
    found = []
    for negotiation_id, agb, state, rounds in rows:
        priced = await projections.by_round(uow, negotiation_id)
        found.append(NegotiationSummary(negotiation_id, agb, state, rounds, priced[max(priced)] if priced else None))
    return found


async def policy_overview(uow: UnitOfWork, policy: Policy, claims: HoldsSource) -> Overview:
    """Contracting's own figures from its database, then the held claims of the policy's sector and year from
    the claims service (after the reads: no connection is held while it answers)."""
    routes = await _where_each_stands(uow, policy)
    to_review = await uow.session.scalar(
        select(func.count())
        .select_from(intakes)
        .where(intakes.c.status == "needs_review", intakes.c.policy_id == policy.id)
    )
    found = await _negotiations(uow, policy)
    await uow.rollback()
    try:
        held: HeldClaims | None = await claims.holds(policy.sector, policy.contract_year)
    except ServiceUnavailable as exc:
        log.warning("the year page without held claims: %s", exc)
        held = None
    return Overview(policy, clock.today(), routes, to_review or 0, held, found)
