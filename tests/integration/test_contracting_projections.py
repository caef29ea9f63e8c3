"""Offer projections (issue 15) over the real eligibility, contracting and claims services: each round is priced
from the claims service's volumes of last year and stored with it; the what-if prices other tariffs and
leaves the negotiation as it was; while claims is away a round waits and the worker prices it later; a
prognosis above the agreed round's projection is flagged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import Kafka
from tests.integration import test_contracting_harness as harness
from tests.integration.claims_world import claims_serving
from tests.integration.test_contracting_harness import Contracting, contracting_calling_claims
from zorg_common.claims_api import ClaimsClient
from zorg_common.messaging import outbox
from zorg_contracting.adapters.orm import negotiation_rounds, round_projections
from zorg_contracting.entrypoints.projection_filler import fill_projections

pytestmark = pytest.mark.integration
eligibility = harness.eligibility  # the fixture
LARGE = "40000032"  # GGZ Instelling Randstad (eligibility demo): a large institution, offer route
TODAY = "2020-09-15"  # offers made in September 2020 are priced on 2019
# 2019 of the institution, per prestation (year, agb, sector, code, lines, quantity, claimed, paid lines,
# paid quantity, allowed): the small table of tests/unit/contracting/test_projection.py.
TOTALS = [
    (2019, LARGE, "GGZ", "CO0042", 100, 100, 130_000, 90, 90, 81_000),
    (2019, LARGE, "GGZ", "CO0107", 40, 40, 50_000, 40, 40, 33_000),
    (2019, LARGE, "GGZ", "CO0172", 10, 10, 30_000, 0, 0, 0),
    (2018, LARGE, "GGZ", "CO0042", 1, 1, 1, 1, 1, 1),  # another year: not asked
]
OFFER: dict[str, Any] = {
    "party": "insurer",
    "tariffs": [
        {"prestation_code": "CO0042", "amount_cents": 1100},
        {"prestation_code": "CO0107", "amount_cents": 1000},
        {"prestation_code": "DBC-BASIS-KORT", "amount_cents": 45000},
    ],
    "ceiling_cents": 250_000,
}


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", TODAY)


@pytest.fixture
async def with_claims(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, eligibility: httpx.AsyncClient
) -> AsyncIterator[Contracting]:
    async with (
        claims_serving(make_pg_url(), TOTALS) as claims_url,
        contracting_calling_claims(make_pg_url, kafka, topic_prefix, eligibility, claims_url) as c,
    ):
        yield c


async def negotiation_with_offer(c: Contracting, offer: dict[str, Any] = OFFER) -> str:
    opened = await c.client.post("/negotiations", json={"agb": LARGE, "policy_id": "GGZ-2021"}, headers=c.staff)
    assert opened.status_code == 201, opened.text
    negotiation = str(opened.json()["id"])
    made = await c.client.post(f"/negotiations/{negotiation}/offers", json=offer, headers=c.staff)
    assert made.status_code == 201, made.text
    return negotiation


EXPECTED = {
    "status": "computed",
    "volume_year": 2019,
    "projected_cents": 150_000,
    "ceiling_cents": 250_000,
    "ceiling_headroom_cents": 100_000,
    "above_ceiling": False,
    "last_year_claimed_cents": 210_000,
    "last_year_allowed_cents": 114_000,
    "change_vs_last_year_pct": 31.6,
    "unpriced_quantity": 10,
}


async def test_every_round_is_stored_with_its_projection_priced_by_hand(with_claims: Contracting) -> None:
    c = with_claims
    negotiation = await negotiation_with_offer(c)
    counter = {**OFFER, "party": "provider", "ceiling_cents": 140_000}  # a ceiling below the projection
    portal = c.auth("portal", agb=LARGE)
    assert (await c.client.post(f"/negotiations/{negotiation}/offers", json=counter, headers=portal)).status_code == 201
    body = (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()
    first, second = (r["projection"] for r in body["rounds"])
    assert {k: first[k] for k in EXPECTED} == EXPECTED
    assert first["computed_at"] is not None
    assert [
        (line["prestation_code"], line["tariff_cents"], line["quantity"], line["projected_cents"])
        for line in first["lines"]
    ] == [
        ("CO0042", 1100, 100, 110_000),
        ("CO0107", 1000, 40, 40_000),
        ("DBC-BASIS-KORT", 45000, 0, 0),
        ("CO0172", None, 10, 0),
    ]
    assert (second["ceiling_headroom_cents"], second["above_ceiling"]) == (-10_000, True)
    # The insurer's own analysis: the provider sees its rounds, not what they are projected to cost.
    seen = (await c.client.get(f"/negotiations/{negotiation}", headers=portal)).json()
    assert [r["projection"] for r in seen["rounds"]] == [None, None]


async def test_the_what_if_prices_other_tariffs_and_leaves_the_negotiation_as_it_was(with_claims: Contracting) -> None:
    c = with_claims
    negotiation = await negotiation_with_offer(c)
    runtime = c.client.app.state.runtime  # type: ignore[attr-defined]

    async def state() -> tuple[Any, int, int, int]:
        body = (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()
        async with runtime.engine.connect() as conn:
            counts = [
                await conn.scalar(select(func.count()).select_from(table))
                for table in (negotiation_rounds, round_projections, outbox)
            ]
        return body, *counts  # type: ignore[return-value]

    before = await state()
    what_if = {"tariffs": [{"prestation_code": "CO0042", "amount_cents": 1200}], "ceiling_cents": 100_000}
    priced = await c.client.post(
        f"/negotiations/{negotiation}/projection", json=what_if, headers=c.auth("contracts:read")
    )
    assert priced.status_code == 200, priced.text
    body = priced.json()
    assert (body["projected_cents"], body["last_year_allowed_cents"], body["above_ceiling"]) == (120_000, 114_000, True)
    assert [line["prestation_code"] for line in body["lines"]] == ["CO0042", "CO0107", "CO0172"]  # unpriced after
    assert await state() == before  # no round, no projection, no event, no change
    # Bad questions are refused, and a provider may not ask.
    bad = {"tariffs": [{"prestation_code": "CO9999", "amount_cents": 1}]}
    refused = await c.client.post(f"/negotiations/{negotiation}/projection", json=bad, headers=c.staff)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "tariffs[0].prestation_code"
    too_high = {"tariffs": [{"prestation_code": "CO0042", "amount_cents": 999_999}]}
    assert (
        await c.client.post(f"/negotiations/{negotiation}/projection", json=too_high, headers=c.staff)
    ).status_code == 422
    empty = await c.client.post(f"/negotiations/{negotiation}/projection", json={"tariffs": []}, headers=c.staff)
    assert empty.status_code == 422
    portal = c.auth("portal", agb=LARGE)
    assert (
        await c.client.post(f"/negotiations/{negotiation}/projection", json=what_if, headers=portal)
    ).status_code == 403
    assert (await c.client.post("/negotiations/nope/projection", json=what_if, headers=c.staff)).status_code == 404


async def test_a_prognosis_above_the_agreed_projection_flags_the_contract(with_claims: Contracting) -> None:
    c = with_claims
    negotiation = await negotiation_with_offer(c, {**OFFER, "ceiling_cents": 10_000_000})
    counter = {**OFFER, "party": "provider", "ceiling_cents": 10_000_000}
    portal = c.auth("portal", agb=LARGE)
    assert (await c.client.post(f"/negotiations/{negotiation}/offers", json=counter, headers=portal)).status_code == 201
    accepted = await c.client.post(f"/negotiations/{negotiation}/accept", json={"party": "insurer"}, headers=c.staff)
    contract_id = accepted.json()["contract_id"]
    signed = await c.client.post(f"/contracts/{contract_id}/sign", json={"signatory": "R. Jansen"}, headers=c.staff)
    assert signed.status_code == 200, signed.text
    within = await c.client.post(
        f"/contracts/{contract_id}/prognoses", json={"period": "2021-Q1", "amount_cents": 165_000}, headers=c.staff
    )
    assert (within.json()["exceeds_projection"], within.json()["contract"]["renegotiation"]) == (False, False)
    above = await c.client.post(
        f"/contracts/{contract_id}/prognoses", json={"period": "2021-Q2", "amount_cents": 165_001}, headers=c.staff
    )
    body = above.json()
    assert (body["exceeds_ceiling"], body["exceeds_projection"], body["contract"]["renegotiation"]) == (
        False,
        True,
        True,
    )
    assert [p["exceeds_projection"] for p in body["prognoses"]] == [False, True]


async def test_without_claims_the_round_waits_and_is_priced_once_claims_answers(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, eligibility: httpx.AsyncClient
) -> None:
    from zorg_common.broker import free_port

    away = f"http://127.0.0.1:{free_port()}"
    async with contracting_calling_claims(make_pg_url, kafka, topic_prefix, eligibility, away) as c:
        negotiation = await negotiation_with_offer(c)  # the offer is taken all the same
        waiting = (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()["rounds"][0][
            "projection"
        ]
        assert waiting == {
            **{k: None for k in EXPECTED},
            "status": "unavailable",
            "volume_year": 2019,
            "computed_at": None,
            "lines": [],
        }
        what_if = {"tariffs": [{"prestation_code": "CO0042", "amount_cents": 1200}]}
        unavailable = await c.client.post(f"/negotiations/{negotiation}/projection", json=what_if, headers=c.staff)
        assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "5"
        recompute = await c.client.post(f"/negotiations/{negotiation}/projections/recompute", headers=c.staff)
        assert recompute.status_code == 503
        # Claims comes back (here: at another address); the worker's next pass prices the round.
        runtime = c.client.app.state.runtime  # type: ignore[attr-defined]
        async with claims_serving(make_pg_url(), TOTALS) as claims_url:
            await runtime.state.pop("claims").close()
            runtime.state["claims"] = ClaimsClient.of(runtime.settings, claims_url, 5.0)
            assert await fill_projections(runtime) == 1
            priced = (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()["rounds"][0]
            assert {k: priced["projection"][k] for k in EXPECTED} == EXPECTED
            assert await fill_projections(runtime) == 0  # nothing waits any more
            # Staff may price every round again (late claims of 2019 would count now).
            again = await c.client.post(f"/negotiations/{negotiation}/projections/recompute", headers=c.staff)
            assert again.status_code == 200 and again.json()["rounds"][0]["projection"]["projected_cents"] == 150_000
            assert (
                await c.client.post(
                    f"/negotiations/{negotiation}/projections/recompute", headers=c.auth("portal", agb=LARGE)
                )
            ).status_code == 403
