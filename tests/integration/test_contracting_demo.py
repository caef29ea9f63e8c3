"""The contracting demo data (what `make run` loads) on top of the eligibility demo, loaded twice."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration import test_contracting_harness as harness
from tests.integration.test_contracting_harness import Contracting
from zorg_common.auth import issue_token
from zorg_contracting.entrypoints.demo import load_demo

pytestmark = pytest.mark.integration
contracting, eligibility = harness.contracting, harness.eligibility  # the fixtures


async def test_the_demo_reaches_every_outcome_and_a_second_load_changes_nothing(contracting: Contracting) -> None:
    c = contracting

    def token(*scopes: str, agb: str | None = None) -> str:
        return issue_token(c.settings, scopes, agb=agb, subject="demo-loader")

    for _ in range(2):
        await load_demo(c.client, token)
        intakes = (await c.client.get("/follow-formats", headers=c.staff)).json()["items"]
        assert Counter(i["status"] for i in intakes) == {"accepted": 2, "rejected": 3, "needs_review": 3}
        by_id = {i["message_id"]: i for i in intakes}
        spoofed = by_id["<demo-spoofed@zorginkoop.example>"]
        assert spoofed["status"] == "needs_review" and spoofed["reply"] is None and spoofed["procurement_id"] is None
        change = by_id["<demo-change-request@zorginkoop.example>"]
        assert change["review_reasons"][0].startswith("change request") and change["procurement_id"] is None
        fraud = by_id["<demo-not-eligible@zorginkoop.example>"]
        assert "NOT_IN_FRAUD_REGISTERS" not in fraud["reply"]["body"]
        assert "NOT_IN_FRAUD_REGISTERS" in str(fraud["evaluation"])  # staff see the whole evaluation
        broken = next(i for i in intakes if i["message_id"] == "<demo-broken@zorginkoop.example>")
        assert {
            "AGB-code",
            "KvK-nummer",
            "UZOVI preferente verzekeraar",
            "Tarief GLI-INTAKE",
            "Tarief GLI-ONBEKEND",
        } <= {p["field"] for p in broken["problems"]}
        contracts = (await c.client.get("/contracts?status=signed&year=2023", headers=c.staff)).json()
        assert sorted(x["agb"] for x in contracts["items"]) == ["40000001", "40000002"]
        invitations = (await c.client.get("/invitations?policy_id=GGZ-2021", headers=c.staff)).json()
        assert sorted(i["agb"] for i in invitations["items"]) == ["40000030", "40000031"]
    portal = c.auth("portal", agb="40000032")
    # the negotiation in progress, seen by the institution itself
    intakes_of_other = (await c.client.get("/follow-formats", headers=portal)).json()
    assert intakes_of_other["total"] == 0
    [negotiation] = (await c.client.get("/negotiations", headers=portal)).json()["items"]
    assert negotiation["state"] == "open" and [r["party"] for r in negotiation["rounds"]] == ["insurer", "provider"]
    assert (await c.client.get("/negotiations", headers=c.auth("portal", agb="40000031"))).json()["total"] == 0
