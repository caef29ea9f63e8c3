"""The eligibility service over HTTP, on PostgreSQL, with its relay sending to the broker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import Kafka, eventually
from tests.integration.backbone import read_topic
from tests.support import running_app
from tests.unit.eligibility.test_criteria import GLI_ALL_PASS
from zorg_common.auth import issue_token
from zorg_common.events import TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE
from zorg_common.migrations import upgrade
from zorg_eligibility.service import SPEC
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration

CARE_GROUP: dict[str, Any] = {
    "kvk": "69599084",
    "name": "Zorggroep Leefstijl Noord",
    "kind": "care_group",
    "sectors": ["GLI"],
    "address": {"street": "Grote Markt 1", "postcode": "9711 LV", "city": "Groningen"},
    "care_forms": ["in_person", "hybrid"],
    # every blocking criterion passes; the two expectations do not (warnings only)
    "facts": {**GLI_ALL_PASS, "programmes": ["SLIMMER"], "co2_roadmap": False, "hybrid_care_published": None},
}


@pytest.fixture
def settings(pg_url: str, kafka: Kafka, topic_prefix: str) -> EligibilitySettings:
    upgrade(SPEC.migrations, pg_url)
    return EligibilitySettings(
        _env_file=None,
        DATABASE_URL=pg_url,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPIC_PREFIX=topic_prefix,
        KAFKA_TOPIC_PARTITIONS=2,
        RELAY_POLL_INTERVAL_S=0.2,
    )


@pytest.fixture
async def client(settings: EligibilitySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(SPEC, settings) as c:
        yield c


def auth(settings: EligibilitySettings, *scopes: str, agb: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, scopes, agb=agb, subject='tester')}"}


async def events_on_topic(
    kafka: Kafka, settings: EligibilitySettings, n: int, topic: str = TOPIC_PROVIDERS
) -> list[dict[str, Any]]:
    topic = settings.KAFKA_TOPIC_PREFIX + topic

    async def enough() -> list[Any] | None:
        found = await read_topic(kafka.bootstrap, topic, timeout=3)
        return found if len(found) >= n else None

    messages = await eventually(enough, timeout=30, interval=0.3)
    return [json.loads(m.value) for m in sorted(messages, key=lambda m: (m.partition, m.offset))]


async def test_register_evaluate_and_the_events_on_the_broker(
    client: httpx.AsyncClient, kafka: Kafka, settings: EligibilitySettings
) -> None:
    staff = auth(settings, "providers:write", "providers:read")
    created = await client.put("/providers/12345678", json=CARE_GROUP, headers=staff)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["created"] and body["provider"]["version"] == 1
    assert body["provider"]["address"]["postcode"] == "9711 LV"
    [first] = body["evaluations"]  # the provider offers GLI: evaluated under GLI-2023
    assert first["policy_id"] == "GLI-2023" and first["eligible"] and first["route"] == "follow"
    assert first["warnings"] == ["CO2_ROADMAP", "HYBRID_CARE_TRANSPARENT"]

    again = await client.put("/providers/12345678", json=CARE_GROUP, headers=staff)
    assert again.status_code == 200 and again.json()["changed_fields"] == [] and again.json()["evaluations"] == []

    flagged = {**CARE_GROUP, "facts": {**CARE_GROUP["facts"], "fraud_investigation": True}}
    changed = (await client.put("/providers/12345678", json=flagged, headers=staff)).json()
    assert changed["changed_fields"] == ["facts"] and changed["provider"]["version"] == 2
    assert not changed["evaluations"][0]["eligible"] and changed["evaluations"][0]["route"] is None

    asked = await client.post("/evaluations", json={"agb": "12345678", "policy_id": "GLI-2023"}, headers=staff)
    assert asked.status_code == 201
    evaluation = asked.json()
    verdicts = {c["code"]: c["verdict"] for c in evaluation["criteria"]}
    assert verdicts["NOT_IN_FRAUD_REGISTERS"] == "fail" and verdicts["WTZA_ADMITTED"] == "pass"
    assert evaluation["facts"]["fraud_investigation"] is True  # stored with the facts it used

    history = (await client.get("/providers/12345678/evaluations", headers=staff)).json()
    assert history["total"] == 3
    assert history["items"][0]["id"] == evaluation["id"]  # newest first
    assert history["items"][-1]["eligible"] is True  # the first one was never edited

    # The evaluations travel on the private topic (claims reads it, publication never does).
    public = await events_on_topic(kafka, settings, 2)
    private = await events_on_topic(kafka, settings, 3, TOPIC_PROVIDERS_PRIVATE)
    assert [e["type"] for e in public] == ["ProviderRegistered", "ProviderUpdated"]
    assert [e["type"] for e in private] == ["EligibilityDetermined"] * 3
    assert all(e["subject"] == "12345678" and e["specversion"] == "1.0" for e in public + private)
    assert private[-1]["data"]["evaluation_id"] == evaluation["id"]
    assert private[-1]["data"]["eligible"] is False
    assert public[1]["data"]["changed_fields"] == ["facts"]  # which fields changed, not their values
    assert not any("facts" in e["data"] for e in public + private)  # facts stay in the register


async def test_bad_input_unknown_provider_and_policy(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    staff = auth(settings, "admin")
    bad = {
        **CARE_GROUP,
        "kvk": "123",
        "kind": "hospital",
        "sectors": [],
        "address": {"postcode": "0000 AA"},
        "facts": {"kvk_registered": "maybe", "shoe_size": 44},
    }
    response = await client.put("/providers/1234567", json=bad, headers=staff)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"agb", "kvk", "kind", "sectors", "address.postcode", "facts.kvk_registered", "facts.shoe_size"}
    missing = await client.post("/evaluations", json={"agb": "87654321", "policy_id": "GLI-2023"}, headers=staff)
    assert missing.status_code == 404
    await client.put("/providers/12345678", json=CARE_GROUP, headers=staff)
    unknown = await client.post("/evaluations", json={"agb": "12345678", "policy_id": "GLI-1999"}, headers=staff)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "policy_id"
    assert (await client.get("/policies/GLI-1999", headers=staff)).status_code == 404
    assert [p["id"] for p in (await client.get("/policies", headers=staff)).json()] == ["GGZ-2021", "GLI-2023"]


async def test_bank_account_is_validated_kept_in_history_and_announced(
    client: httpx.AsyncClient, kafka: Kafka, settings: EligibilitySettings
) -> None:
    staff = auth(settings, "providers:write", "providers:read")
    await client.put("/providers/12345678", json=CARE_GROUP, headers=staff)
    bad = await client.put(
        "/providers/12345678/bank-account", json={"iban": "NL92ABNA0417164300", "holder": ""}, headers=staff
    )
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"iban", "holder"}
    for iban in ("NL91 ABNA 0417 1643 00", "NL91ABNA0417164300", "NL20INGB0001234567"):
        ok = await client.put(
            "/providers/12345678/bank-account", json={"iban": iban, "holder": "ZG Noord"}, headers=staff
        )
        assert ok.status_code == 200, ok.text
    provider = (await client.get("/providers/12345678", headers=staff)).json()
    assert provider["bank_account"]["iban"] == "NL20INGB0001234567"
    events = await events_on_topic(kafka, settings, 3, TOPIC_PROVIDERS_PRIVATE)  # an evaluation, two accounts
    changes = [e["data"]["iban"] for e in events if e["type"] == "BankAccountChanged"]
    assert changes == ["NL91ABNA0417164300", "NL20INGB0001234567"]  # the same account twice is one change
    public = await events_on_topic(kafka, settings, 1)
    assert [e["type"] for e in public] == ["ProviderRegistered"]  # no account on the topic publication reads
    assert (
        await client.put(
            "/providers/87654321/bank-account", json={"iban": "NL91ABNA0417164300", "holder": "X"}, headers=staff
        )
    ).status_code == 404


async def test_a_portal_token_sees_and_changes_only_its_own_provider(
    client: httpx.AsyncClient, settings: EligibilitySettings
) -> None:
    staff = auth(settings, "admin")
    await client.put("/providers/12345678", json=CARE_GROUP, headers=staff)
    await client.put("/providers/87654321", json={**CARE_GROUP, "name": "Ander"}, headers=staff)
    mine = auth(settings, "portal", agb="12345678")
    assert (await client.get("/providers/12345678", headers=mine)).status_code == 200
    assert (await client.get("/providers/87654321", headers=mine)).status_code == 403
    assert (await client.get("/providers/87654321/evaluations", headers=mine)).status_code == 403
    listed = (await client.get("/providers", headers=mine)).json()
    assert [p["agb"] for p in listed["items"]] == ["12345678"]
    moved = {**CARE_GROUP, "address": {**CARE_GROUP["address"], "street": "Vismarkt 2"}}
    assert (await client.put("/providers/12345678", json=moved, headers=mine)).status_code == 428  # no If-Match
    changed = await client.put("/providers/12345678", json=moved, headers={**mine, "If-Match": '"1"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    cleaned = {
        **moved,
        "facts": {
            **CARE_GROUP["facts"],
            "quality_concerns": False,
            "in_fraud_register": False,
            "fraud_investigation": False,
            "enhanced_supervision": False,
            "co2_roadmap": True,
        },
    }
    refused = await client.put("/providers/12345678", json=cleaned, headers={**mine, "If-Match": '"2"'})
    assert refused.status_code == 403 and "facts" in refused.json()["detail"]
    account = {"iban": "NL91ABNA0417164300", "holder": "ZG Noord", "password": "Geheim123"}
    # Only a portal account (tests/integration/test_portal_accounts.py) changes its bank account.
    assert (await client.put("/providers/12345678/bank-account", json=account, headers=mine)).status_code == 403
    assert (await client.put("/providers/87654321/bank-account", json=account, headers=mine)).status_code == 403
    assert (
        await client.post("/evaluations", json={"agb": "87654321", "policy_id": "GLI-2023"}, headers=mine)
    ).status_code == 403
    assert (await client.put("/providers/11112222", json=CARE_GROUP, headers=mine)).status_code == 403
    assert (await client.get("/providers/12345678", headers=auth(settings, "claims:read"))).status_code == 403


async def test_search_and_paging(client: httpx.AsyncClient, settings: EligibilitySettings) -> None:
    staff = auth(settings, "admin")
    for n in range(12):
        city = "Zwolle" if n % 3 == 0 else "Utrecht"
        body = {
            **CARE_GROUP,
            "name": f"Praktijk {n:02d}",
            "kvk": f"{50000000 + n}",
            "sectors": ["GGZ"] if n % 2 else ["GLI"],
            "address": {**CARE_GROUP["address"], "city": city},
        }
        await client.put(f"/providers/{10000000 + n}", json=body, headers=staff)
    page = (await client.get("/providers?page=2&page_size=5", headers=staff)).json()
    assert page["total"] == 12 and page["page"] == 2 and page["items"][0]["name"] == "Praktijk 05"
    assert (await client.get("/providers?sector=GGZ", headers=staff)).json()["total"] == 6
    assert (await client.get("/providers?q=zwolle", headers=staff)).json()["total"] == 4
    assert (await client.get("/providers?q=50000003", headers=staff)).json()["total"] == 1
    assert (await client.get("/providers?q=10000011", headers=staff)).json()["items"][0]["name"] == "Praktijk 11"
    too_big = await client.get("/providers?page_size=1000", headers=staff)
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "page_size"


async def test_contact_addresses_are_kept_by_staff_and_neither_set_nor_seen_through_the_portal(
    client: httpx.AsyncClient, kafka: Kafka, settings: EligibilitySettings
) -> None:
    staff = auth(settings, "providers:write", "providers:read")
    with_contacts = {**CARE_GROUP, "contact_emails": ["Info@Zorggroep-Noord.nl", "contracten@zorggroep-noord.nl"]}
    created = await client.put("/providers/12345678", json=with_contacts, headers=staff)
    assert created.status_code == 201 and created.json()["provider"]["contact_emails"] == [
        "contracten@zorggroep-noord.nl",
        "info@zorggroep-noord.nl",  # compared and kept ignoring case
    ]
    kept = await client.put("/providers/12345678", json={**CARE_GROUP, "name": "ZG Noord"}, headers=staff)
    assert kept.json()["provider"]["contact_emails"] == created.json()["provider"]["contact_emails"]  # left out: kept
    mine = auth(settings, "portal", agb="12345678")
    seen = (await client.get("/providers/12345678", headers=mine)).json()
    assert seen["contact_emails"] is None  # staff only
    assert [p["contact_emails"] for p in (await client.get("/providers", headers=mine)).json()["items"]] == [None]
    portal_body = {**CARE_GROUP, "name": "ZG Noord", "address": {**CARE_GROUP["address"], "street": "Vismarkt 2"}}
    as_read = {**mine, "If-Match": (await client.get("/providers/12345678", headers=mine)).headers["ETag"]}
    moved = await client.put("/providers/12345678", json=portal_body, headers=as_read)
    assert moved.status_code == 200
    as_read["If-Match"] = moved.headers["ETag"]
    changed = await client.put(
        "/providers/12345678", json={**portal_body, "contact_emails": ["boef@elders.example"]}, headers=as_read
    )
    assert changed.status_code == 403 and "contact_emails" in changed.json()["detail"]
    staff_view = (await client.get("/providers/12345678", headers=staff)).json()
    assert staff_view["contact_emails"] == ["contracten@zorggroep-noord.nl", "info@zorggroep-noord.nl"]
    cleared = await client.put("/providers/12345678", json={**portal_body, "contact_emails": []}, headers=staff)
    assert cleared.json()["provider"]["contact_emails"] == [] and cleared.json()["changed_fields"] == ["contact_emails"]
    bad = await client.put("/providers/12345678", json={**CARE_GROUP, "contact_emails": ["geen adres"]}, headers=staff)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "contact_emails[0]"
    twice = await client.put(
        "/providers/12345678", json={**CARE_GROUP, "contact_emails": ["a@b.nl", "A@B.nl"]}, headers=staff
    )
    assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "contact_emails"
    too_many = {**CARE_GROUP, "contact_emails": [f"a{n}@b.nl" for n in range(21)]}
    assert (await client.put("/providers/12345678", json=too_many, headers=staff)).status_code == 422
    events = await events_on_topic(kafka, settings, 3)
    assert all("contact_emails" not in e["data"] for e in events)  # never on a topic publication reads
