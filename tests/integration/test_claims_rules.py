"""Claims pay exactly what the rules say (issue 11), through the API on PostgreSQL and the broker."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Kafka
from tests.integration.claims_world import (
    GGZ_INSTITUTION,
    GROUP,
    TODAY,
    World,
    claims_world,
    gli_line,
)
from tests.unit.claims.builders import eligible
from zorg_common.events import ContractSigned, ProcurementStarted
from zorg_common.policy import policies, policy_dirs

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(
    make_pg_url: Any, kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    monkeypatch.setenv("ZORG_TODAY", TODAY)
    async with claims_world(make_pg_url, kafka, topic_prefix) as world:
        yield world


async def test_every_spelling_of_a_recognised_programme_is_paid_and_counted_as_one(world: World) -> None:
    first = await world.submit(**gli_line("S-1", programme="de BeweegKuur"))
    assert (await world.decided(first))["status"] == "approved"
    second = await world.submit(**gli_line("S-2", programme="Beweegkuur", service_date="2023-02-02"))
    assert (await world.decided(second))["reasons"] == ["PRESTATION_LIMIT_EXCEEDED"]  # one programme, one intake
    other = await world.submit(**gli_line("S-3", programme="Eigen beweegprogramma", bsn="123456782"))
    assert (await world.decided(other))["reasons"] == ["PROGRAMME_NOT_RECOGNISED"]


async def test_a_programme_start_moved_by_a_day_at_another_provider_does_not_reset_the_counts(world: World) -> None:
    treatment = {"prestation_code": "GLI-TREATMENT-Q", "claimed_cents": 4 * 19380, "quantity": 4}
    first = await world.submit(**gli_line("M-1", **treatment, service_date="2023-03-01"))
    assert (await world.decided(first))["status"] == "approved"  # four quarters: the whole treatment phase
    moved = gli_line(
        "M-2",
        agb=GROUP,
        prestation_code="GLI-TREATMENT-Q",
        claimed_cents=19380,
        programme_start="2023-01-16",
        service_date="2023-04-01",
    )
    decided = await world.decided(await world.submit(**moved))
    assert decided["reasons"] == ["PRESTATION_LIMIT_EXCEEDED"]
    [decision] = await world.history(decided["id"])
    assert decision["inputs"]["programme_run"] == {
        "programme": "Cool",
        "start": "2023-01-15",
        "counted": {"GLI-TREATMENT-Q": 4},
    }


async def test_a_care_group_without_contract_gets_the_non_contracted_rate(world: World) -> None:
    decided = await world.decided(await world.submit(**gli_line("G-1", agb=GROUP)))
    assert (decided["status"], decided["reasons"], decided["allowed_cents"]) == (
        "partially_approved",
        ["NON_CONTRACTED_RATE"],
        8193 * 75 // 100,
    )
    assert decided["reason_codes"] == [{"code": "NON_CONTRACTED_RATE", "vektis_code": "0611"}]
    [decision] = await world.history(decided["id"])
    assert decision["inputs"]["evaluation_id"] == f"e-{GROUP}-True" and decision["inputs"]["policy_id"] == "GLI-2023"
    assert decision["claimed_cents"] == 8193 and decision["decided_by"] == "rules"
    await world.events(eligible(GROUP, verdict=False))  # a new verdict: claims from now on see it
    later = await world.decided(await world.submit(**gli_line("G-2", agb=GROUP, bsn="123456782")))
    assert later["reasons"] == ["PROVIDER_NOT_ELIGIBLE"]


# --- authorisations ------------------------------------------------------------------------------


def sggz(reference: str, **changes: Any) -> dict[str, Any]:
    return {
        "provider_reference": reference,
        "agb": GGZ_INSTITUTION,
        "bsn": "111222333",
        "sector": "GGZ",
        "prestation_code": "DBC-SGGZ-TRAJECT",
        "opening_date": "2021-03-01",
        "service_date": "2021-09-01",
        "quantity": 1,
        "claimed_cents": 250000,
        "referral": True,
        **changes,
    }


async def authorise(world: World, **changes: Any) -> Any:
    body = {
        "bsn": "111222333",
        "agb": GGZ_INSTITUTION,
        "care_type": "sggz",
        "requested_on": "2021-02-01",
        "granted_on": "2021-02-15",
        "valid_until": "2021-12-31",
        **changes,
    }
    return await world.client.post("/authorisations", json=body, headers=world.headers)


async def test_authorisations_as_rule_9_says(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2021-10-01")
    basic = await world.submit(**sggz("A-0", prestation_code="DBC-BASIS-KORT", claimed_cents=48000))
    assert (await world.decided(basic))["reasons"] == ["NON_CONTRACTED_RATE"]  # basic GGZ on a referral: none needed
    none_yet = await world.submit(**sggz("A-1"))
    assert (await world.decided(none_yet))["reasons"] == ["AUTHORISATION_REQUIRED"]
    assert (await authorise(world, care_type="DBC-BASIS-MIDDEL")).status_code == 201  # another prestation
    on_opening = await authorise(world, requested_on="2021-03-01", granted_on="2021-03-05")  # asked too late
    assert on_opening.status_code == 201
    assert (await authorise(world, status="refused")).status_code == 201
    refused_all = await world.submit(**sggz("A-2", service_date="2021-09-02"))
    assert (await world.decided(refused_all))["reasons"] == ["AUTHORISATION_REQUIRED"]
    good = await authorise(world)
    assert good.status_code == 201
    number = good.json()["number"]
    named_wrong = await world.submit(**sggz("A-3", service_date="2021-09-03", authorisation_number="M-NOPE"))
    assert (await world.decided(named_wrong))["reasons"] == ["AUTHORISATION_REQUIRED"]
    paid = await world.decided(
        await world.submit(**sggz("A-4", service_date="2021-09-04", authorisation_number=number))
    )
    assert (paid["status"], paid["allowed_cents"]) == ("partially_approved", 187500)
    [decision] = await world.history(paid["id"])
    assert decision["inputs"]["authorisation_number"] == number


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"granted_on": "2023-06-02", "valid_until": "2023-12-31"}, "granted_on"),  # the day after today
        ({"requested_on": "2021-02-16"}, "requested_on"),
        ({"care_type": "acupunctuur"}, "care_type"),
        ({"status": "maybe"}, "status"),
        ({"bsn": "123456789"}, "bsn"),
    ],
)
async def test_an_authorisation_that_cannot_be_is_refused(world: World, changes: dict[str, Any], field: str) -> None:
    response = await authorise(world, **changes)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


# --- the contract year of a DBC is its opening year ----------------------------------------------


@pytest.fixture
def ggz_2020(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A GGZ policy for 2020 beside the bundled ones (ZORG_POLICY_DIRS), as next year's would be added."""
    text = (policy_dirs()[0] / "GGZ-2021.yaml").read_text(encoding="utf-8")
    (tmp_path / "GGZ-2020.yaml").write_text(
        text.replace("id: GGZ-2021", "id: GGZ-2020").replace("contract_year: 2021", "contract_year: 2020"),
        encoding="utf-8",
    )
    monkeypatch.setenv("ZORG_POLICY_DIRS", str(tmp_path))
    policies.cache_clear()
    yield
    policies.cache_clear()


