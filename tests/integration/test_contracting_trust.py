"""Who may send a follow format, what a reply may say, and a person's review that re-checks eligibility."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import test_contracting_harness as harness
from tests.integration.test_contracting_harness import MAIL, Contracting
from zorg_eligibility.entrypoints.demo import demo_providers

pytestmark = pytest.mark.integration
contracting, eligibility = harness.contracting, harness.eligibility  # the fixtures
CONFIDENTIAL = ("NOT_IN_FRAUD_REGISTERS", "NO_QUALITY_CONCERNS", "fraude", "IVR/EVR")


async def _review(c: Contracting, intake_id: str, decision: str, note: str | None = None) -> dict[str, Any]:
    response = await c.client.post(
        f"/follow-formats/{intake_id}/review", json={"decision": decision, "note": note}, headers=c.staff
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_spoofed_sender_for_a_real_provider_signs_nothing_opens_nothing_and_gets_no_reply(
    contracting: Contracting,
) -> None:
    c = contracting
    spoofed = await c.intake((await c.post_mail((MAIL / "spoofed_sender.eml").read_bytes()))["intake_id"])
    assert spoofed["format"]["fields"]["Naam"] == "Zorggroep Leefstijl Noord"  # name and KvK as in the register
    assert spoofed["format"]["fields"]["KvK-nummer"] == "70000001"
    assert spoofed["status"] == "needs_review" and spoofed["reply"] is None and spoofed["sender_verified"] is False
    assert spoofed["procurement_id"] is None and spoofed["contract_id"] is None
    assert spoofed["evaluation"] is None  # a stranger's e-mail makes the insurer evaluate nobody
    assert "contracten@zorggroep-noord.example is not a contact address on file" in spoofed["review_reasons"][0]
    genuine = await c.post_mail((MAIL / "good_xlsx.eml").read_bytes())  # the provider itself, from an address on file
    assert genuine["status"] == "accepted"
    events = await c.events(2)
    assert [e["type"] for e in events] == ["ProcurementStarted", "ContractSigned"]  # nothing from the spoofed one
    queue = (await c.client.get("/follow-formats?status=needs_review", headers=c.staff)).json()
    assert [i["id"] for i in queue["items"]] == [spoofed["id"]]


async def test_a_person_accepts_an_unverified_format_and_the_reply_goes_to_the_address_on_file(
    contracting: Contracting,
) -> None:
    c = contracting
    spoofed = await c.post_mail((MAIL / "spoofed_sender.eml").read_bytes())
    accepted = await _review(c, spoofed["intake_id"], "accept", "gebeld met de zorggroep: klopt")
    assert accepted["status"] == "accepted" and accepted["contract_id"]
    assert accepted["reply"]["to"] == "contracten@zorggroep.example"  # never the address the e-mail came from
    assert accepted["evaluation"]["eligible"] is True  # evaluated on the day of the review
    events = await c.events(2)
    assert [e["type"] for e in events] == ["ProcurementStarted", "ContractSigned"]


async def test_a_rejected_unverified_format_is_not_answered(contracting: Contracting) -> None:
    c = contracting
    spoofed = await c.post_mail((MAIL / "spoofed_sender.eml").read_bytes())
    rejected = await _review(c, spoofed["intake_id"], "reject", "niet van de zorggroep")
    assert rejected["status"] == "rejected" and rejected["reply"] is None  # the provider never sent it


async def test_an_unknown_agb_code_gets_no_reply_and_a_review_accept_rejects_it(contracting: Contracting) -> None:
    c = contracting
    unknown = await c.intake((await c.post_mail((MAIL / "unknown_provider.eml").read_bytes()))["intake_id"])
    assert unknown["status"] == "needs_review" and unknown["reply"] is None
    assert unknown["review_reasons"] == ["the AGB code is not in the provider register"]
    decided = await _review(c, unknown["id"], "accept")
    assert decided["status"] == "rejected" and decided["reply"] is None and decided["contract_id"] is None
    assert decided["problems"][0]["field"] == "AGB-code"


async def test_a_reply_never_names_a_confidential_criterion_but_staff_see_the_evaluation(
    contracting: Contracting,
) -> None:
    c = contracting
    posted = await c.post_mail((MAIL / "not_eligible.eml").read_bytes())
    staff_view = await c.intake(posted["intake_id"])
    assert staff_view["status"] == "rejected"
    reply = staff_view["reply"]
    assert reply["to"] == "contracten@beweeg6.example"
    assert "voldoet niet aan de voorwaarden" in reply["body"] and "088 123 45 00" in reply["body"]  # whom to call
    for word in CONFIDENTIAL:
        assert word not in reply["body"] and word not in str(staff_view["problems"]), word
    assert [f["code"] for f in staff_view["evaluation"]["failed"]] == ["NOT_IN_FRAUD_REGISTERS"]
    portal = c.auth("contracts:read", "portal", agb="40000015")
    own_view = (await c.client.get(f"/follow-formats/{posted['intake_id']}", headers=portal)).json()
    # (the demo provider's own name mentions the criterion: the problems and the reply do not)
    assert own_view["evaluation"] is None and "NOT_IN_FRAUD_REGISTERS" not in str(own_view["problems"])
    listed = (await c.client.get("/follow-formats", headers=portal)).json()["items"]
    assert [i["evaluation"] for i in listed] == [None]


async def test_a_review_accept_checks_eligibility_again_and_rejects_a_provider_no_longer_eligible(
    contracting: Contracting,
) -> None:
    c = contracting
    review = await c.post_mail((MAIL / "name_mismatch.eml").read_bytes())
    assert review["status"] == "needs_review"
    agb, provider = next((a, p) for a, p in demo_providers() if a == "40000001")
    flagged = {**provider, "facts": {**provider["facts"], "fraud_investigation": True}}
    staff = {"Authorization": c.auth("providers:write")["Authorization"]}
    assert (await c.eligibility.put(f"/providers/{agb}", json=flagged, headers=staff)).status_code == 200
    decided = await _review(c, review["intake_id"], "accept")
    assert decided["status"] == "rejected" and decided["contract_id"] is None  # rejected, not queued again
    assert decided["reply"]["to"] == "contracten@zorggroep.example"
    for word in CONFIDENTIAL:
        assert word not in decided["reply"]["body"], word
    assert decided["evaluation"]["failed"][0]["code"] == "NOT_IN_FRAUD_REGISTERS"
    events = await c.events(2)
    assert [e["type"] for e in events] == ["ProcurementStarted", "ProcurementClosed"]  # no claims held on
