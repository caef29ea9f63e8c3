"""Offer negotiations, signing around the deadline, prognoses, termination and closing, over HTTP and the broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.integration import test_contracting_harness as harness
from tests.integration.test_contracting_harness import Contracting
from zorg_common.messaging import outbox
from zorg_contracting.adapters.orm import procurements

pytestmark = pytest.mark.integration
contracting, eligibility = harness.contracting, harness.eligibility  # the fixtures
LARGE = "40000032"  # GGZ Instelling Randstad (eligibility demo): a large institution, offer route
OFFER: dict[str, Any] = {
    "party": "insurer",
    "tariffs": [
        {"prestation_code": "CO0042", "amount_cents": 1100},
        {"prestation_code": "DBC-BASIS-KORT", "amount_cents": 45000},
    ],
    "ceiling_cents": 1_000_000,
    "kpis": [{"code": "WACHTTIJD", "description": "Wachttijd binnen de Treeknorm", "incentive_pct": 1.5}],
}


async def _open(c: Contracting) -> str:
    opened = await c.client.post("/negotiations", json={"agb": LARGE, "policy_id": "GGZ-2021"}, headers=c.staff)
    assert opened.status_code == 201, opened.text
    assert opened.json()["state"] == "open" and opened.json()["deadline"] == "2020-11-01"
    return str(opened.json()["id"])


async def _agreed_contract(c: Contracting) -> tuple[str, str]:
    negotiation = await _open(c)
    portal = c.auth("portal", agb=LARGE)
    assert (await c.client.post(f"/negotiations/{negotiation}/offers", json=OFFER, headers=c.staff)).status_code == 201
    counter = {**OFFER, "party": "provider", "ceiling_cents": 1_200_000}
    assert (await c.client.post(f"/negotiations/{negotiation}/offers", json=counter, headers=portal)).status_code == 201
    accepted = await c.client.post(f"/negotiations/{negotiation}/accept", json={"party": "insurer"}, headers=c.staff)
    assert accepted.status_code == 200, accepted.text
    return negotiation, str(accepted.json()["contract_id"])


async def test_rounds_counter_offer_accept_and_sign_on_the_deadline(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-10-01")
    negotiation, contract_id = await _agreed_contract(c)
    body = (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()
    assert body["state"] == "agreed" and body["contract_id"] == contract_id
    assert [(r["n"], r["party"], r["ceiling_cents"]) for r in body["rounds"]] == [
        (1, "insurer", 1_000_000),
        (2, "provider", 1_200_000),
    ]
    assert [r["offered_by"] for r in body["rounds"]] == ["tester", f"portal-{LARGE}"]
    assert all(r["offered_at"] for r in body["rounds"])
    draft = (await c.client.get(f"/contracts/{contract_id}", headers=c.staff)).json()
    assert draft["status"] == "draft" and draft["route"] == "offer" and draft["ceiling_cents"] == 1_200_000
    assert draft["kpis"][0]["incentive_pct"] == 1.5 and (draft["start_date"], draft["end_date"]) == (
        "2021-01-01",
        "2021-12-31",
    )
    monkeypatch.setenv("ZORG_TODAY", "2020-11-01")  # the deadline itself: still in time
    signed = await c.client.post(f"/contracts/{contract_id}/sign", json={"signatory": "R. Jansen"}, headers=c.staff)
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed" and signed.json()["signed_on"] == "2020-11-01"
    assert (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()["state"] == "signed"
    again = await c.client.post(f"/contracts/{contract_id}/sign", json={"signatory": "R. Jansen"}, headers=c.staff)
    assert again.status_code == 409
    events = await c.events(2)
    assert [e["type"] for e in events] == ["ProcurementStarted", "ContractSigned"]
    assert events[0]["data"]["cause"] == "negotiation" and events[0]["data"]["route"] == "offer"
    assert events[1]["data"]["ceiling_cents"] == 1_200_000 and events[1]["data"]["kpis"][0]["code"] == "WACHTTIJD"


async def test_signing_the_day_after_the_deadline_is_refused_unless_extended(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    await c.earlier_agreement(LARGE, 2020)  # not a new institution: it contracts by the deadline
    monkeypatch.setenv("ZORG_TODAY", "2020-10-20")
    negotiation, contract_id = await _agreed_contract(c)
    monkeypatch.setenv("ZORG_TODAY", "2020-11-02")
    late = await c.client.post(f"/contracts/{contract_id}/sign", json={"signatory": "R. Jansen"}, headers=c.staff)
    assert late.status_code == 409 and "deadline" in late.json()["detail"]
    short = await c.client.post(
        f"/negotiations/{negotiation}/deadline-extension", json={"until": "2020-11-01"}, headers=c.staff
    )
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "until"
    extended = await c.client.post(
        f"/negotiations/{negotiation}/deadline-extension", json={"until": "2020-11-15"}, headers=c.staff
    )
    assert extended.status_code == 200 and extended.json()["deadline_extended_until"] == "2020-11-15"
    portal = c.auth("portal", agb=LARGE)
    assert (
        await c.client.post(
            f"/negotiations/{negotiation}/deadline-extension", json={"until": "2020-12-01"}, headers=portal
        )
    ).status_code == 403
    signed = await c.client.post(f"/contracts/{contract_id}/sign", json={"signatory": "R. Jansen"}, headers=portal)
    assert signed.status_code == 200, signed.text


async def test_a_new_institution_may_sign_after_the_deadline(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-10-20")
    _, contract_id = await _agreed_contract(c)  # 40000032 has no earlier agreement with us
    monkeypatch.setenv("ZORG_TODAY", "2021-03-01")
    signed = await c.client.post(f"/contracts/{contract_id}/sign", json={"signatory": "R. Jansen"}, headers=c.staff)
    assert signed.status_code == 200, signed.text


async def test_refused_transitions(contracting: Contracting, monkeypatch: pytest.MonkeyPatch) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-10-01")
    negotiation = await _open(c)
    url = f"/negotiations/{negotiation}"
    portal = c.auth("portal", agb=LARGE)
    nothing = await c.client.post(f"{url}/accept", json={"party": "provider"}, headers=portal)
    assert nothing.status_code == 409 and "no offer" in nothing.json()["detail"]
    await c.client.post(f"{url}/offers", json=OFFER, headers=c.staff)
    own = await c.client.post(f"{url}/accept", json={"party": "insurer"}, headers=c.staff)
    assert own.status_code == 409 and "your own" in own.json()["detail"]
    for_the_provider = await c.client.post(f"{url}/accept", json={"party": "provider"}, headers=c.staff)
    assert for_the_provider.status_code == 403  # a staff token cannot accept (sign) for the provider
    as_insurer = await c.client.post(f"{url}/offers", json=OFFER, headers=portal)
    assert as_insurer.status_code == 403
    other = c.auth("portal", agb="40000031")
    assert (await c.client.get(url, headers=other)).status_code == 404
    assert (await c.client.post(f"{url}/accept", json={"party": "provider"}, headers=other)).status_code == 404
    assert (await c.client.post(f"{url}/accept", json={"party": "provider"}, headers=portal)).status_code == 200
    after = await c.client.post(f"{url}/offers", json={**OFFER, "party": "provider"}, headers=portal)
    assert after.status_code == 409 and "agreed" in after.json()["detail"]
    twice = await c.client.post("/negotiations", json={"agb": LARGE, "policy_id": "GGZ-2021"}, headers=c.staff)
    assert twice.status_code == 409


async def test_bad_offers_name_every_field(contracting: Contracting) -> None:
    c = contracting
    negotiation = await _open(c)
    bad = {
        "party": "insurer",
        "tariffs": [
            {"prestation_code": "CO0042", "amount_cents": 99999},
            {"prestation_code": "NOPE", "amount_cents": 1},
        ],
        "kpis": [{"code": "K", "description": "k", "incentive_pct": 120}],
    }
    answer = await c.client.post(f"/negotiations/{negotiation}/offers", json=bad, headers=c.staff)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["kpis[0].incentive_pct"]
    bad["kpis"] = []
    answer = await c.client.post(f"/negotiations/{negotiation}/offers", json=bad, headers=c.staff)
    assert [e["field"] for e in answer.json()["errors"]] == ["tariffs[0].amount_cents", "tariffs[1].prestation_code"]
    gli = await c.client.post("/negotiations", json={"agb": LARGE, "policy_id": "GLI-2023"}, headers=c.staff)
    assert gli.status_code == 422 and gli.json()["errors"][0]["field"] == "policy_id"
    unknown = await c.client.post("/negotiations", json={"agb": "123", "policy_id": "XXX-1"}, headers=c.staff)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "agb"


async def test_prognoses_flag_renegotiation_and_terminate_makes_a_version(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-10-01")
    _, contract_id = await _agreed_contract(c)  # ceiling 1.200.000 cents
    early = await c.client.post(
        f"/contracts/{contract_id}/prognoses", json={"period": "2021-Q1", "amount_cents": 1}, headers=c.staff
    )
    assert early.status_code == 409  # a draft has no prognoses
    await c.client.post(f"/contracts/{contract_id}/sign", json={"signatory": "R. Jansen"}, headers=c.staff)
    portal = c.auth("portal", agb=LARGE)
    within = await c.client.post(
        f"/contracts/{contract_id}/prognoses", json={"period": "2021-Q1", "amount_cents": 1_320_000}, headers=portal
    )
    assert (
        within.status_code == 201
        and not within.json()["exceeds_ceiling"]
        and not within.json()["contract"]["renegotiation"]
    )
    over = await c.client.post(
        f"/contracts/{contract_id}/prognoses", json={"period": "2021-Q2", "amount_cents": 1_320_001}, headers=portal
    )
    assert over.json()["exceeds_ceiling"] and over.json()["contract"]["renegotiation"]
    bad = await c.client.post(
        f"/contracts/{contract_id}/prognoses", json={"period": "Q3", "amount_cents": 0}, headers=portal
    )
    assert sorted(e["field"] for e in bad.json()["errors"]) == ["amount_cents", "period"]
    outside = await c.client.post(
        f"/contracts/{contract_id}/terminate", json={"reason": "x", "effective_on": "2023-01-01"}, headers=c.staff
    )
    assert outside.status_code == 422 and outside.json()["errors"][0]["field"] == "effective_on"
    assert (
        await c.client.post(
            f"/contracts/{contract_id}/terminate", json={"reason": "x", "effective_on": "2021-07-01"}, headers=portal
        )
    ).status_code == 403
    ended = await c.client.post(
        f"/contracts/{contract_id}/terminate", json={"reason": "fusie", "effective_on": "2021-07-01"}, headers=c.staff
    )
    assert ended.status_code == 200 and ended.json()["status"] == "terminated" and ended.json()["version"] == 2
    versions = (await c.client.get(f"/contracts/{contract_id}/versions", headers=c.staff)).json()
    assert [(v["version"], v["change"]) for v in versions] == [(1, "signed"), (2, "terminated")]
    again = await c.client.post(
        f"/contracts/{contract_id}/terminate", json={"reason": "x", "effective_on": "2021-07-01"}, headers=c.staff
    )
    assert again.status_code == 409
    events = await c.events(3)
    assert [e["type"] for e in events] == ["ProcurementStarted", "ContractSigned", "ContractTerminated"]
    assert events[2]["data"] == {
        "agb": LARGE,
        "contract_id": contract_id,
        "sector": "GGZ",
        "reason": "fusie",
        "effective_on": "2021-07-01",
        "version": 2,
    }


async def test_closing_a_procurement_without_a_contract(contracting: Contracting) -> None:
    c = contracting
    negotiation = await _open(c)
    closed = await c.client.post(
        "/procurements/close",
        json={"agb": LARGE, "policy_id": "GGZ-2021", "reason": "geen overeenstemming"},
        headers=c.staff,
    )
    assert closed.status_code == 200 and len(closed.json()["closed"]) == 1
    assert (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()["state"] == "closed"
    offer = await c.client.post(f"/negotiations/{negotiation}/offers", json=OFFER, headers=c.staff)
    assert offer.status_code == 409
    again = await c.client.post("/procurements/close", json={"agb": LARGE, "policy_id": "GGZ-2021"}, headers=c.staff)
    assert again.status_code == 409
    events = await c.events(2)
    assert [e["type"] for e in events] == ["ProcurementStarted", "ProcurementClosed"]
    assert events[1]["data"]["reason"] == "geen overeenstemming"
    assert events[1]["data"]["procurement_id"] == events[0]["data"]["procurement_id"]


async def test_an_agreed_contract_cannot_be_signed_once_the_procurement_is_closed(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-10-01")
    negotiation, contract_id = await _agreed_contract(c)
    closed = await c.client.post("/procurements/close", json={"agb": LARGE, "policy_id": "GGZ-2021"}, headers=c.staff)
    assert closed.status_code == 200
    signed = await c.client.post(f"/contracts/{contract_id}/sign", json={"signatory": "R. Jansen"}, headers=c.staff)
    assert signed.status_code == 409 and "closed" in signed.json()["detail"]
    assert (await c.client.get(f"/negotiations/{negotiation}", headers=c.staff)).json()["state"] == "closed"
    drafts = (await c.client.get("/contracts?status=draft&sector=GGZ&year=2021&route=offer", headers=c.staff)).json()
    assert [d["id"] for d in drafts["items"]] == [contract_id]
    assert (await c.client.get("/contracts?year=2022", headers=c.staff)).json()["total"] == 0
    bad = await c.client.get("/contracts?status=lost&year=1", headers=c.staff)
    assert bad.status_code == 422 and sorted(e["field"] for e in bad.json()["errors"]) == ["status", "year"]


async def test_two_negotiations_opened_at_once_for_one_provider_and_policy_give_one(contracting: Contracting) -> None:
    """Issue 10: both requests pass the check before either inserts; PostgreSQL's partial unique index decides."""
    c = contracting
    body = {"agb": LARGE, "policy_id": "GGZ-2021"}
    answers = await asyncio.gather(*(c.client.post("/negotiations", json=body, headers=c.staff) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert (
        refused.headers["content-type"] == "application/problem+json" and "already running" in refused.json()["detail"]
    )
    assert (await c.client.get("/negotiations", headers=c.staff)).json()["total"] == 1
    # The refused one rolled back before it answered: no procurement, no event left in the outbox.
    async with c.client.app.state.runtime.uow() as uow:  # type: ignore[attr-defined]
        assert await uow.session.scalar(select(func.count()).select_from(procurements)) == 1
        assert await uow.session.scalar(select(func.count()).select_from(outbox)) == 1
    assert [e["type"] for e in await c.events(1)] == ["ProcurementStarted"]


async def test_only_a_provider_eligible_with_the_offer_route_is_negotiated_with(contracting: Contracting) -> None:
    c = contracting
    small = await c.client.post("/negotiations", json={"agb": "40000031", "policy_id": "GGZ-2021"}, headers=c.staff)
    assert small.status_code == 409 and "digital route" in small.json()["detail"]
    failing = await c.client.post("/negotiations", json={"agb": "40000034", "policy_id": "GGZ-2021"}, headers=c.staff)
    assert failing.status_code == 409 and "not eligible" in failing.json()["detail"]
    size_unknown = await c.client.post(
        "/negotiations", json={"agb": "40000033", "policy_id": "GGZ-2021"}, headers=c.staff
    )
    assert size_unknown.status_code == 409
    unknown = await c.client.post("/negotiations", json={"agb": "49999999", "policy_id": "GGZ-2021"}, headers=c.staff)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert (await c.client.get("/negotiations", headers=c.staff)).json()["total"] == 0


async def test_staff_record_the_providers_offer_and_someone_else_accepts_it(contracting: Contracting) -> None:
    c = contracting
    negotiation = await _open(c)
    url = f"/negotiations/{negotiation}"
    assert (await c.client.post(f"{url}/offers", json=OFFER, headers=c.auth("contracts:write", subject="a"))).is_success
    sent_in = {**OFFER, "party": "provider", "ceiling_cents": 1_100_000}
    recorded = await c.client.post(f"{url}/offers", json=sent_in, headers=c.auth("contracts:write", subject="b"))
    assert recorded.status_code == 201 and recorded.json()["rounds"][1]["offered_by"] == "b"  # kept as recorded by b
    by_b = await c.client.post(
        f"{url}/accept", json={"party": "insurer"}, headers=c.auth("contracts:write", subject="b")
    )
    assert by_b.status_code == 409 and "yourself" in by_b.json()["detail"]
    by_a = await c.client.post(
        f"{url}/accept", json={"party": "insurer"}, headers=c.auth("contracts:write", subject="a")
    )
    assert by_a.status_code == 200 and by_a.json()["state"] == "agreed"


async def test_the_kpi_incentives_of_one_offer_add_up_to_at_most_two_percent(contracting: Contracting) -> None:
    c = contracting
    negotiation = await _open(c)
    kpis = [
        {"code": "WACHTTIJD", "description": "Treeknorm", "incentive_pct": 1.5},
        {"code": "ROM", "description": "ROM-deelname", "incentive_pct": 0.75},
    ]
    over = await c.client.post(f"/negotiations/{negotiation}/offers", json={**OFFER, "kpis": kpis}, headers=c.staff)
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "kpis"
    kpis[1]["incentive_pct"] = 0.5
    exact = await c.client.post(f"/negotiations/{negotiation}/offers", json={**OFFER, "kpis": kpis}, headers=c.staff)
    assert exact.status_code == 201
