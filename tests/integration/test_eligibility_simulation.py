"""Policy impact simulation on PostgreSQL (issue 15): the demo register against the demo's draft GLI-2024 (a
criterion tightened, a threshold changed, a route moved), with last year's amounts from a real claims
service over HTTP; stored, read back as JSON and CSV; answered without the amounts when claims is away;
and every abuse of the door answered 4xx."""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.claims_world import claims_serving
from tests.support import running_app
from zorg_common.auth import issue_token
from zorg_common.broker import free_port
from zorg_common.migrations import upgrade
from zorg_eligibility.entrypoints.demo import demo_draft
from zorg_eligibility.service import SPEC
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration

TODAY = "2023-06-01"
COACH, DE_LINDE, MISCONDUCT, NO_CO2_ROADMAP = "40000003", "40000002", "40000020", "40000023"
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", TODAY)


def settings_for(url: str, claims_url: str, **extra: Any) -> EligibilitySettings:
    return EligibilitySettings(
        _env_file=None, DATABASE_URL=url, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", CLAIMS_URL=claims_url, **extra
    )


def auth(settings: EligibilitySettings, *scopes: str, agb: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, scopes, agb=agb, subject='beleidsmedewerker')}"}


def claims_service(url: str) -> contextlib.AbstractAsyncContextManager[str]:
    """The claims service over HTTP, its totals for 2023: the coach claimed and was paid, De Linde too."""
    return claims_serving(
        url,
        [
            (2023, COACH, "GLI", "GLI-INTAKE", 3, 3, 24579, 3, 3, 24579),
            (2023, COACH, "GLI", "GLI-TREATMENT-Q", 5, 5, 102000, 4, 4, 77520),
            (2023, DE_LINDE, "GLI", "GLI-MAINTENANCE-Q", 1, 1, 9829, 0, 0, 0),
        ],
    )


