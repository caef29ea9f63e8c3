"""Claims over HTTP on PostgreSQL with the broker: intake, adjudication from read models, holds and releases."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import String, func, select

from tests.conftest import Kafka, eventually
from tests.integration.backbone import read_topic
from tests.support import running_app
from zorg_claims.adapters.orm import claim_volume, claims, decisions
from zorg_claims.service import SPEC as CLAIMS
from zorg_claims.settings import ClaimsSettings
from zorg_common.auth import issue_token
from zorg_common.events import (
    TOPIC_CLAIMS,
    ContractSigned,
    EligibilityDetermined,
    ProcurementStarted,
    ProviderRegistered,
)
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.settings import ContractingSettings

pytestmark = pytest.mark.integration

GLI_AGB, GGZ_AGB, OTHER_AGB = "12345678", "23456789", "34567890"
TODAY = "2023-06-01"


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    monkeypatch.setenv("ZORG_TODAY", TODAY)
    return dt.date.fromisoformat(TODAY)


def settings_for(cls: type[Any], url: str, kafka: Kafka, prefix: str) -> Any:
    return cls(
        _env_file=None,
        DATABASE_URL=url,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPIC_PREFIX=prefix,
        KAFKA_TOPIC_PARTITIONS=2,
        KAFKA_SESSION_TIMEOUT_MS=6000,
        RELAY_POLL_INTERVAL_S=0.2,
    )


class World:
    """The claims service running, and another service's outbox to send it events with."""

    def __init__(self, client: httpx.AsyncClient, others: Runtime, settings: ClaimsSettings) -> None:
        self.client = client
        self.others = others
        self.settings = settings
        self.headers = {"Authorization": f"Bearer {issue_token(settings, ['claims:read', 'claims:write'])}"}

    async def events(self, *events: Any) -> None:
        async with self.others.uow() as uow:
            for event in events:
                uow.emit(event)
            await uow.commit()

    async def submit(self, **line: Any) -> str:
        response = await self.client.post("/claims", json=line, headers=self.headers)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def decided(self, claim_id: str, status: str | None = None) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            body = (await self.client.get(f"/claims/{claim_id}", headers=self.headers)).json()
            done = body["status"] != "received" if status is None else body["status"] == status
            return body if done else None

        result: dict[str, Any] = await eventually(check, timeout=30)
        return result


@pytest.fixture
async def world(make_pg_url: Any, kafka: Kafka, topic_prefix: str, today: dt.date) -> AsyncIterator[World]:
    claims_url, others_url = make_pg_url(), make_pg_url()
    upgrade(CLAIMS.migrations, claims_url)
    upgrade(CONTRACTING.migrations, others_url)
    settings = settings_for(ClaimsSettings, claims_url, kafka, topic_prefix)
    others = Runtime(CONTRACTING, settings_for(ContractingSettings, others_url, kafka, topic_prefix))
    await others.start_workers(relay=True, consumers=False)
    try:
        async with running_app(CLAIMS, settings) as client:
            world = World(client, others, settings)
            await world.events(
                ProviderRegistered(agb=GLI_AGB, name="Zorggroep", kind="care_group", sectors=["GLI"]),
                ProviderRegistered(agb=GGZ_AGB, name="GGZ Praktijk", kind="individual", sectors=["GGZ"]),
                _eligible(GLI_AGB, "GLI-2023", "GLI", 2023),
            )
            runners = client.app.state.runtime.consumers  # type: ignore[attr-defined]
            await eventually(lambda: _all_assigned(runners), timeout=60)
            yield world
    finally:
        await others.close()


async def _all_assigned(runners: list[Any]) -> bool:
    return all(r.assigned.is_set() for r in runners)


def _eligible(agb: str, policy_id: str, sector: str, year: int) -> EligibilityDetermined:
    return EligibilityDetermined(
        agb=agb,
        evaluation_id=f"e-{agb}",
        policy_id=policy_id,
        sector=sector,
        contract_year=year,
        eligible=True,
        route="follow",
        criteria=[],
        evaluated_on=dt.date(2022, 9, 1),
    )


def gli_line(reference: str, **changes: Any) -> dict[str, Any]:
    return {
        "provider_reference": reference,
        "agb": GLI_AGB,
        "bsn": "111222333",
        "sector": "GLI",
        "prestation_code": "GLI-INTAKE",
        "service_date": "2023-02-01",
        "quantity": 1,
        "claimed_cents": 8193,
        "programme": "Cool",
        "programme_start": "2023-01-15",
        **changes,
    }


