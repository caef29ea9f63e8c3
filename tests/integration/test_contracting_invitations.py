"""Digital contracting: invitations to every provider eligible for the digital route, accepted through the portal."""

from __future__ import annotations

import pytest

from tests.integration import test_contracting_harness as harness
from tests.integration.test_contracting_harness import Contracting

pytestmark = pytest.mark.integration
contracting, eligibility = harness.contracting, harness.eligibility  # the fixtures
PRACTITIONER, SMALL, LARGE = "40000030", "40000031", "40000032"


async def test_invite_the_eligible_digital_providers_and_accept_through_the_portal(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-09-01")
    run = await c.client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=c.staff)
    assert run.status_code == 200, run.text
    # GGZ demo providers: the practitioner and the small institution take the digital route; the large one
    # negotiates, the one of unknown size waits, the two failing a criterion are not eligible.
    assert run.json()["count"] == 2 and run.json()["evaluated"] >= 6
    again = await c.client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=c.staff)
    assert again.json()["count"] == 0 and again.json()["already_invited"] == 2
    listed = (await c.client.get("/invitations?policy_id=GGZ-2021", headers=c.staff)).json()
    assert sorted((i["agb"], i["contract_years"]) for i in listed["items"]) == [(PRACTITIONER, 2), (SMALL, 1)]
    portal = c.auth("portal", agb=PRACTITIONER)
    mine = (await c.client.get("/invitations", headers=portal)).json()
    assert [i["agb"] for i in mine["items"]] == [PRACTITIONER]
    theirs = next(i for i in listed["items"] if i["agb"] == SMALL)
    assert (await c.client.post(f"/invitations/{theirs['id']}/accept", json={}, headers=portal)).status_code == 404
    accepted = await c.client.post(
        f"/invitations/{mine['items'][0]['id']}/accept", json={"signatory": "Drs. Van Dijk"}, headers=portal
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    contract = (await c.client.get(f"/contracts/{accepted.json()['contract_id']}", headers=portal)).json()
    assert (
        contract["route"] == "digital" and contract["status"] == "signed" and contract["contract_years"] == [2021, 2022]
    )
    assert {t["prestation_code"]: t["amount_cents"] for t in contract["tariffs"]}[
        "CO0042"
    ] == 1200  # the maximum tariff
    twice = await c.client.post(f"/invitations/{mine['items'][0]['id']}/accept", json={}, headers=portal)
    assert twice.status_code == 409
    assert (await c.client.get("/contracts", headers=portal)).json()["total"] == 1
    assert (await c.client.get("/contracts", headers=c.auth("portal", agb=SMALL))).json()["total"] == 0
    events = await c.events(3)
    started = [e for e in events if e["type"] == "ProcurementStarted"]
    assert sorted(e["subject"] for e in started) == [PRACTITIONER, SMALL]
    assert all(e["data"]["cause"] == "invitation" and e["data"]["route"] == "digital" for e in started)
    signed = next(e for e in events if e["type"] == "ContractSigned")
    assert signed["subject"] == PRACTITIONER and signed["data"]["contract_years"] == [2021, 2022]


async def test_a_practitioner_cannot_accept_after_the_deadline_an_institution_can(
    contracting: Contracting, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = contracting
    monkeypatch.setenv("ZORG_TODAY", "2020-09-01")
    await c.client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=c.staff)
    listed = {i["agb"]: i for i in (await c.client.get("/invitations", headers=c.staff)).json()["items"]}
    monkeypatch.setenv("ZORG_TODAY", "2020-11-02")
    late = await c.client.post(
        f"/invitations/{listed[PRACTITIONER]['id']}/accept", json={}, headers=c.auth("portal", agb=PRACTITIONER)
    )
    assert late.status_code == 409 and "deadline" in late.json()["detail"]
    institution = await c.client.post(
        f"/invitations/{listed[SMALL]['id']}/accept", json={}, headers=c.auth("portal", agb=SMALL)
    )
    assert institution.status_code == 200  # new institutions may ask for a contract all year


async def test_a_policy_without_digital_route_and_an_unknown_policy(contracting: Contracting) -> None:
    c = contracting
    gli = await c.client.post("/invitations", json={"policy_id": "GLI-2023"}, headers=c.staff)
    assert gli.status_code == 422 and gli.json()["errors"][0]["field"] == "policy_id"
    unknown = await c.client.post("/invitations", json={"policy_id": "GGZ-1999"}, headers=c.staff)
    assert unknown.status_code == 422
    assert (
        await c.client.post("/invitations", json={"policy_id": "GGZ-2021"}, headers=c.auth("portal", agb=SMALL))
    ).status_code == 403
