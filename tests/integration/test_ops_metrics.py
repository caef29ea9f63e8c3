"""The metrics the dashboards and alerts read beyond the shared ones: claim decisions, the procurement calendar."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert

from tests.conftest import eventually
from zorg_claims.adapters.repository import SqlClaimsUnit
from zorg_claims.domain.claim import ClaimLine
from zorg_claims.service import SPEC as CLAIMS
from zorg_claims.service_layer.adjudicate import Review, adjudicate_claims
from zorg_claims.service_layer.intake import submit
from zorg_claims.settings import ClaimsSettings
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime
from zorg_contracting.adapters.orm import procurements
from zorg_contracting.entrypoints.procurement_metrics import procurement_gauges
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.settings import ContractingSettings

pytestmark = pytest.mark.integration


def decided(outcome: str) -> float:
    return REGISTRY.get_sample_value("zorg_claims_decided_total", {"outcome": outcome}) or 0.0


async def test_every_decision_of_a_batch_is_counted_by_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-06-01")
    url = f"sqlite:///{tmp_path}/claims.db"
    upgrade(CLAIMS.migrations, url)
    runtime = Runtime(CLAIMS, ClaimsSettings(_env_file=None, DATABASE_URL=url))
    outcomes = ("approved", "partially_approved", "rejected", "pending")
    before = {outcome: decided(outcome) for outcome in outcomes}
    base = {"agb": "12345678", "sector": "GLI", "prestation_code": "GLI-INTAKE", "quantity": 1, "claimed_cents": 8193}
    lines = [
        ClaimLine.model_validate({**base, "provider_reference": f"M-{n}", "bsn": "111222333", "service_date": day})
        for n, day in enumerate(("2023-02-01", "2023-02-02", "2023-02-03"))
    ]
    try:
        async with runtime.uow() as uow:
            taken = await submit(SqlClaimsUnit(uow), lines, dt.date(2023, 6, 1))
            await uow.commit()
        async with runtime.uow() as uow:
            made = await adjudicate_claims(SqlClaimsUnit(uow), taken.ids, Review(3.0, 50))
            await uow.commit()
    finally:
        await runtime.close()
    assert len(made) == 3
    counted = {outcome: decided(outcome) - before[outcome] for outcome in outcomes}
    assert counted == {outcome: float(Counter[str](d.status for d in made)[outcome]) for outcome in outcomes}


async def test_the_procurement_gauges_count_open_procurements_and_the_days_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2022-10-25")  # GLI-2023's contracting deadline is 1 November 2022
    url = f"sqlite:///{tmp_path}/contracting.db"
    upgrade(CONTRACTING.migrations, url)
    runtime = Runtime(CONTRACTING, ContractingSettings(_env_file=None, DATABASE_URL=url))

    def procurement(agb: str, status: str) -> dict[str, object]:
        return {
            "id": str(uuid.uuid4()),
            "agb": agb,
            "policy_id": "GLI-2023",
            "sector": "GLI",
            "contract_year": 2023,
            "route": "offer",
            "cause": "test",
            "status": status,
            "started_on": dt.date(2022, 9, 1),
        }

    async with runtime.sessions() as session:
        rows = [procurement("11111111", "in_progress"), procurement("22222222", "in_progress")]
        await session.execute(insert(procurements), [*rows, procurement("33333333", "closed")])
        await session.commit()
    stop = asyncio.Event()
    loop = asyncio.create_task(procurement_gauges(runtime, stop))

    def gauge(name: str, policy_id: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"policy_id": policy_id})

    try:

        async def refreshed() -> bool:  # the first refresh runs at once
            return gauge("zorg_procurements_open", "GLI-2023") == 2.0

        await eventually(refreshed, timeout=10)
        assert gauge("zorg_procurement_deadline_days", "GLI-2023") == 7.0
        assert gauge("zorg_procurements_open", "GGZ-2021") == 0.0
        assert gauge("zorg_procurement_deadline_days", "GGZ-2021") == -723.0  # 1 November 2020 has passed
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
        await runtime.close()
