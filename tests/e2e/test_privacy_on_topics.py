"""After the whole demo, every topic read from the start: no BSN, diagnosis, IBAN, fact or verdict out of place.

One `zorg up` (module fixture) runs the platform with its demo data until every consumer group has
read everything and every outbox is empty; then every topic, `.dlq` ones included, is read from
offset 0 with a plain consumer. What is looked for comes from the demo modules themselves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.conftest import eventually
from tests.e2e.test_platform import _free_offset, _start_platform
from tests.integration.backbone import read_topic
from zorg_claims.entrypoints.demo import demo_lines
from zorg_common.broker import free_port
from zorg_common.cli import DEMO_TODAY, services
from zorg_common.events import (
    DLQ_SUFFIX,
    TOPIC_CLAIMS,
    TOPIC_CONTRACTS,
    TOPIC_PROVIDERS,
    TOPIC_PROVIDERS_PRIVATE,
    TOPICS,
)
from zorg_common.policy import policies
from zorg_eligibility.domain.provider import Facts
from zorg_eligibility.entrypoints.demo import demo_bank_accounts, demo_providers
from zorg_publication.service_layer import rebuild

pytestmark = pytest.mark.e2e

PRIVATE_TOPICS = {TOPIC_PROVIDERS_PRIVATE, TOPIC_PROVIDERS_PRIVATE + DLQ_SUFFIX}
#: What the publication service reads: its consumers and its rebuild's replay.
PUBLICATION_TOPICS = {
    *rebuild.TOPICS,
    *(topic for spec in services()["publication"].consumers for topic in spec.topics),
}
#: Any Dutch IBAN, not only the demo's: none may travel off the private topic.
DUTCH_IBAN = re.compile(r"\bNL\d{2}[A-Z]{4}\d{10}\b")
PRIVATE_TYPES = {"BankAccountChanged", "EligibilityDetermined"}


@dataclass(frozen=True)
class Message:
    topic: str
    type: str | None  # None when the value is not a CloudEvent
    data: Any
    text: str  # the value and every header value, as sent


def _message(record: Any) -> Message:
    value = (record.value or b"").decode(errors="replace")
    headers = " ".join(v.decode(errors="replace") for _, v in record.headers or ())
    try:
        envelope = json.loads(value)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        return Message(record.topic, None, None, f"{value} {headers}")
    return Message(record.topic, envelope.get("type"), envelope.get("data"), f"{value} {headers}")


def _keys(value: Any) -> Iterator[str]:
    """Every key of every object in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (object keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _words(values: set[str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(sorted(map(re.escape, values))) + r")\b")


# --- running the demo and reading the topics --------------------------------------------------------


async def _read_everything(bootstrap: str) -> list[Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
    finally:
        await admin.close()
    found = await asyncio.gather(*(read_topic(bootstrap, topic) for topic in topics))
    return [record for records in found for record in records]


async def _every_group_read_everything(bootstrap: str, records: list[Any]) -> bool:
    ends: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        ends[tp] = max(ends.get(tp, 0), r.offset + 1)
    for spec in (consumer for service in services().values() for consumer in service.consumers):
        # A consumer in the group that never subscribes does not join it: it only asks for offsets.
        probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=spec.group, enable_auto_commit=False)
        await probe.start()
        try:
            for tp, end in ends.items():
                if tp.topic in spec.topics and ((await probe.committed(tp)) or 0) < end:
                    return False
        finally:
            await probe.stop()
    return True


async def _outboxes_empty(offset: int) -> bool:
    async with httpx.AsyncClient(timeout=10) as client:
        for name, spec in services().items():
            metrics = (await client.get(f"http://127.0.0.1:{spec.port + offset}/metrics")).text
            if f'zorg_outbox_backlog{{service="{name}"}} 0.0' not in metrics:
                return False
    return True


async def _read_when_settled(bootstrap: str, offset: int) -> list[Any]:
    """Every message, once every group has read everything, every outbox is empty and nothing new came."""
    seen: list[Counter[str]] = []

    async def settled() -> list[Any] | None:
        records = await _read_everything(bootstrap)
        seen.append(Counter(r.topic for r in records))
        quiet = len(seen) > 1 and seen[-1] == seen[-2]
        if quiet and await _outboxes_empty(offset) and await _every_group_read_everything(bootstrap, records):
            return records
        return None

    found: list[Any] = await eventually(settled, timeout=240, interval=1.0)
    return found


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> list[Message]:
    offset, broker_port = _free_offset(), free_port()
    data_dir: Path = tmp_path_factory.mktemp("privacy")
    proc, lines = _start_platform(data_dir, offset, broker_port)
    assert proc.stdout is not None
    # Keep reading its output, or `zorg up` blocks on a full pipe and the platform with it.
    drain = threading.Thread(target=lines.extend, args=(proc.stdout,), daemon=True)
    drain.start()
    try:
        records = asyncio.run(_read_when_settled(f"127.0.0.1:{broker_port}", offset))
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        proc.wait(timeout=60)
        drain.join(timeout=10)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert "FAILED" not in output, output
    return [_message(r) for r in records]


# --- what is looked for, from the demo modules ------------------------------------------------------


def _claim_lines() -> list[dict[str, Any]]:
    return demo_lines(dt.date.fromisoformat(DEMO_TODAY))


def _fact_strings() -> set[str]:
    """The demo's facts that are text (programmes, dates): none may appear in what publication reads."""
    return {s for _, body in demo_providers() for s in _strings(body["facts"])}


CRITERIA = _words({criterion.code for policy in policies().values() for criterion in policy.criteria})


# --- the tests ---------------------------------------------------------------------------------------


def test_the_demo_filled_the_topics_it_should(messages: list[Message]) -> None:
    """Else every test below could pass on empty topics."""
    topics = {m.topic for m in messages}
    types = Counter((m.topic, m.type) for m in messages)
    assert types[(TOPIC_PROVIDERS, "ProviderRegistered")] == len(demo_providers())
    assert types[(TOPIC_PROVIDERS_PRIVATE, "BankAccountChanged")] == len(demo_bank_accounts())
    assert types[(TOPIC_PROVIDERS_PRIVATE, "EligibilityDetermined")] >= len(demo_providers())
    assert types[(TOPIC_CONTRACTS, "ContractSigned")] > 0 and types[(TOPIC_CLAIMS, "ClaimAdjudicated")] > 0
    submitted = {m.data["claim_id"] for m in messages if m.type == "ClaimSubmitted"}
    decided = {m.data["claim_id"] for m in messages if m.type == "ClaimAdjudicated"}
    assert submitted and submitted <= decided  # the adjudication worker had caught up
    assert topics <= {*TOPICS, *(t + DLQ_SUFFIX for t in TOPICS)}, topics
    private_text = " ".join(m.text for m in messages if m.topic == TOPIC_PROVIDERS_PRIVATE)
    assert all(account["iban"] in private_text for account in demo_bank_accounts().values())


def test_no_bsn_or_diagnosis_code_on_any_topic(messages: list[Message]) -> None:
    lines = _claim_lines()
    bsns = _words({line["bsn"] for line in lines})
    diagnoses = _words({line["diagnosis_code"] for line in lines if line.get("diagnosis_code")})
    leaks = Counter(
        (m.topic, m.type, found) for m in messages for found in bsns.findall(m.text) + diagnoses.findall(m.text)
    )
    assert not leaks, leaks


def test_ibans_and_evaluations_travel_only_on_the_private_topic(messages: list[Message]) -> None:
    ibans = _words({account["iban"] for account in demo_bank_accounts().values()})
    elsewhere = [m for m in messages if m.topic not in PRIVATE_TOPICS]
    leaks = Counter(
        (m.topic, m.type, found) for m in elsewhere for found in ibans.findall(m.text) + DUTCH_IBAN.findall(m.text)
    )
    assert not leaks, leaks
    assert not Counter((m.topic, m.type) for m in elsewhere if m.type in PRIVATE_TYPES)
    assert {m.type for m in messages if m.topic == TOPIC_PROVIDERS_PRIVATE} == PRIVATE_TYPES


def test_no_fact_or_verdict_off_the_private_topic(messages: list[Message]) -> None:
    # Names of facts may travel (ProviderUpdated.changed_fields); a key holding a fact's value may not.
    private_keys = {"facts", "criteria", "verdict", "eligible", "iban", *Facts.model_fields}
    elsewhere = [m for m in messages if m.topic not in PRIVATE_TOPICS]
    keys = Counter((m.topic, m.type, key) for m in elsewhere for key in _keys(m.data) if key in private_keys)
    assert not keys, keys
    verdicts = Counter((m.topic, m.type, code) for m in elsewhere for code in CRITERIA.findall(m.text))
    assert not verdicts, verdicts


def test_what_publication_reads_carries_no_fact_value(messages: list[Message]) -> None:
    assert TOPIC_PROVIDERS_PRIVATE not in PUBLICATION_TOPICS
    facts = _fact_strings()
    assert facts  # the demo has text facts (programmes, a date of misconduct) to look for
    leaks = Counter(
        (m.topic, m.type, value)
        for m in messages
        if m.topic in PUBLICATION_TOPICS
        for value in _strings(m.data)
        if value in facts
    )
    assert not leaks, leaks