async def test_restitution_duplicate_unknown_provider_and_idempotent_reference(world: World) -> None:
    first = await world.submit(**gli_line("A-1"))
    assert (await world.decided(first))["status"] == "approved"  # eligible, no contract: restitution
    again = await world.submit(**gli_line("A-1", claimed_cents=1))  # same reference: the first claim
    assert again == first
    twin = await world.submit(**gli_line("A-2"))  # same provider, BSN, code and date
    decided = await world.decided(twin)
    assert decided["status"] == "rejected" and decided["reason_codes"] == [{"code": "DUPLICATE", "vektis_code": "0587"}]
    stranger = await world.submit(**gli_line("A-3", agb=OTHER_AGB))
    assert (await world.decided(stranger))["reasons"] == ["PROVIDER_UNKNOWN"]


async def test_lines_of_one_batch_are_decided_in_the_order_sent(world: World) -> None:
    """They share their moment of receipt: the order of the batch decides which intake is the second."""
    lines = [gli_line(f"O-{n}", bsn="100000010", service_date=f"2023-02-{n + 1:02d}") for n in range(6)]
    response = await world.client.post("/claims/batch", json={"lines": lines}, headers=world.headers)
    assert response.status_code == 202, response.text
    ids = response.json()["accepted"]
    decided = [await world.decided(claim_id) for claim_id in ids]
    assert [d["status"] for d in decided] == ["approved"] + ["rejected"] * 5
    assert {r for d in decided[1:] for r in d["reasons"]} == {"PRESTATION_LIMIT_EXCEEDED"}


async def test_pending_while_procurement_runs_then_released_by_contract_signed(world: World) -> None:
    await world.events(
        ProcurementStarted(
            agb=GLI_AGB,
            procurement_id="p-1",
            policy_id="GLI-2023",
            sector="GLI",
            contract_year=2023,
            route="follow",
            started_on=dt.date(2022, 10, 1),
            cause="follow_format",
        )
    )
    await asyncio.sleep(1.5)  # the read model has it
    held = await world.submit(**gli_line("H-1", prestation_code="GLI-TREATMENT-Q", claimed_cents=20000))
    waiting = await world.decided(held)
    assert (
        waiting["status"] == "pending" and waiting["reasons"] == ["AWAITING_CONTRACT"] and waiting["hold"] == "contract"
    )
    await world.events(
        ContractSigned(
            agb=GLI_AGB,
            contract_id="k-1",
            procurement_id="p-1",
            policy_id="GLI-2023",
            sector="GLI",
            route="follow",
            start_date=dt.date(2023, 1, 1),
            end_date=dt.date(2023, 12, 31),
            contract_years=[2023],
            tariffs=[{"prestation_code": "GLI-TREATMENT-Q", "amount_cents": 18000}],
            signed_on=dt.date(2022, 10, 20),
        )
    )
    released = await world.decided(held, "partially_approved")
    assert released["allowed_cents"] == 18000 and released["reasons"] == ["TARIFF_CAPPED"]
    assert released["decision_no"] == 2 and released["hold"] is None
    history = (await world.client.get(f"/claims/{held}/decisions", headers=world.headers)).json()
    assert [d["status"] for d in history] == ["pending", "partially_approved"]  # the history is kept
    not_contracted = await world.submit(**gli_line("H-2", service_date="2023-03-01"))
    assert (await world.decided(not_contracted))["reasons"] == ["PRESTATION_NOT_CONTRACTED"]


async def test_redelivered_claim_submitted_changes_nothing(world: World, kafka: Kafka) -> None:
    claim_id = await world.submit(**gli_line("R-1"))
    await world.decided(claim_id)
    topic = world.settings.KAFKA_TOPIC_PREFIX + TOPIC_CLAIMS
    submitted = [m for m in await read_topic(kafka.bootstrap, topic) if b"ClaimSubmitted" in m.value]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for message in submitted:
            await producer.send_and_wait(topic, message.value, key=message.key)
    finally:
        await producer.stop()
    await asyncio.sleep(3)
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(claims.c.decision_no).where(claims.c.id == claim_id)) == 1
        assert await conn.scalar(select(func.count()).select_from(decisions)) == 1


async def test_batch_takes_good_lines_and_names_every_problem(world: World) -> None:
    lines = [
        gli_line("B-1"),
        {**gli_line("B-2"), "bsn": "123456789", "quantity": 0, "service_date": "2023-06-02"},
        {**gli_line("B-3"), "prestation_code": "NOPE", "programme": None},
        gli_line("B-4", service_date="2023-02-02"),
    ]
    response = await world.client.post("/claims/batch", json={"lines": lines}, headers=world.headers)
    assert response.status_code == 202
    body = response.json()
    assert len(body["accepted"]) == 2
    refused = {r["index"]: {e["field"]: e["message"] for e in r["errors"]} for r in body["refused"]}
    assert set(refused) == {1, 2}
    assert set(refused[1]) == {"bsn", "quantity"}  # the date is checked once the line itself is sound
    assert "8176" not in str(refused[1]) and "elfproef" in refused[1]["bsn"]
    assert set(refused[2]) == {"prestation_code", "programme"} and "0582" in refused[2]["prestation_code"]
    late = await world.client.post("/claims", json=gli_line("B-5", service_date="2023-06-02"), headers=world.headers)
    assert late.status_code == 422 and "8176" in late.json()["errors"][0]["message"]


