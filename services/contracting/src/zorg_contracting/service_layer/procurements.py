"""Procurements that end by themselves: every one still open at its deadline is closed (reason `deadline`)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from zorg_common.policy import Policy
from zorg_common.uow import UnitOfWork

from ..adapters.orm import negotiations, procurements
from ..domain.procurement import DEADLINE, OpenProcurement
from . import records

log = logging.getLogger(__name__)


async def close_at_deadline(uow: UnitOfWork, today: dt.date, policy_of: dict[str, Policy]) -> list[str]:
    """Close (ProcurementClosed, reason ``deadline``) each procurement whose deadline day is over.

    Held claims are released by the event: nobody has to call anything. The caller commits.
    """
    rows = (
        await uow.session.execute(
            select(
                procurements.c.id,
                procurements.c.policy_id,
                procurements.c.started_on,
                procurements.c.all_year,
                negotiations.c.deadline_extended_until,
            )
            .select_from(procurements.outerjoin(negotiations, negotiations.c.procurement_id == procurements.c.id))
            .where(procurements.c.status == "in_progress", procurements.c.all_year.is_(False))
        )
    ).all()
    closed = []
    for row in rows:
        policy = policy_of.get(row.policy_id)
        if policy is None:  # a policy file taken away: a person decides
            continue
        procurement = OpenProcurement(
            started_on=row.started_on,
            all_year=row.all_year,
            policy_deadline=policy.calendar.contracting_deadline,
            extended_until=row.deadline_extended_until,
        )
        closes_on = procurement.closes_on
        if closes_on is None or not procurement.closed_by_deadline(today):
            continue
        if await records.close_procurement(uow, row.id, DEADLINE, closed_on=closes_on):
            closed.append(row.id)
    if closed:
        log.info("%d procurement(s) closed at their contracting deadline", len(closed))
    return closed