def ggz_contract(contract_id: str, year: int, cents: int) -> ContractSigned:
    return ContractSigned(
        agb=GGZ_INSTITUTION,
        contract_id=contract_id,
        policy_id=f"GGZ-{year}",
        sector="GGZ",
        route="digital",
        start_date=dt.date(year, 1, 1),
        end_date=dt.date(year, 12, 31),
        contract_years=[year],
        tariffs=[{"prestation_code": "DBC-BASIS-KORT", "amount_cents": cents}],
        signed_on=dt.date(year - 1, 10, 1),
    )


async def test_a_dbc_opened_in_2020_and_closed_in_2021_is_judged_in_contract_year_2020(
    ggz_2020: None, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZORG_TODAY", "2021-06-01")
    dbc = {**sggz("D-1", prestation_code="DBC-BASIS-KORT", claimed_cents=50000), "opening_date": "2020-10-01"}
    dbc["service_date"] = "2021-02-01"
    await world.events(
        ProcurementStarted(
            agb=GGZ_INSTITUTION,
            procurement_id="p-2020",
            policy_id="GGZ-2020",
            sector="GGZ",
            contract_year=2020,
            route="digital",
            started_on=dt.date(2019, 9, 1),
            cause="invitation",
        ),
        ggz_contract("k-2021", 2021, 47000),
    )
    held = await world.decided(await world.submit(**dbc))
    assert (held["reasons"], held["hold"]) == (["AWAITING_CONTRACT"], "contract")  # 2020's procurement, not 2021's
    await world.events(ggz_contract("k-2020", 2020, 45000))
    released = await world.decided(held["id"], "partially_approved")
    assert released["allowed_cents"] == 45000  # the 2020 contract's tariff, not 2021's
    decision = (await world.history(held["id"]))[-1]
    assert {k: decision["inputs"][k] for k in ("policy_id", "contract_year", "contract_id")} == {
        "policy_id": "GGZ-2020",
        "contract_year": 2020,
        "contract_id": "k-2020",
    }
