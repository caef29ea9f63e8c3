"""Verdicts that change with time: the eligibility worker evaluates again on the day, and claims see it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Kafka, eventually
from tests.integration.claims_world import gli_line, settings_for
from tests.support import running_app
from tests.unit.eligibility.test_criteria import GLI_ALL_PASS
from zorg_claims.adapters.orm import eligibility
from zorg_claims.service import SPEC as CLAIMS
from zorg_claims.settings import ClaimsSettings
from zorg_common import clock
from zorg_common.auth import issue_token
from zorg_common.migrations import upgrade
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.service_layer.register import reevaluate_due
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration

COACH = "12345678"


def coach(misconduct_on: str | None) -> dict[str, Any]:
    return {
        "kvk": "69599084",
        "name": "Leefstijlcoach De Vries",
        "kind": "individual",
        "sectors": ["GLI"],
        "facts": {**GLI_ALL_PASS, "serious_misconduct_on": misconduct_on},
    }


async def test_an_error_leaving_the_five_year_window_makes_the_provider_eligible_on_that_day(
    make_pg_url: Any, kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2023-03-01")
    eligibility_url, claims_url = make_pg_url(), make_pg_url()
    upgrade(ELIGIBILITY.migrations, eligibility_url)
    upgrade(CLAIMS.migrations, claims_url)
    e_settings = settings_for(EligibilitySettings, eligibility_url, kafka, topic_prefix, REEVALUATION_INTERVAL_S=0.3)
    c_settings = settings_for(ClaimsSettings, claims_url, kafka, topic_prefix)
    staff = {"Authorization": f"Bearer {issue_token(e_settings, ['providers:write', 'providers:read'])}"}
    claims_staff = {"Authorization": f"Bearer {issue_token(c_settings, ['claims:read', 'claims:write'])}"}
    async with running_app(ELIGIBILITY, e_settings) as register, running_app(CLAIMS, c_settings) as claims:
        future = await register.put(f"/providers/{COACH}", json=coach("2023-03-02"), headers=staff)
        assert future.status_code == 422 and future.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in future.json()["errors"]] == ["facts.serious_misconduct_on"]

        created = await register.put(f"/providers/{COACH}", json=coach("2018-03-10"), headers=staff)
        assert created.status_code == 201, created.text
        [first] = created.json()["evaluations"]
        assert (first["eligible"], first["changes_on"]) == (False, "2023-03-10")

        async def claims_see(verdict: bool) -> bool:
            async with claims.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
                seen = await conn.scalar(select(eligibility.c.eligible).where(eligibility.c.agb == COACH))
            return seen is verdict

        async def decided(line: dict[str, Any]) -> dict[str, Any]:
            response = await claims.post("/claims", json=line, headers=claims_staff)
            assert response.status_code == 202, response.text

            async def done() -> dict[str, Any] | None:
                body: dict[str, Any] = (
                    await claims.get(f"/claims/{response.json()['id']}", headers=claims_staff)
                ).json()
                return body if body["status"] != "received" else None

            result: dict[str, Any] = await eventually(done, timeout=30)
            return result

        await eventually(lambda: claims_see(False), timeout=60)
        line = gli_line("T-1", agb=COACH, service_date="2023-02-20")
        assert (await decided(line))["reasons"] == ["PROVIDER_NOT_ELIGIBLE"]

        monkeypatch.setenv("ZORG_TODAY", "2023-03-09")  # the day before: nothing changes
        runtime = register.app.state.runtime  # type: ignore[attr-defined]
        assert await reevaluate_due(runtime.uow, clock.today()) == 0

        monkeypatch.setenv("ZORG_TODAY", "2023-03-10")  # the worker notices on its own; two more try too
        await asyncio.gather(reevaluate_due(runtime.uow, clock.today()), reevaluate_due(runtime.uow, clock.today()))

        async def evaluated_again() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = (await register.get(f"/providers/{COACH}/evaluations", headers=staff)).json()[
                "items"
            ]
            return items if items[0]["trigger"] == "time" else None

        history = await eventually(evaluated_again, timeout=30)
        assert [(e["trigger"], e["eligible"]) for e in history] == [("time", True), ("registration", False)]
        assert history[0]["evaluated_on"] == "2023-03-10" and history[0]["changes_on"] is None
        await eventually(lambda: claims_see(True), timeout=60)
        later = gli_line("T-2", agb=COACH, bsn="123456782", service_date="2023-03-09")
        assert (await decided(later))["status"] == "approved"
        assert await reevaluate_due(runtime.uow, clock.today()) == 0  # nothing is due any more
        items = (await register.get(f"/providers/{COACH}/evaluations", headers=staff)).json()["items"]
        assert [e["trigger"] for e in items] == ["time", "registration"]
