"""Claims over HTTP on PostgreSQL with the broker: intake, adjudication from read models, holds and releases."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import String, func, select

from tests.conftest import Kafka, eventually
from tests.integration.backbone import read_topic
from tests.integration.claims_world import (
    COACH,
    GROUP,
    TODAY,
    UNKNOWN,
    World,
    all_assigned,
    claims_world,
    gli_line,
)
from tests.unit.claims.builders import contract_signed, procurement_closed, procurement_started
from zorg_claims.adapters.orm import claims, decisions
from zorg_claims.service import SPEC as CLAIMS
from zorg_common.events import TOPIC_CLAIMS
from zorg_common.messaging import outbox
from zorg_common.service import Runtime

pytestmark = pytest.mark.integration


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    monkeypatch.setenv("ZORG_TODAY", TODAY)
    return dt.date.fromisoformat(TODAY)


@pytest.fixture
async def world(make_pg_url: Any, kafka: Kafka, topic_prefix: str, today: dt.date) -> AsyncIterator[World]:
    async with claims_world(make_pg_url, kafka, topic_prefix) as world:
        yield world


async def test_restitution_duplicate_unknown_provider_and_idempotent_reference(world: World) -> None:
    first = await world.submit(**gli_line("A-1"))
    assert (await world.decided(first))["status"] == "approved"  # eligible individual, no contract: restitution
    again = await world.submit(**gli_line("A-1", claimed_cents=1))  # same reference: the first claim
    assert again == first
    twin = await world.submit(**gli_line("A-2"))  # same provider, BSN, code and date
    decided = await world.decided(twin)
    assert decided["status"] == "rejected" and decided["reason_codes"] == [{"code": "DUPLICATE", "vektis_code": "0587"}]
    stranger = await world.submit(**gli_line("A-3", agb=UNKNOWN))
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
    await world.events(procurement_started("p-1", GROUP))
    held = await world.submit(**gli_line("H-1", agb=GROUP, prestation_code="GLI-TREATMENT-Q", claimed_cents=20000))
    waiting = await world.decided(held)
    assert (
        waiting["status"] == "pending" and waiting["reasons"] == ["AWAITING_CONTRACT"] and waiting["hold"] == "contract"
    )
    await world.events(contract_signed("k-1", "p-1", GROUP, GLI_TREATMENT_Q=18000))
    released = await world.decided(held, "partially_approved")
    assert released["allowed_cents"] == 18000 and released["reasons"] == ["TARIFF_CAPPED"]
    assert released["decision_no"] == 2 and released["hold"] is None
    history = await world.history(held)
    assert [d["status"] for d in history] == ["pending", "partially_approved"]  # the history is kept
    assert history[1]["inputs"]["contract_id"] == "k-1" and history[1]["inputs"]["contract_version"] == 1
    not_contracted = await world.submit(**gli_line("H-2", agb=GROUP, service_date="2023-03-01"))
    assert (await world.decided(not_contracted))["reasons"] == ["PRESTATION_NOT_CONTRACTED"]


async def test_a_signed_contract_wins_while_another_procurement_record_is_open(world: World) -> None:
    await world.events(
        procurement_started("p-1", GROUP),
        contract_signed("k-1", "p-1", GROUP, GLI_TREATMENT_Q=18000),
        procurement_started("p-2", GROUP),  # say, a change request to the contract, opened later
    )
    claim_id = await world.submit(**gli_line("W-1", agb=GROUP, prestation_code="GLI-TREATMENT-Q", claimed_cents=19380))
    decided = await world.decided(claim_id)
    assert (decided["status"], decided["allowed_cents"], decided["hold"]) == ("partially_approved", 18000, None)


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
    async with world.runtime.engine.connect() as conn:
        assert await conn.scalar(select(claims.c.decision_no).where(claims.c.id == claim_id)) == 1
        assert await conn.scalar(select(func.count()).select_from(decisions)) == 1


async def test_claim_submitted_carries_no_bsn_or_diagnosis_in_the_outbox_or_on_the_topic(
    world: World, kafka: Kafka
) -> None:
    line = gli_line("PII-1", bsn="123456782", diagnosis_code="E66")
    claim_id = await world.submit(**line)
    await world.decided(claim_id)
    async with world.runtime.engine.connect() as conn:
        payloads = list((await conn.execute(select(outbox.c.payload))).scalars())
    topic = world.settings.KAFKA_TOPIC_PREFIX + TOPIC_CLAIMS
    messages = [m.value.decode() for m in await read_topic(kafka.bootstrap, topic)]
    submitted = [json.loads(m) for m in messages if '"ClaimSubmitted"' in m]
    assert submitted and submitted[0]["dataversion"] == "2"
    assert set(submitted[0]["data"]) == {"agb", "claim_id", "sector", "received_on"}
    for text in [*payloads, *messages]:
        assert "123456782" not in text and "E66" not in text


async def test_batch_takes_good_lines_and_names_every_problem_with_its_vektis_code(world: World) -> None:
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
    refused = {r["index"]: {e["field"]: e for e in r["errors"]} for r in body["refused"]}
    assert set(refused) == {1, 2}
    assert set(refused[1]) == {"bsn", "quantity"}  # the date is checked once the line itself is sound
    assert refused[1]["bsn"]["vektis_code"] == "0435" and "elfproef" in refused[1]["bsn"]["message"]
    assert refused[1]["quantity"]["vektis_code"] is None
    assert (
        set(refused[2]) == {"prestation_code", "programme"} and refused[2]["prestation_code"]["vektis_code"] == "0582"
    )
    late = await world.client.post("/claims", json=gli_line("B-5", service_date="2023-06-02"), headers=world.headers)
    assert late.status_code == 422 and late.headers["content-type"] == "application/problem+json"
    assert late.json()["errors"] == [
        {
            "field": "service_date",
            "message": "after the date of receipt 2023-06-01 (Vektis 8176)",
            "vektis_code": "8176",
        }
    ]


async def test_portal_sees_only_its_own_claims(world: World) -> None:
    mine = await world.submit(**gli_line("P-1"))
    await world.decided(mine)
    portal = world.token("portal", agb=GROUP)
    assert (await world.client.get(f"/claims/{mine}", headers=portal)).status_code == 404
    assert (await world.client.get(f"/claims?agb={COACH}", headers=portal)).status_code == 403
    assert (await world.client.get("/claims", headers=portal)).json()["total"] == 0
    own = world.token("portal", agb=COACH)
    assert (await world.client.get(f"/claims/{mine}", headers=own)).status_code == 200
    assert (await world.client.post("/claims", json=gli_line("P-2"), headers=own)).status_code == 403


async def test_two_worker_instances_never_decide_one_claim_twice(world: World) -> None:
    second = Runtime(CLAIMS, world.settings)
    await second.start_workers(relay=False, consumers=True)
    try:
        await eventually(lambda: all_assigned(second.consumers), timeout=60)
        lines = [
            gli_line(
                f"W-{n}",
                agb=(COACH, UNKNOWN)[n % 2],
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
            async with world.runtime.engine.connect() as conn:
                return bool(
                    await conn.scalar(select(func.count()).where(claims.c.id.in_(ids), claims.c.status != "received"))
                    == len(ids)
                )

        await eventually(all_decided, timeout=60)
        await asyncio.sleep(2)
        async with world.runtime.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(decisions)) == len(ids)
            assert await conn.scalar(select(func.max(claims.c.decision_no))) == 1
            # one intake per programme: the first line is approved, every later one is over the limit
            approved = await conn.scalar(select(func.count()).where(claims.c.status == "approved"))
            unknown = await conn.scalar(select(func.count()).where(claims.c.reasons.cast(String).like("%UNKNOWN%")))
        assert approved == 1 and unknown == 60
    finally:
        await second.close()


async def test_a_closed_procurement_releases_its_claims_to_the_rules_without_contract(world: World) -> None:
    await world.events(procurement_started("p-9", COACH))
    held = await world.submit(**gli_line("C-1"))
    assert (await world.decided(held))["hold"] == "contract"
    await world.events(procurement_closed("p-9", COACH))
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
