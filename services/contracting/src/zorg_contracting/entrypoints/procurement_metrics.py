"""Gauges of the procurement calendar, per policy: procurements still open and days to the contracting deadline.

Kept by a background loop of the service's workers (`zorg worker contracting`, or `zorg serve` with
ZORG_RUN_WORKERS) and scraped with that process's /metrics; the alert "a deadline in 7 days with open
procurements" reads both (deploy/prometheus/alerts.yaml).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from prometheus_client import Gauge
from sqlalchemy import func, select

from zorg_common import clock
from zorg_common.policy import Policy, policies
from zorg_common.service import Runtime

from ..adapters.orm import procurements

log = logging.getLogger(__name__)

OPEN = Gauge("zorg_procurements_open", "Procurements in progress (neither contracted nor closed)", ["policy_id"])
DEADLINE_DAYS = Gauge(
    "zorg_procurement_deadline_days", "Days until the policy's contracting deadline (negative after it)", ["policy_id"]
)
#: A day-granular calendar and a count that moves with staff actions: once a minute is plenty.
REFRESH_S = 60.0


def days_to_deadline(policy: Policy, today: dt.date) -> int:
    return (policy.calendar.contracting_deadline - today).days


async def refresh(runtime: Runtime) -> None:
    """Read the open procurements per policy and set both gauges for every policy known to this process."""
    query = (
        select(procurements.c.policy_id, func.count())
        .where(procurements.c.status == "in_progress")
        .group_by(procurements.c.policy_id)
    )
    async with runtime.sessions() as session:
        open_per_policy: dict[str, int] = {policy_id: count for policy_id, count in await session.execute(query)}
    today = clock.today()
    known = policies()
    for policy_id in sorted(set(known) | set(open_per_policy)):
        OPEN.labels(policy_id).set(open_per_policy.get(policy_id, 0))
        if policy_id in known:
            DEADLINE_DAYS.labels(policy_id).set(days_to_deadline(known[policy_id], today))


async def procurement_gauges(runtime: Runtime, stop: asyncio.Event) -> None:
    """Refresh the gauges every REFRESH_S until ``stop``; while the database is away they keep their last values."""
    while not stop.is_set():
        try:
            await refresh(runtime)
        except Exception as exc:
            log.warning("procurement gauges not refreshed (%s); trying again in %.0fs", exc, REFRESH_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_S)
