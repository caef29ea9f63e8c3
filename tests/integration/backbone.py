"""Two services over real PostgreSQL databases and the broker: eligibility emits, publication consumes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.conftest import Kafka
from tests.support import APPLY, test_metadata
from zorg_common.consumer import ConsumerRunner, ConsumerSpec
from zorg_common.events import TOPIC_PROVIDERS, Event
from zorg_common.kafka import ensure_topics
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings
from zorg_publication.service import SPEC as PUBLICATION
from zorg_publication.settings import PublicationSettings


@dataclasses.dataclass
class Pair:
    producer: Runtime  # eligibility: writes and emits
    consumer: Runtime  # publication: consumes into the `applied` table
    kafka: Kafka
    prefix: str

    async def emit(self, *events: Event) -> None:
        async with self.producer.uow() as uow:
            for event in events:
                uow.emit(event)
            await uow.commit()

    def runner(self, spec: ConsumerSpec = APPLY, cls: type[ConsumerRunner] = ConsumerRunner) -> ConsumerRunner:
        return cls(self.consumer.settings, self.consumer.sessions, spec)

    @property
    def topic(self) -> str:
        return self.prefix + TOPIC_PROVIDERS


def settings_for(cls: type[Any], url: str, kafka: Kafka, prefix: str, **overrides: Any) -> Any:
    base = dict(
        _env_file=None,
        DATABASE_URL=url,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPIC_PREFIX=prefix,
        KAFKA_TOPIC_PARTITIONS=3,
        RELAY_POLL_INTERVAL_S=0.2,
        CONSUMER_RETRY_BACKOFF_S=0.01,
        CONSUMER_MAX_ATTEMPTS=3,
        KAFKA_REQUEST_TIMEOUT_MS=30_000,
        KAFKA_SESSION_TIMEOUT_MS=6_000,
    )
    base.update(overrides)
    return cls(**base)


@contextlib.asynccontextmanager
async def service_pair(
    make_pg_url: Callable[[], str], kafka: Kafka, prefix: str, **overrides: Any
) -> AsyncIterator[Pair]:
    producer_url, consumer_url = make_pg_url(), make_pg_url()
    upgrade(ELIGIBILITY.migrations, producer_url)
    upgrade(PUBLICATION.migrations, consumer_url)
    producer = Runtime(ELIGIBILITY, settings_for(EligibilitySettings, producer_url, kafka, prefix, **overrides))
    consumer = Runtime(PUBLICATION, settings_for(PublicationSettings, consumer_url, kafka, prefix, **overrides))
    async with consumer.engine.begin() as conn:
        await conn.run_sync(test_metadata.create_all)
    await ensure_topics(producer.settings, [prefix + TOPIC_PROVIDERS])
    try:
        yield Pair(producer, consumer, kafka, prefix)
    finally:
        await producer.close()
        await consumer.close()


@contextlib.asynccontextmanager
async def background(*coroutine_makers: Callable[[], Any]) -> AsyncIterator[list[asyncio.Task[Any]]]:
    tasks = [asyncio.create_task(make()) for make in coroutine_makers]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def read_topic(bootstrap: str, topic: str, timeout: float = 10.0) -> list[Any]:
    """Every message on ``topic`` (read without a group), up to the high-water marks."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        messages: list[Any] = []
        quiet_rounds = 0
        deadline = asyncio.get_running_loop().time() + timeout
        while quiet_rounds < 3 and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            if not batch:
                quiet_rounds += 1
            for records in batch.values():
                quiet_rounds = 0
                messages.extend(records)
        return messages
    finally:
        await consumer.stop()


async def caught_up(*runners: ConsumerRunner) -> bool:
    """Every partition the runners hold is read and committed up to its end: nothing more arrives
    unless something new is sent (the condition to wait on instead of "sleep a while")."""
    for runner in runners:
        consumer = runner._consumer
        if consumer is None or not consumer.assignment():
            return False
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                return False
            if highwater and (await consumer.committed(tp) or 0) < highwater:
                return False
    return True