@contextlib.asynccontextmanager
async def eligibility(settings: EligibilitySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The eligibility service with the demo register loaded."""
    upgrade(SPEC.migrations, settings.database_url)
    async with running_app(SPEC, settings, workers=False) as client:
        assert SPEC.demo is not None
        await SPEC.demo(client, lambda *scopes, agb=None: issue_token(settings, scopes, agb=agb))
        yield client


async def test_the_demo_draft_over_the_demo_register_names_the_expected_movers(make_pg_url: Any) -> None:
    async with claims_service(make_pg_url()) as claims_url:
        settings = settings_for(make_pg_url(), claims_url)
        async with eligibility(settings) as client:
            staff = auth(settings, "providers:write", "providers:read")
            began = time.monotonic()
            response = await client.post("/policies/simulations", content=demo_draft(), headers={**staff, **YAML})
            assert response.status_code == 201, response.text
            assert time.monotonic() - began < 10
            made = response.json()
            assert (made["policy_id"], made["current_policy_id"], made["on"], made["claims_year"]) == (
                "GLI-2024",
                "GLI-2023",
                "2024-01-01",  # the draft's first day, by default
                2023,
            )
            assert response.headers["location"] == f"/policies/simulations/{made['id']}"
            movers = {p["agb"]: p for p in made["providers"] if p["change"] != "unchanged"}
            # 1. CO2_ROADMAP tightened (an expectation, now a requirement): the coach and Beweeg 14 fail it.
            # 2. The serious-error window went from five years to two: Beweeg 11 (an error two years ago) passes.
            # 3. Institutions go the offer route: De Linde changes route.
            assert {agb: p["change"] for agb, p in movers.items()} == {
                COACH: "newly_ineligible",
                NO_CO2_ROADMAP: "newly_ineligible",
                MISCONDUCT: "newly_eligible",
                DE_LINDE: "route_changed",
            }
            assert movers[COACH]["newly_failing"] == ["CO2_ROADMAP"] and movers[COACH]["draft"]["failing"] == [
                "CO2_ROADMAP"
            ]
            assert movers[MISCONDUCT]["current"]["failing"] == ["NO_SERIOUS_MISCONDUCT_5Y"]
            assert (movers[DE_LINDE]["current"]["route"], movers[DE_LINDE]["draft"]["route"]) == ("follow", "offer")
            # Last year's amounts of those who would newly fail, from the claims service's totals.
            assert movers[COACH]["last_year"] == {"claimed_cents": 24579 + 102000, "allowed_cents": 24579 + 77520}
            assert movers[NO_CO2_ROADMAP]["last_year"] == {"claimed_cents": 0, "allowed_cents": 0}
            assert movers[DE_LINDE]["last_year"] is None  # not newly failing: not asked
            summary = made["summary"]
            assert (summary["newly_ineligible"], summary["newly_eligible"], summary["route_changed"]) == (2, 1, 1)
            assert summary["newly_ineligible_last_year"] == {"claimed_cents": 126579, "allowed_cents": 102099}
            assert made["claims_available"] is True
            assert summary["eligible"]["draft"] == summary["eligible"]["current"] - 1
            criteria = {c["code"]: c for c in made["criteria"]}
            assert criteria["CO2_ROADMAP"]["blocking"] == {"current": False, "draft": True}
            assert criteria["NO_SERIOUS_MISCONDUCT_5Y"]["draft"] is None  # not a criterion of the draft
            assert criteria["NO_SERIOUS_MISCONDUCT_2Y"]["draft"]["fail"] == 0
            assert criteria["NO_SERIOUS_MISCONDUCT_5Y"]["current"]["fail"] == 1
            routes = {r["route"]: r for r in made["routes"]}
            assert (routes["offer"]["current"], routes["offer"]["draft"]) == (0, 1)
            assert sum(r["current"] for r in made["routes"]) == summary["providers"]

            # Read later: the same as JSON, movers only, and as CSV.
            again = (await client.get(f"/policies/simulations/{made['id']}", headers=staff)).json()
            assert again == made
            only = (await client.get(f"/policies/simulations/{made['id']}?changed=true", headers=staff)).json()
            assert {p["agb"] for p in only["providers"]} == set(movers)
            as_csv = await client.get(f"/policies/simulations/{made['id']}", headers={**staff, "Accept": "text/csv"})
            assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig")), delimiter=";"))
            assert len(rows) == summary["providers"]
            coach = next(r for r in rows if r["agb"] == COACH)
            assert (coach["change"], coach["newly_failing"], coach["last_year_claimed_cents"]) == (
                "newly_ineligible",
                "CO2_ROADMAP",
                "126579",
            )
            listed = (await client.get("/policies/simulations", headers=staff)).json()
            assert listed["total"] == 1 and "providers" not in listed["items"][0]
            # The draft never became a policy.
            assert (await client.get("/policies/GLI-2024", headers=staff)).status_code == 404


async def test_without_the_claims_service_the_simulation_answers_without_the_amounts(make_pg_url: Any) -> None:
    settings = settings_for(make_pg_url(), f"http://127.0.0.1:{free_port()}", CLAIMS_TIMEOUT_S=1.0)
    async with eligibility(settings) as client:
        staff = auth(settings, "providers:write")
        response = await client.post("/policies/simulations", content=demo_draft(), headers={**staff, **YAML})
        assert response.status_code == 201, response.text
        made = response.json()
        assert made["claims_available"] is False and made["summary"]["newly_ineligible_last_year"] is None
        assert made["summary"]["newly_ineligible"] == 2
        assert all(p["last_year"] is None for p in made["providers"])


def _bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        ("id: GLI-2024\nsector: GLI\n", YAML, 422, "contract_year"),  # every missing field is named
        ("criteria: [1, 2", YAML, 422, "body"),  # not YAML
        ('{"id": "GLI-2024"', {"Content-Type": "application/json"}, 422, "body"),  # not JSON
        ("- a list", YAML, 422, "body"),
        (_bomb(), YAML, 422, "body"),  # aliases that unfold into a hundred million values
        ("[" * 50_000, YAML, 422, "body"),  # nested past any reader's depth
        (b"\xff\xfe naam: \xe9", YAML, 422, "body"),  # not UTF-8
        ("id: GLI-2024", {"Content-Type": "text/html"}, 415, None),
        ("id: GLI-2024", {}, 415, None),
        ("x" * 300_000, YAML, 413, None),  # past SIMULATION_MAX_BYTES
    ],
)
async def test_a_draft_that_is_no_policy_is_refused_naming_what_is_wrong(
    make_pg_url: Any, body: str | bytes, headers: dict[str, str], status: int, field: str | None
) -> None:
    settings = settings_for(make_pg_url(), "http://127.0.0.1:1")
    upgrade(SPEC.migrations, settings.database_url)
    async with running_app(SPEC, settings, workers=False) as client:
        response = await client.post(
            "/policies/simulations", content=body, headers={**auth(settings, "providers:write"), **headers}
        )
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        if field is not None:
            assert field in [e["field"] for e in response.json()["errors"]], response.json()


async def test_who_may_simulate_what_is_compared_and_how_many_are_kept(make_pg_url: Any) -> None:
    settings = settings_for(make_pg_url(), "http://127.0.0.1:1", SIMULATIONS_KEPT=2, CLAIMS_TIMEOUT_S=0.5)
    upgrade(SPEC.migrations, settings.database_url)
    draft = demo_draft().decode()
    async with running_app(SPEC, settings, workers=False) as client:
        url = "/policies/simulations"
        assert (await client.post(url, content=draft, headers=YAML)).status_code == 401
        for scopes in (("providers:read",), ("portal",)):
            forbidden = auth(settings, *scopes, agb="40000003")
            assert (await client.post(url, content=draft, headers={**forbidden, **YAML})).status_code == 403
        portal = auth(settings, "portal", agb="40000003")
        assert (await client.get(url, headers=portal)).status_code == 403
        staff = auth(settings, "providers:write", "providers:read")
        # No GGZ policy for 2020 or before: nothing to compare a GGZ-2020 draft with.
        early = (
            draft.replace("id: GLI-2024", "id: GGZ-2020")
            .replace("sector: GLI", "sector: GGZ")
            .replace("contract_year: 2024", "contract_year: 2020")
        )
        refused = await client.post(url, content=early, headers={**staff, **YAML})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "contract_year"
        for day in ("2024-02-30", "0001-01-01", "9999-12-31"):
            bad_date = await client.post(url + f"?on={day}", content=draft, headers={**staff, **YAML})
            assert bad_date.status_code == 422 and bad_date.json()["errors"][0]["field"] == "on", day
        made = [
            (await client.post(url + f"?on=2024-0{n}-01", content=draft, headers={**staff, **YAML})).json()["id"]
            for n in (1, 2, 3)
        ]
        listed = (await client.get(url, headers=staff)).json()
        assert [s["id"] for s in listed["items"]] == made[:0:-1]  # the newest two, newest first
        assert (await client.get(f"{url}/{made[0]}", headers=staff)).status_code == 404
        assert (await client.get(f"{url}/{'x' * 37}", headers=staff)).status_code == 422
        assert (await client.get(f"{url}/{made[2]}?format=xml", headers=staff)).status_code == 422
