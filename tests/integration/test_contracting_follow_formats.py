"""Follow-format e-mails end to end: each sample e-mail's outcome, replies, the resend, events, review, SMTP."""

from __future__ import annotations

import asyncio
import smtplib
from typing import Any

import pytest

from tests.conftest import eventually
from tests.fixtures.mail.make_fixtures import EXPECTED
from tests.integration import test_contracting_harness as harness
from tests.integration.test_contracting_harness import MAIL, Contracting

pytestmark = pytest.mark.integration
contracting, eligibility = harness.contracting, harness.eligibility  # the fixtures


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_sample_mail(contracting: Contracting, name: str) -> None:
    """Each sample e-mail on a fresh service: its outcome, the problems named, the reply, the contract."""
    status, fields, reply_to = EXPECTED[name]
    posted = await contracting.post_mail((MAIL / name).read_bytes())
    got = await contracting.intake(posted["intake_id"])
    assert got["status"] == status, (got["problems"], got["review_reasons"])
    problem_fields = [p["field"] for p in got["problems"]]
    for field in fields:
        assert field in problem_fields, (field, problem_fields)
    assert (got["reply"] or {}).get("to") == reply_to, got["reply"]  # only ever an address on file
    if got["reply"] and status == "rejected":
        assert "Afgewezen" in got["reply"]["subject"]
        for problem in got["problems"]:
            assert problem["message"] in got["reply"]["body"]  # every problem, in the reply
    contracts = (await contracting.client.get("/contracts", headers=contracting.staff)).json()["items"]
    if status == "accepted":
        [contract] = contracts
        assert contract["id"] == got["contract_id"] and got["contract_id"] in got["reply"]["body"]
        assert contract["route"] == "follow" and contract["status"] == "signed" and contract["agb"] == "40000001"
        assert contract["tariffs"] == [
            {"prestation_code": "GLI-INTAKE", "amount_cents": 8193},
            {"prestation_code": "GLI-TREATMENT-Q", "amount_cents": 19380},
            {"prestation_code": "GLI-MAINTENANCE-Q", "amount_cents": 9829},
        ]
        assert (contract["start_date"], contract["end_date"]) == ("2023-01-01", "2023-12-31")
        assert got["sender_verified"] is True
    else:
        assert contracts == [] and got["contract_id"] is None
    if status == "needs_review" and reply_to is None:
        assert got["procurement_id"] is None  # nothing opened for a sender that is not verified
    assert got["message_id_derived"] == (name in ("no_message_id.eml", "not_an_email.eml"))
    if got["message_id_derived"] and got["reply"]:
        assert "geen Message-ID" in got["reply"]["body"]
    raw = await contracting.client.get(f"/follow-formats/{got['id']}/raw", headers=contracting.staff)
    assert raw.content == (MAIL / name).read_bytes()  # kept for audit, byte for byte


async def test_a_second_format_of_a_contracted_provider_is_a_change_request_and_holds_no_claims(
    contracting: Contracting,
) -> None:
    first = await contracting.post_mail((MAIL / "good_xlsx.eml").read_bytes())
    second = await contracting.post_mail((MAIL / "good_csv_utf8.eml").read_bytes())
    assert first["status"] == "accepted" and second["status"] == "needs_review"
    change = await contracting.intake(second["intake_id"])
    assert change["review_reasons"][0].startswith("change request") and change["procurement_id"] is None
    assert change["reply"]["to"] == "contracten@zorggroep.example" and "wijzigen" in change["reply"]["body"]
    amended = await contracting.client.post(
        f"/follow-formats/{second['intake_id']}/review", json={"decision": "accept"}, headers=contracting.staff
    )
    assert amended.status_code == 200, amended.text
    contract_id = (await contracting.intake(first["intake_id"]))["contract_id"]
    assert amended.json()["contract_id"] == contract_id
    contract = (await contracting.client.get(f"/contracts/{contract_id}", headers=contracting.staff)).json()
    assert contract["version"] == 2 and contract["status"] == "signed"
    events = await contracting.events(3)
    # One procurement (the first format's); the change request started none, so no claim was put on hold.
    assert [(e["type"], e["data"].get("version")) for e in events] == [
        ("ProcurementStarted", None),
        ("ContractSigned", 1),
        ("ContractSigned", 2),
    ]


async def test_a_resend_with_the_same_message_id_changes_nothing(contracting: Contracting) -> None:
    raw = (MAIL / "good_xlsx.eml").read_bytes()
    first = await contracting.post_mail(raw)
    again = await contracting.post_mail(raw)
    assert again["intake_id"] == first["intake_id"] and again["duplicate"] and not first["duplicate"]
    assert (await contracting.intake(first["intake_id"]))["status"] == "accepted"
    contracts = (await contracting.client.get("/contracts", headers=contracting.staff)).json()
    assert contracts["total"] == 1
    events = await contracting.events(2)
    await asyncio.sleep(2)  # give a (wrong) second round the chance to show
    events = await contracting.events(2)
    assert [e["type"] for e in events] == ["ProcurementStarted", "ContractSigned"]


async def test_a_mail_without_message_id_sent_twice_byte_for_byte_is_recognised(contracting: Contracting) -> None:
    raw = (MAIL / "no_message_id.eml").read_bytes()
    first, again = await contracting.post_mail(raw), await contracting.post_mail(raw)
    assert first["message_id_derived"] and again["duplicate"] and again["intake_id"] == first["intake_id"]


