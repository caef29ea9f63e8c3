"""Demo data for `make run`: claim lines that reach the outcomes and reasons, with dates relative to today."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import httpx

from zorg_common import clock

from ..domain.calendar import add_months

log = logging.getLogger(__name__)

# Providers of the eligibility demo (services/eligibility/.../demo.py).
CARE_GROUP, COACH, COACH_NO_KVK = "40000001", "40000003", "40000010"
# Of the contracting demo: De Linde's contract leaves out the maintenance phase; Beweeggroep Zuid's
# follow format waits for review, so its procurement is in progress.
NO_MAINTENANCE, IN_REVIEW = "40000002", "40000023"
GGZ_PRACTICE, UNKNOWN = "40000030", "49999999"


def demo_lines(today: dt.date) -> list[dict[str, Any]]:
    month_ago = today - dt.timedelta(days=30)
    start = add_months(month_ago, -2)  # a programme started three months ago: in its treatment phase
    old_start = add_months(today, -25)  # a programme that ended last month

    def gli(reference: str, agb: str = COACH, **changes: Any) -> dict[str, Any]:
        return {
            "provider_reference": reference,
            "agb": agb,
            "bsn": "111222333",
            "sector": "GLI",
            "prestation_code": "GLI-TREATMENT-Q",
            "service_date": month_ago.isoformat(),
            "quantity": 1,
            "claimed_cents": 19380,
            "programme": "Cool",
            "programme_start": start.isoformat(),
            **changes,
        }

    def ggz(reference: str, **changes: Any) -> dict[str, Any]:
        return {
            "provider_reference": reference,
            "agb": GGZ_PRACTICE,
            "bsn": "123456782",
            "sector": "GGZ",
            "prestation_code": "CO0172",
            "service_date": month_ago.isoformat(),
            "quantity": 2,
            "claimed_cents": 6000,
            "diagnosis_code": "F41",
            **changes,
        }

    return [
        gli("DEMO-1"),  # restitution at the maximum tariff: approved
        gli("DEMO-2", bsn="100000009", claimed_cents=25000),  # TARIFF_CAPPED: partially approved
        gli("DEMO-3", prestation_code="GLI-INTAKE", claimed_cents=8193, bsn="100000010"),
        gli(
            "DEMO-4",
            prestation_code="GLI-INTAKE",
            claimed_cents=8193,
            bsn="100000010",
            service_date=(month_ago + dt.timedelta(days=1)).isoformat(),
        ),  # PRESTATION_LIMIT_EXCEEDED
        gli("DEMO-5", bsn="111222333"),  # DUPLICATE of DEMO-1
        gli("DEMO-6", agb=UNKNOWN),  # PROVIDER_UNKNOWN
        gli("DEMO-7", programme="Eigen beweegprogramma", bsn="100000022"),  # PROGRAMME_NOT_RECOGNISED
        gli(
            "DEMO-8",
            programme_start=old_start.isoformat(),
            bsn="100000034",
            prestation_code="GLI-MAINTENANCE-Q",
            claimed_cents=9829,
        ),  # PROGRAMME_DURATION_EXCEEDED
        gli("DEMO-9", prestation_code="GLI-MAINTENANCE-Q", claimed_cents=9829, bsn="100000046"),  # wrong phase
        gli("DEMO-10", agb=COACH_NO_KVK, bsn="100000058"),  # PROVIDER_NOT_ELIGIBLE (no contract either)
        ggz("DEMO-11"),  # NON_CONTRACTED_RATE, 75%
        ggz("DEMO-12", prestation_code="DBC-BASIS-KORT", claimed_cents=48000, quantity=1),  # DBC after 2021
        ggz("DEMO-13", referral=True, bsn="100000071", privacy_statement=True),  # AUTHORISATION_REQUIRED
        ggz(
            "DEMO-14",
            service_date="2021-03-01",
            opening_date="2021-03-01",
            prestation_code="DBC-BASIS-KORT",
            claimed_cents=48000,
            quantity=1,
            bsn="100000083",
        ),  # SUBMISSION_DEADLINE_PASSED
        # The contracting demo's procurements are for 2023: these two meet them on the demo date
        # of `make run` (2023-06-01); on a real date years later they are simply paid.
        gli("DEMO-15", agb=IN_REVIEW, bsn="100000095"),  # AWAITING_CONTRACT: pending until the contract
        gli(
            "DEMO-16",
            agb=NO_MAINTENANCE,
            bsn="100000101",
            prestation_code="GLI-MAINTENANCE-Q",
            claimed_cents=9829,
            programme_start=add_months(month_ago, -13).isoformat(),
        ),  # PRESTATION_NOT_CONTRACTED
    ]


async def _read_models_caught_up(client: httpx.AsyncClient, timeout: float = 60.0) -> None:
    """Wait until the read models have taken in what the other demos just sent (consumer lag 0 twice)."""
    deadline = asyncio.get_running_loop().time() + timeout
    quiet = 0
    while quiet < 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.5)
        lags = [
            float(line.rsplit(" ", 1)[1])
            for line in (await client.get("/metrics")).text.splitlines()
            if line.startswith("zorg_consumer_lag{") and 'claims.read-models"' in line and "zorg.providers" in line
        ]
        quiet = quiet + 1 if lags and sum(lags) == 0 else 0
    if quiet < 2:
        log.warning("demo: the read models had not caught up after %.0f s; claims may meet unknown providers", timeout)


async def load_demo(client: httpx.AsyncClient, token: Callable[..., str]) -> None:
    headers = {"Authorization": f"Bearer {token('claims:write', 'claims:read')}"}
    await _read_models_caught_up(client)
    lines = demo_lines(clock.today())
    # Refused at the door: a BSN that fails the elfproef and a service date in the future.
    lines += [
        {**lines[0], "provider_reference": "DEMO-BAD-1", "bsn": "123456789"},
        {
            **lines[0],
            "provider_reference": "DEMO-BAD-2",
            "service_date": (clock.today() + dt.timedelta(days=3)).isoformat(),
        },
    ]
    response = await client.post("/claims/batch", json={"lines": lines}, headers=headers)
    response.raise_for_status()
    body = response.json()
    log.info("demo: %d claim lines taken, %d refused at the door", len(body["accepted"]), len(body["refused"]))