async def test_authorisation_for_specialised_care_on_referral(world: World) -> None:
    base = {
        "agb": GGZ_AGB,
        "bsn": "111222333",
        "sector": "GGZ",
        "prestation_code": "CO0172",
        "service_date": "2022-06-01",
        "opening_date": "2022-03-01",
        "quantity": 2,
        "claimed_cents": 7000,
        "referral": True,
        "diagnosis_code": "F32",
        "privacy_statement": True,
    }
    refused = await world.submit(provider_reference="G-1", **base)
    assert (await world.decided(refused))["reasons"] == ["AUTHORISATION_REQUIRED"]
    granted = await world.client.post(
        "/authorisations",
        headers=world.headers,
        json={
            "bsn": "111222333",
            "agb": GGZ_AGB,
            "care_type": "sggz",
            "granted_on": "2022-02-01",
            "valid_until": "2022-12-31",
        },
    )
    assert granted.status_code == 201
    allowed = await world.submit(
        provider_reference="G-2",
        authorisation_number=granted.json()["number"],
        **{**base, "service_date": "2022-06-02"},
    )
    decided = await world.decided(allowed)
    assert decided["status"] == "partially_approved" and decided["allowed_cents"] == 4500  # 75% of 2 x 30.00
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.engine.connect() as conn:  # rule 10: the privacy statement keeps the diagnosis out
        assert await conn.scalar(select(func.count()).where(claims.c.diagnosis_code.is_not(None))) == 0


async def test_portal_sees_only_its_own_claims(world: World) -> None:
    mine = await world.submit(**gli_line("P-1"))
    await world.decided(mine)
    portal = {"Authorization": f"Bearer {issue_token(world.settings, ['portal'], agb=GGZ_AGB)}"}
    assert (await world.client.get(f"/claims/{mine}", headers=portal)).status_code == 404
    assert (await world.client.get(f"/claims?agb={GLI_AGB}", headers=portal)).status_code == 403
    assert (await world.client.get("/claims", headers=portal)).json()["total"] == 0
    own = {"Authorization": f"Bearer {issue_token(world.settings, ['portal'], agb=GLI_AGB)}"}
    assert (await world.client.get(f"/claims/{mine}", headers=own)).status_code == 200
    assert (await world.client.post("/claims", json=gli_line("P-2"), headers=own)).status_code == 403