async def test_events_on_the_broker_for_followed_and_rejected(contracting: Contracting) -> None:
    rejected = await contracting.post_mail((MAIL / "not_eligible.eml").read_bytes())  # not followable: no event
    unreadable = await contracting.post_mail((MAIL / "garbage_body.eml").read_bytes())  # no provider: no event
    followed = await contracting.post_mail((MAIL / "good_xlsx.eml").read_bytes())
    intake = await contracting.intake(followed["intake_id"])
    events = await contracting.events(2)
    by_agb: dict[str, list[str]] = {}
    for e in events:
        by_agb.setdefault(e["subject"], []).append(e["type"])
    assert by_agb == {"40000001": ["ProcurementStarted", "ContractSigned"]}
    started, signed = [e for e in events if e["subject"] == "40000001"]
    assert started["data"]["cause"] == "follow_format" and started["data"]["route"] == "follow"
    assert started["data"]["policy_id"] == "GLI-2023" and started["data"]["contract_year"] == 2023
    assert signed["data"]["contract_id"] == intake["contract_id"]
    assert signed["data"]["procurement_id"] == started["data"]["procurement_id"] == intake["procurement_id"]
    assert signed["data"]["tariffs"][0] == {"prestation_code": "GLI-INTAKE", "amount_cents": 8193}
    assert (await contracting.intake(unreadable["intake_id"]))["status"] == "rejected"
    not_followed = await contracting.intake(rejected["intake_id"])
    assert not_followed["status"] == "rejected" and not_followed["procurement_id"] is None


async def test_review_accept_and_reject(contracting: Contracting) -> None:
    review = await contracting.post_mail((MAIL / "name_mismatch.eml").read_bytes())
    late = await contracting.post_mail((MAIL / "signed_after_deadline.eml").read_bytes())
    queue = (await contracting.client.get("/follow-formats?status=needs_review", headers=contracting.staff)).json()
    assert {i["id"] for i in queue["items"]} == {review["intake_id"], late["intake_id"]}
    accepted = await contracting.client.post(
        f"/follow-formats/{review['intake_id']}/review",
        json={"decision": "accept", "note": "naam gewijzigd na fusie"},
        headers=contracting.staff,
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["contract_id"]
    again = await contracting.client.post(
        f"/follow-formats/{review['intake_id']}/review", json={"decision": "reject"}, headers=contracting.staff
    )
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    rejected = await contracting.client.post(
        f"/follow-formats/{late['intake_id']}/review",
        json={"decision": "reject", "note": "te laat getekend"},
        headers=contracting.staff,
    )
    assert rejected.json()["status"] == "rejected" and "te laat getekend" in rejected.json()["reply"]["body"]
    events = await contracting.events(2)
    # Both formats are of one provider and policy: one procurement, contracted by the accepted one.
    assert [e["type"] for e in events] == ["ProcurementStarted", "ContractSigned"]
    assert (await contracting.intake(late["intake_id"]))["procurement_id"] == events[0]["data"]["procurement_id"]
    bad = await contracting.client.post(
        f"/follow-formats/{late['intake_id']}/review", json={"decision": "maybe"}, headers=contracting.staff
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "decision"


async def test_the_smtp_listener_takes_mail_and_survives_hostile_input(contracting: Contracting) -> None:
    port = contracting.settings.SMTP_PORT

    def send_all() -> list[str]:
        answers = []
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for name in ("not_an_email.eml", "garbage_body.eml", "good_csv_utf8.eml"):
                refused = smtp.sendmail(
                    "x@zorggroep.example", ["contracten@zorginkoop.example"], (MAIL / name).read_bytes()
                )
                answers.append(str(refused))
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:  # still listening
            smtp.noop()
        return answers

    await asyncio.to_thread(send_all)

    async def decided() -> Any:
        listed = (await contracting.client.get("/follow-formats", headers=contracting.staff)).json()
        statuses = sorted(i["status"] for i in listed["items"] if i["channel"] == "smtp")
        return statuses if statuses and "received" not in statuses and len(statuses) == 3 else None

    assert await eventually(decided, timeout=30) == ["accepted", "rejected", "rejected"]


async def test_bad_requests_are_problems_not_errors(contracting: Contracting) -> None:
    c = contracting.client
    wrong_type = await c.post(
        "/follow-formats", content=b"x", headers={**contracting.staff, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415 and wrong_type.headers["content-type"] == "application/problem+json"
    empty = await c.post(
        "/follow-formats", content=b"  ", headers={**contracting.staff, "Content-Type": "message/rfc822"}
    )
    assert empty.status_code == 422 and empty.json()["errors"] == [{"field": "body", "message": "the e-mail is empty"}]
    assert (await c.get("/follow-formats/nope", headers=contracting.staff)).status_code == 404
    reader = await c.post(
        "/follow-formats",
        content=b"x",
        headers={**contracting.auth("contracts:read"), "Content-Type": "message/rfc822"},
    )
    assert reader.status_code == 403
    contracting.settings.MAIL_MAX_BYTES = 50_000  # the same settings object the routes read
    huge = await c.post(
        "/follow-formats", content=b"x" * 60_000, headers={**contracting.staff, "Content-Type": "message/rfc822"}
    )
    assert huge.status_code == 413 and huge.headers["content-type"] == "application/problem+json"
