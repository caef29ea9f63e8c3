"""Demo data for `make run`: claim lines that reach the outcomes and reasons, with dates relative to today;
an authorisation; and a provider far above its usual volume whose claims a person reviews."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import httpx

from zorg_common import clock, db

from ..adapters.orm import claim_volume
from ..domain.calendar import add_months

log = logging.getLogger(__name__)

# Providers of the eligibility demo (services/eligibility/.../demo.py).
CARE_GROUP, COACH, COACH_NO_KVK = "40000001", "40000003", "40000010"
# Of the contracting demo: De Linde's contract leaves out the maintenance phase; Beweeggroep Zuid's
# follow format waits for review, so its procurement is in progress.
NO_MAINTENANCE, IN_REVIEW = "40000002", "40000023"
GGZ_PRACTICE, UNKNOWN = "40000030", "49999999"
# GGZ institutions: a small one whose volume this month is far above its usual (held for review), and
# one of unknown size that asks authorisations for specialised care.
GGZ_BUSY, GGZ_INSTITUTION = "40000031", "40000033"
#: The busy institution's usual volume: lines a month in the three months before the demo date.
USUAL_LINES = 2
INSURED = ("111222333", "123456782", "100000009", "100000010", "100000022")


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
        ggz("DEMO-13", referral=True, bsn="100000071", privacy_statement=True),  # basic care: no authorisation needed
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


def busy_lines(today: dt.date) -> list[dict[str, Any]]:
    """Fifty consults of the busy institution this month, each claimed above the maximum tariff: the rules
    pay 75% of the maximum (no contract), and hold them for review (the volume is far above usual)."""
    return [
        {
            "provider_reference": f"DEMO-R-{n + 1}",
            "agb": GGZ_BUSY,
            "bsn": INSURED[n % len(INSURED)],
            "sector": "GGZ",
            "prestation_code": "CO0107",
            "service_date": (today - dt.timedelta(days=1 + n // len(INSURED))).isoformat(),
            "quantity": 2,
            "claimed_cents": 2500,  # the maximum is 2 x 11.00; 75% of that is paid
        }
        for n in range(50)
    ]


def specialised_line(number: str) -> dict[str, Any]:
    """Specialised GGZ on a referral at an institution, with its authorisation. DBC trajectories ended with
    2021 and their claims were due by 30 April 2023: on a demo date before that the authorisation pays
    the line; on 1 June 2023 the line is past its submission deadline, which the rules decide first."""
    return {
        "provider_reference": "DEMO-A-1",
        "agb": GGZ_INSTITUTION,
        "bsn": "100000095",
        "sector": "GGZ",
        "prestation_code": "DBC-SGGZ-TRAJECT",
        "opening_date": "2021-09-01",
        "service_date": "2021-12-01",
        "quantity": 1,
        "claimed_cents": 250000,
        "referral": True,
        "authorisation_number": number,
    }


async def _usual_volume(agb: str, today: dt.date) -> None:
    """The demo world's history: ``agb`` claimed ``USUAL_LINES`` lines a month in the three months before
    today, which the API cannot take in on one business date. Written to the claims database (the one
    `zorg up` gave the service); set, not added, so a second run finds the same history."""
    from ..settings import ClaimsSettings

    engine = db.create_engine(ClaimsSettings().database_url, pool_size=1)
    try:
        async with db.session_factory(engine)() as session, session.begin():
            month = today.replace(day=1)
            rows = [{"agb": agb, "month": add_months(month, -n), "lines": USUAL_LINES} for n in (1, 2, 3)]
            await db.upsert(session, claim_volume, rows, ["agb", "month"])
    finally:
        await engine.dispose()


async def _authorisations(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A granted authorisation for specialised care, asked for before the trajectory opened, and a refused one."""
    number = ""
    for status in ("granted", "refused"):
        body = {
            "bsn": "100000095",
            "agb": GGZ_INSTITUTION,
            "care_type": "sggz",
            "requested_on": "2021-08-02",
            "granted_on": "2021-08-16",
            "valid_until": "2022-08-15",
            "status": status,
        }
        response = await client.post("/authorisations", json=body, headers=headers)
        response.raise_for_status()
        number = number or response.json()["number"]
    return number


async def _review(client: httpx.AsyncClient, headers: dict[str, str], timeout: float = 60.0) -> None:
    """A person approves one held claim (paid the rules' amount, not the amount claimed) and rejects another."""
    deadline = asyncio.get_running_loop().time() + timeout
    params: dict[str, str | int] = {"agb": GGZ_BUSY, "page_size": 200}
    while asyncio.get_running_loop().time() < deadline:
        listed = (await client.get("/claims", params=params, headers=headers)).json()["items"]
        if listed and all(c["status"] != "received" for c in listed):
            break
        await asyncio.sleep(0.5)
    held = {c["provider_reference"]: c for c in listed if c["hold"] == "review"}
    for reference, verdict, note in (
        ("DEMO-R-1", "approve", "Bekend patroon: nieuwe praktijkhouder, meer cliënten."),
        ("DEMO-R-2", "reject", "Consulten niet aantoonbaar geleverd."),
    ):
        if reference in held:  # on a second run they are decided already
            body = {"decision": verdict, "note": note}
            response = await client.post(f"/claims/{held[reference]['id']}/review", json=body, headers=headers)
            response.raise_for_status()


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
    today = clock.today()
    await _usual_volume(GGZ_BUSY, today)
    lines = demo_lines(today) + busy_lines(today) + [specialised_line(await _authorisations(client, headers))]
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
    await _review(client, headers)