async def test_volume_far_above_usual_goes_to_review_and_a_person_decides(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import insert

    from zorg_claims.entrypoints.consumers import review
    from zorg_claims.service_layer.adjudicate import Review, adjudicate_claims

    monkeypatch.setenv("CLAIMS_REVIEW_MIN_LINES", "5")
    review.cache_clear()
    try:
        runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
        history = [{**_stored_row(f"old-{m}"), "received_on": dt.date(2023, m, 10)} for m in (3, 4, 5)]
        async with runtime.engine.begin() as conn:  # one line a month before: usual is 1 a month
            await conn.execute(insert(claims), history)
            await conn.execute(
                insert(claim_volume),
                [{"agb": r["agb"], "month": r["received_on"].replace(day=1), "lines": 1} for r in history],
            )
        lines = [
            gli_line(f"V-{n}", bsn=bsn, prestation_code="GLI-INTAKE")
            for n, bsn in enumerate(["111222333", "123456782", "100000009", "100000010", "100000022"])
        ]
        response = await world.client.post("/claims/batch", json={"lines": lines}, headers=world.headers)
        ids = response.json()["accepted"]
        held = [await world.decided(i) for i in ids]
        assert {c["hold"] for c in held} == {"review"} and {c["reasons"][0] for c in held} == {"REVIEW_VOLUME"}
        queue = (await world.client.get("/claims?hold=review", headers=world.headers)).json()
        assert queue["total"] == 5
        person = await world.client.post(
            f"/claims/{ids[0]}/review", headers=world.headers, json={"decision": "approve", "note": "bekend patroon"}
        )
        assert person.status_code == 200 and person.json()["status"] == "approved"
        assert person.json()["decided_by"] == "zorg-cli"
        twice = await world.client.post(f"/claims/{ids[0]}/review", headers=world.headers, json={"decision": "reject"})
        assert twice.status_code == 409
        async with runtime.uow() as uow:  # a rerun of the rules never overwrites a person's decision
            assert await adjudicate_claims(uow, [ids[0]], Review(3.0, 5), holds=("review", "contract")) == []
            await uow.commit()
        assert (await world.decided(ids[0]))["decision_no"] == 2
    finally:
        review.cache_clear()


def _stored_row(reference: str) -> dict[str, Any]:
    return {
        "id": f"id-{reference}",
        "provider_reference": reference,
        "agb": GLI_AGB,
        "bsn": "999999990",
        "sector": "GLI",
        "prestation_code": "GLI-INTAKE",
        "service_date": dt.date(2023, 2, 1),
        "opening_date": dt.date(2023, 2, 1),
        "quantity": 1,
        "claimed_cents": 8193,
        "programme": "Cool",
        "programme_start": dt.date(2023, 1, 15),
        "referral": False,
        "authorisation_number": None,
        "diagnosis_code": None,
        "privacy_statement": False,
        "received_at": dt.datetime.now(dt.UTC),
        "status": "approved",
        "reasons": [],
        "allowed_cents": 8193,
        "adjudicated_at": None,
        "decision_no": 1,
        "rule_version": "x",
        "decided_by": "rules",
        "hold": None,
    }


async def test_two_worker_instances_never_decide_one_claim_twice(world: World) -> None:
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    second = Runtime(CLAIMS, world.settings)
    await second.start_workers(relay=False, consumers=True)
    try:
        await eventually(lambda: _all_assigned(second.consumers), timeout=60)
        lines = [
            gli_line(
                f"W-{n}",
                agb=(GLI_AGB, OTHER_AGB)[n % 2],
                bsn="111222333",
                service_date=f"2023-0{1 + n % 5}-{10 + n % 17:02d}",
                prestation_code="GLI-INTAKE",
                programme_start="2022-12-01",
            )
            for n in range(120)
        ]
        response = await world.client.post("/claims/batch", json={"lines": lines}, headers=world.headers)
        ids = response.json()["accepted"]

        async def all_decided() -> bool:
            async with runtime.engine.connect() as conn:
                return bool(
                    await conn.scalar(select(func.count()).where(claims.c.id.in_(ids), claims.c.status != "received"))
                    == len(ids)
                )

        await eventually(all_decided, timeout=60)
        await asyncio.sleep(2)
        async with runtime.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(decisions)) == len(ids)
            assert await conn.scalar(select(func.max(claims.c.decision_no))) == 1
            # one intake per programme: the first line is approved, every later one is over the limit
            approved = await conn.scalar(select(func.count()).where(claims.c.status == "approved"))
            unknown = await conn.scalar(select(func.count()).where(claims.c.reasons.cast(String).like("%UNKNOWN%")))
        assert approved == 1 and unknown == 60
    finally:
        await second.close()


async def test_a_closed_procurement_releases_its_claims_to_the_rules_without_contract(world: World) -> None:
    from zorg_common.events import ProcurementClosed

    await world.events(
        ProcurementStarted(
            agb=GLI_AGB,
            procurement_id="p-9",
            policy_id="GLI-2023",
            sector="GLI",
            contract_year=2023,
            route="follow",
            started_on=dt.date(2022, 10, 1),
            cause="follow_format",
        )
    )
    await asyncio.sleep(1.5)
    held = await world.submit(**gli_line("C-1"))
    assert (await world.decided(held))["hold"] == "contract"
    await world.events(
        ProcurementClosed(
            agb=GLI_AGB,
            procurement_id="p-9",
            policy_id="GLI-2023",
            sector="GLI",
            contract_year=2023,
            closed_on=dt.date(2022, 11, 2),
        )
    )
    released = await world.decided(held, "approved")  # no contract: restitution, the provider being eligible
    assert released["decision_no"] == 2 and released["reasons"] == []


async def test_a_batch_that_is_not_a_batch_is_refused_naming_the_field(world: World) -> None:
    url, headers = "/claims/batch", {**world.headers, "Content-Type": "application/json"}
    broken = await world.client.post(url, content=b'{"lines": [', headers=headers)
    assert broken.status_code == 422 and broken.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in broken.json()["errors"]] == ["body"]
    empty = await world.client.post(url, json={"lines": []}, headers=world.headers)
    assert empty.status_code == 422 and [e["field"] for e in empty.json()["errors"]] == ["lines"]
    too_many = await world.client.post(url, json={"lines": [gli_line("T")] * 5001}, headers=world.headers)
    assert too_many.status_code in (400, 422) and "at most 5000" in too_many.text
    spec = (await world.client.get("/openapi.json")).json()
    body = spec["paths"]["/claims/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["lines"]
