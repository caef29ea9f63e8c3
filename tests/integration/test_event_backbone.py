"""The event backbone over real PostgreSQL and a real broker: outbox, relay, inbox, DLQ, groups."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from tests.conftest import Kafka, eventually
from tests.integration.backbone import background, caught_up, read_topic, service_pair
from tests.support import applied_count, applied_rows, provider_updated
from zorg_common.consumer import ConsumerRunner
from zorg_common.messaging import inbox, outbox
from zorg_common.relay import OutboxRelay

pytestmark = pytest.mark.integration


class Crash(BaseException):
    """Stands for the process dying at this point: its transaction is never committed, and nothing in
    the process (no supervision, which restarts after an ``Exception``) outlives it."""


async def unsent(runtime: Any) -> int:
    async with runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).where(outbox.c.published_at.is_(None))) or 0)


async def test_event_is_handled_once_and_in_order_per_key(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        agbs = ["11111111", "22222222", "33333333", "44444444"]
        for version in range(1, 16):  # 15 transactions, each with one event per provider
            await pair.emit(*(provider_updated(agb, version) for agb in agbs))
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        runner = pair.runner()
        async with background(relay.run, runner.run):
            await eventually(lambda: _count_is(pair.consumer.engine, 60))
            await eventually(lambda: _zero(unsent(pair.producer)))
            await eventually(lambda: caught_up(runner))  # nothing more arrives
        rows = await applied_rows(pair.consumer.engine)
        assert len(rows) == 60 and len({r.event_id for r in rows}) == 60
        per_key: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            per_key[row.agb].append(row.version)
        assert per_key == {agb: list(range(1, 16)) for agb in agbs}
        assert await unsent(pair.producer) == 0


async def _count_is(engine: Any, n: int) -> bool:
    return await applied_count(engine) == n


async def test_rolled_back_unit_of_work_emits_nothing(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        async with pair.producer.uow() as uow:
            uow.emit(provider_updated("11111111", 1))
            # leaves without commit
        with pytest.raises(RuntimeError):
            async with pair.producer.uow() as uow:
                uow.emit(provider_updated("11111111", 2))
                raise RuntimeError("the use case failed")
        async with pair.producer.uow() as uow:
            uow.emit(provider_updated("11111111", 3))
            await uow.rollback()
            await uow.commit()  # commits nothing: the rollback dropped the event
        async with pair.producer.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(outbox)) == 0
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        producer = await relay._ensure_producer()
        try:
            assert await relay.publish_batch(producer) == 0
        finally:
            await relay._drop_producer()
        assert await read_topic(kafka.bootstrap, pair.topic, timeout=3) == []


class CrashAfterSend(OutboxRelay):
    async def mark_published(self, session: Any, seqs: list[int]) -> None:
        raise Crash("relay died after the broker acknowledged, before marking the rows")


async def test_relay_dies_after_send_event_resent_and_applied_once(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        await pair.emit(*(provider_updated("11111111", v) for v in range(1, 6)))
        dying = CrashAfterSend(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        producer = await dying._ensure_producer()
        try:
            with pytest.raises(Crash):
                await dying.publish_batch(producer)
        finally:
            await dying._drop_producer()
        assert await unsent(pair.producer) == 5  # the marks were rolled back with the "process"

        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        runner = pair.runner()
        async with background(relay.run, runner.run):
            await eventually(lambda: _count_is(pair.consumer.engine, 5))
            await eventually(lambda: _zero(unsent(pair.producer)))
            on_topic = await read_topic(kafka.bootstrap, pair.topic)
            assert len(on_topic) == 10  # every event really went out twice
            await eventually(lambda: caught_up(runner))
        rows = await applied_rows(pair.consumer.engine)
        assert [r.version for r in rows] == [1, 2, 3, 4, 5]


async def _zero(awaitable: Any) -> bool:
    return bool(await awaitable == 0)


async def _true(value: bool) -> bool:
    return value


class CrashBeforeOffsetCommit(ConsumerRunner):
    async def commit_offsets(self, batches: Mapping[Any, Sequence[Any]]) -> None:
        raise Crash("consumer died after its database commit, before committing offsets")


async def test_consumer_dies_before_offset_commit_redelivered_applied_once(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        await pair.emit(*(provider_updated("11111111", v) for v in range(1, 11)))
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        async with background(relay.run):
            dying = pair.runner(cls=CrashBeforeOffsetCommit)
            with pytest.raises(Crash):
                await asyncio.wait_for(dying.run(), 60)
            first = await applied_count(pair.consumer.engine)
            assert first > 0  # its database commit did happen

            survivor = pair.runner()
            async with background(survivor.run):
                await eventually(lambda: _count_is(pair.consumer.engine, 10))
                await eventually(lambda: caught_up(survivor))
            assert survivor.handled == 10 - first  # the redelivered ones were skipped by the inbox
        rows = await applied_rows(pair.consumer.engine)
        assert [r.version for r in rows] == list(range(1, 11))
        async with pair.consumer.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(inbox)) == 10


async def test_broker_outage_delays_but_loses_nothing(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    if kafka.broker is None:
        pytest.skip("an external broker cannot be paused from here")
    async with service_pair(make_pg_url, kafka, topic_prefix, KAFKA_REQUEST_TIMEOUT_MS=5_000) as pair:
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        runner = pair.runner()
        async with background(relay.run, runner.run):
            await pair.emit(provider_updated("11111111", 1))
            await eventually(lambda: _count_is(pair.consumer.engine, 1))
            kafka.broker.pause()
            try:
                for version in range(2, 22):  # writes succeed while the broker is away
                    await asyncio.wait_for(pair.emit(provider_updated("11111111", version)), 5)
                failed_before = relay.failed_rounds
                # past the request timeout: the sends fail, and the relay drops its producer to retry
                await eventually(lambda: _true(relay.failed_rounds > failed_before), timeout=60)
                assert await applied_count(pair.consumer.engine) == 1
                assert await unsent(pair.producer) >= 1
            finally:
                kafka.broker.resume()
            await eventually(lambda: _count_is(pair.consumer.engine, 21), timeout=90)
            await eventually(lambda: _zero(unsent(pair.producer)))
            await eventually(lambda: caught_up(runner), timeout=60)
        rows = await applied_rows(pair.consumer.engine)
        assert [r.version for r in rows] == list(range(1, 22))


async def test_poison_messages_go_to_the_dlq_and_the_consumer_goes_on(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        raw = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await raw.start()
        try:
            await raw.send_and_wait(pair.topic, b"\x00not json at all", key=b"11111111")
            await raw.send_and_wait(pair.topic, b'{"specversion": "1.0", "type": "ProviderUpdated"}', key=b"11111111")
        finally:
            await raw.stop()
        await pair.emit(provider_updated("11111111", 1, name="always-fails"))
        await pair.emit(provider_updated("11111111", 2))
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        runner = pair.runner()
        async with background(relay.run, runner.run):
            await eventually(lambda: _count_is(pair.consumer.engine, 1))
            dead = await eventually(lambda: _at_least(read_topic(kafka.bootstrap, pair.topic + ".dlq", 5), 3))
        assert [r.version for r in await applied_rows(pair.consumer.engine)] == [2]
        headers = [dict(m.headers) for m in dead]
        assert [h[b"zorg_error_type".decode()] for h in headers] == [
            b"PoisonMessage",
            b"PoisonMessage",
            b"RuntimeError",
        ]
        assert headers[2]["zorg_attempts"] == b"3"
        assert b"keeps failing" in headers[2]["zorg_error"]
        assert headers[0]["zorg_original_topic"] == pair.topic.encode()
        assert dead[0].value == b"\x00not json at all"
        async with pair.consumer.engine.connect() as conn:
            outcomes: dict[str, int] = dict(
                (await conn.execute(select(inbox.c.outcome, func.count()).group_by(inbox.c.outcome))).all()
            )
        assert outcomes == {"handled": 1, "dead_letter": 1}


async def _at_least(messages: Any, n: int) -> Any:
    found = await messages
    return found if len(found) >= n else None


async def test_two_consumers_in_a_group_split_partitions_each_event_once(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix, KAFKA_TOPIC_PARTITIONS=4) as pair:
        first, second = pair.runner(), pair.runner()
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        async with background(first.run, second.run):
            await eventually(lambda: _both_assigned(first, second), timeout=60)
            agbs = [f"{n:08d}" for n in range(10_000_001, 10_000_021)]
            for version in range(1, 11):
                await pair.emit(*(provider_updated(agb, version) for agb in agbs))
            async with background(relay.run):
                await eventually(lambda: _count_is(pair.consumer.engine, 200), timeout=60)
                await eventually(lambda: caught_up(first, second), timeout=60)
            assignments = [set(r._consumer.assignment()) for r in (first, second) if r._consumer]
        assert len(assignments) == 2 and all(assignments) and not (assignments[0] & assignments[1])
        assert first.handled > 0 and second.handled > 0
        assert first.handled + second.handled == 200
        rows = await applied_rows(pair.consumer.engine)
        assert len({r.event_id for r in rows}) == len(rows) == 200
        per_key: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            per_key[row.agb].append(row.version)
        assert all(versions == list(range(1, 11)) for versions in per_key.values())


async def _both_assigned(a: ConsumerRunner, b: ConsumerRunner) -> bool:
    if not (a._consumer and b._consumer):
        return False
    return bool(a._consumer.assignment()) and bool(b._consumer.assignment())


async def test_embedded_defaults_sqlite_producer_to_sqlite_consumer(
    tmp_path: Any, kafka: Kafka, topic_prefix: str
) -> None:
    """What `make run` uses: a SQLite file per service, relay and consumers inside the process."""
    urls = iter([f"sqlite:///{tmp_path}/eligibility.db", f"sqlite:///{tmp_path}/publication.db"])
    async with service_pair(lambda: next(urls), kafka, topic_prefix) as pair:
        async with pair.producer.running(relay=True, consumers=False):
            runner = pair.runner()
            async with background(runner.run):
                for version in range(1, 6):
                    await pair.emit(provider_updated("11111111", version))
                await eventually(lambda: _count_is(pair.consumer.engine, 5))
        assert [r.version for r in await applied_rows(pair.consumer.engine)] == [1, 2, 3, 4, 5]


async def test_relay_never_sends_past_a_key_gap_held_by_another_relay(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    """Our claim straddles rows another relay holds: only the rows before the gap may go out."""
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        for version in range(1, 10):
            await pair.emit(provider_updated("11111111", version))
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        producer = await relay._ensure_producer()
        try:
            async with pair.producer.engine.connect() as other_relay:
                transaction = await other_relay.begin()
                seqs = (await other_relay.execute(select(outbox.c.seq).order_by(outbox.c.seq))).scalars().all()
                await other_relay.execute(select(outbox.c.seq).where(outbox.c.seq.in_(seqs[3:5])).with_for_update())
                assert await relay.publish_batch(producer) == 7  # claimed 1-3 and 6-9, skipped 4-5
                await transaction.rollback()
            sent_first = await read_topic(kafka.bootstrap, pair.topic, timeout=3)
            assert [_version(m) for m in sent_first] == [1, 2, 3]
            await relay.publish_batch(producer)
        finally:
            await relay._drop_producer()
        assert [_version(m) for m in await read_topic(kafka.bootstrap, pair.topic)] == list(range(1, 10))


def _version(message: Any) -> int:
    return int(json.loads(message.value)["data"]["version"])


async def test_a_commit_with_events_notifies_relays_in_other_processes(pg_url: str) -> None:
    """PostgreSQL: LISTEN zorg_outbox hears a commit that wrote outbox rows, and nothing before it."""
    import asyncpg

    from zorg_common.migrations import upgrade
    from zorg_common.service import Runtime
    from zorg_common.uow import OUTBOX_CHANNEL
    from zorg_eligibility.service import SPEC as ELIGIBILITY
    from zorg_eligibility.settings import EligibilitySettings

    upgrade(ELIGIBILITY.migrations, pg_url)
    runtime = Runtime(ELIGIBILITY, EligibilitySettings(_env_file=None, DATABASE_URL=pg_url))
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(pg_url)
    probe = "zorg_test_probe"
    for channel in (OUTBOX_CHANNEL, probe):
        await listener.add_listener(channel, lambda *args: heard.put_nowait(args[2]))

    async def everything_heard() -> list[str]:
        """What was notified so far: PostgreSQL delivers in commit order, so once a probe sent now
        arrives, every notification committed before it has arrived too."""
        await listener.execute(f"NOTIFY {probe}")  # its own transaction, committed now
        got = []
        while (channel := await asyncio.wait_for(heard.get(), 5)) != probe:
            got.append(channel)
        return got

    try:
        async with runtime.uow() as uow:
            uow.emit(provider_updated("11111111", 1))
            uow.emit(provider_updated("22222222", 1))
            await uow.session.flush()
            assert await everything_heard() == []  # nothing before the commit
            await uow.commit()
        # one notification for the transaction, however many events
        assert await everything_heard() == [OUTBOX_CHANNEL]
    finally:
        await listener.close()
        await runtime.close()


async def test_batch_handlers_get_runs_of_one_type_in_delivery_order(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    from sqlalchemy import insert as sql_insert

    from tests.support import applied
    from zorg_common.consumer import ConsumerSpec
    from zorg_common.events import TOPIC_PROVIDERS, ProviderRegistered

    runs: list[tuple[str, int]] = []

    async def many_updates(uow: Any, items: Any) -> None:
        runs.append(("ProviderUpdated", len(items)))
        rows = [{"event_id": ce.id, "agb": ev.agb, "version": ev.version} for ce, ev in items]
        await uow.session.execute(sql_insert(applied), rows)  # one statement for the run

    async def one_registration(uow: Any, envelope: Any, event: Any) -> None:
        runs.append(("ProviderRegistered", 1))
        await uow.session.execute(sql_insert(applied).values(event_id=envelope.id, agb=event.agb, version=-1))

    spec = ConsumerSpec(
        group="test.batch",
        topics=(TOPIC_PROVIDERS,),
        batch_handlers={"ProviderUpdated": many_updates},
        handlers={"ProviderRegistered": one_registration},
    )
    async with service_pair(make_pg_url, kafka, topic_prefix, KAFKA_TOPIC_PARTITIONS=1) as pair:
        # Another type on the same topic and key, handled one by one between the runs.
        registered = ProviderRegistered(agb="11111111", name="X", kind="care_group", sectors=["GLI"])
        await pair.emit(
            *(provider_updated("11111111", v) for v in (1, 2, 3)),
            registered,
            *(provider_updated("11111111", v) for v in (4, 5)),
        )
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        async with background(relay.run):
            await eventually(lambda: _zero(unsent(pair.producer)))  # all six on the topic before we read
        runner = pair.runner(spec)
        async with background(runner.run):
            await eventually(lambda: _count_is(pair.consumer.engine, 6))
        assert [r.version for r in await applied_rows(pair.consumer.engine)] == [1, 2, 3, -1, 4, 5]
        assert runs == [("ProviderUpdated", 3), ("ProviderRegistered", 1), ("ProviderUpdated", 2)]


async def test_a_database_outage_delays_handling_and_never_dead_letters(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    from sqlalchemy.exc import OperationalError

    from tests.support import record_applied
    from zorg_common.consumer import ConsumerSpec
    from zorg_common.events import TOPIC_PROVIDERS

    outage = {"left": 7}  # more failures than CONSUMER_MAX_ATTEMPTS (3)

    async def flaky(uow: Any, envelope: Any, event: Any) -> None:
        if outage["left"] > 0:
            outage["left"] -= 1
            raise OperationalError("INSERT ...", {}, ConnectionRefusedError("the database is away"))
        await record_applied(uow, envelope, event)

    spec = ConsumerSpec(group="test.outage", topics=(TOPIC_PROVIDERS,), handlers={"ProviderUpdated": flaky})
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        await pair.emit(provider_updated("11111111", 1), provider_updated("11111111", 2))
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        runner = pair.runner(spec)
        async with background(relay.run, runner.run):
            await eventually(lambda: _count_is(pair.consumer.engine, 2), timeout=60)
            await eventually(lambda: caught_up(runner))
        assert outage["left"] == 0
        assert [r.version for r in await applied_rows(pair.consumer.engine)] == [1, 2]
        assert await read_topic(kafka.bootstrap, pair.topic + ".dlq", timeout=2) == []


async def test_relay_batches_keep_order_and_the_partition_send_would_choose(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    """The relay appends rows to one record batch per partition; when a batch is full it sends it
    and starts the next. Order per key holds across batches, and each key lands on the partition
    ``producer.send`` would have chosen (Kafka's default partitioner), as other producers do."""
    agbs = ["11111111", "22222222", "33333333"]
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        for version in range(1, 101):
            await pair.emit(*(provider_updated(agb, version) for agb in agbs))
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        # Batches of 16 KiB: 300 events of about 500 bytes need several per partition.
        small = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, max_batch_size=16 * 1024, linger_ms=0)
        await small.start()
        try:
            assert await relay.publish_batch(small) == 300
            expected = {}
            for agb in agbs:
                ack = await (await small.send(pair.topic, key=agb.encode(), value=b"probe"))
                expected[agb] = ack.partition
        finally:
            await small.stop()
        messages = [m for m in await read_topic(kafka.bootstrap, pair.topic) if m.value != b"probe"]
        assert len(messages) == 300
        versions: dict[str, list[int]] = defaultdict(list)
        for message in messages:
            agb = message.key.decode()
            assert message.partition == expected[agb]
            assert dict(message.headers)["ce_type"] == b"ProviderUpdated"
            versions[agb].append(_version(message))
        assert versions == {agb: list(range(1, 101)) for agb in agbs}
        assert await unsent(pair.producer) == 0


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
async def test_sent_events_are_kept_for_a_while_then_pruned_and_unsent_ones_never(
    database: str,
    make_pg_url: Callable[[], str],
    tmp_path: Any,
    kafka: Kafka,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import update

    from zorg_common import relay as relay_module

    urls = iter([f"sqlite:///{tmp_path}/eligibility.db", f"sqlite:///{tmp_path}/publication.db"])
    make_url = make_pg_url if database == "postgresql" else lambda: next(urls)
    async with service_pair(make_url, kafka, topic_prefix, OUTBOX_KEEP_SENT_HOURS=24) as pair:
        await pair.emit(*(provider_updated("11111111", v) for v in range(1, 8)))
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        producer = await relay._ensure_producer()
        try:
            await relay.publish_batch(producer)  # all 7 sent
        finally:
            await relay._drop_producer()
        await pair.emit(provider_updated("11111111", 8))  # not sent yet
        now = dt.datetime.now(dt.UTC)
        async with pair.producer.engine.begin() as conn:
            seqs = (await conn.execute(select(outbox.c.seq).order_by(outbox.c.seq))).scalars().all()
            # sent two days ago (4), sent an hour ago (3), never sent (1)
            await conn.execute(
                update(outbox).where(outbox.c.seq.in_(seqs[:4])).values(published_at=now - dt.timedelta(days=2))
            )
            await conn.execute(
                update(outbox).where(outbox.c.seq.in_(seqs[4:7])).values(published_at=now - dt.timedelta(hours=1))
            )
            await conn.execute(
                update(outbox).where(outbox.c.seq == seqs[7]).values(created_at=now - dt.timedelta(days=30))
            )
        monkeypatch.setattr(relay_module, "PRUNE_CHUNK", 3)  # chunks smaller than the work: 3, then 1
        assert await relay.prune_sent() == 4
        async with pair.producer.engine.connect() as conn:
            left = (await conn.execute(select(outbox.c.seq, outbox.c.published_at).order_by(outbox.c.seq))).all()
        assert [row.seq for row in left] == list(seqs[4:])
        assert left[-1].published_at is None and await unsent(pair.producer) == 1


async def test_events_of_one_transaction_get_seqs_in_the_order_emitted(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        await pair.emit(*(provider_updated("11111111", v) for v in range(1, 201)))
        async with pair.producer.engine.connect() as conn:
            payloads = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.seq))).scalars().all()
        assert [json.loads(p)["data"]["version"] for p in payloads] == list(range(1, 201))


async def test_a_constraint_the_handler_violates_is_dead_lettered_not_taken_for_a_duplicate(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    """Only the inbox's own conflict means "seen before": a handler's IntegrityError is the event's
    failure, retried and dead-lettered with its error, and the data the row held stays out of it."""
    from sqlalchemy import insert as sql_insert

    from tests.support import applied, record_applied
    from zorg_common.consumer import ConsumerSpec
    from zorg_common.events import TOPIC_PROVIDERS

    async def strict(uow: Any, envelope: Any, event: Any) -> None:
        if event.name.startswith("violates"):  # NOT NULL: PostgreSQL's DETAIL would show the whole row
            await uow.session.execute(sql_insert(applied).values(event_id=event.name, agb=None, version=1))
        else:
            await record_applied(uow, envelope, event)

    spec = ConsumerSpec(group="test.strict", topics=(TOPIC_PROVIDERS,), handlers={"ProviderUpdated": strict})
    async with service_pair(make_pg_url, kafka, topic_prefix) as pair:
        await pair.emit(provider_updated("11111111", 1, name="violates-q7z9x"), provider_updated("11111111", 2))
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        runner = pair.runner(spec)
        async with background(relay.run, runner.run):
            await eventually(lambda: _count_is(pair.consumer.engine, 1))
            dead = await eventually(lambda: _at_least(read_topic(kafka.bootstrap, pair.topic + ".dlq", 5), 1))
            await eventually(lambda: caught_up(runner))
        assert [r.version for r in await applied_rows(pair.consumer.engine)] == [2]
        (message,) = dead
        headers = dict(message.headers)
        assert headers["zorg_error_type"] == b"IntegrityError"
        assert b"not-null constraint" in headers["zorg_error"]
        assert headers["zorg_attempts"] == b"3"
        for header in (headers["zorg_error"], headers["zorg_error_trace"]):
            assert b"q7z9x" not in header and b"Failing row" not in header  # no values, no DETAIL
        assert json.loads(message.value)["data"]["version"] == 1
        async with pair.consumer.engine.connect() as conn:
            outcomes: dict[str, int] = dict(
                (await conn.execute(select(inbox.c.outcome, func.count()).group_by(inbox.c.outcome))).all()
            )
        assert outcomes == {"handled": 1, "dead_letter": 1}


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
async def test_the_inbox_forgets_a_groups_old_event_ids_and_keeps_the_rest(
    database: str,
    make_pg_url: Callable[[], str],
    tmp_path: Any,
    kafka: Kafka,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import insert as sql_insert

    from zorg_common import consumer as consumer_module

    urls = iter([f"sqlite:///{tmp_path}/eligibility.db", f"sqlite:///{tmp_path}/publication.db"])
    make_url = make_pg_url if database == "postgresql" else lambda: next(urls)
    async with service_pair(make_url, kafka, topic_prefix, INBOX_KEEP_HOURS=24) as pair:
        runner = pair.runner()
        now = dt.datetime.now(dt.UTC)
        ages = {"old-1": 48, "old-2": 30, "old-3": 25, "new-1": 23, "new-2": 0}
        rows = [
            {
                "consumer_group": group,
                "event_id": event_id,
                "event_type": "ProviderUpdated",
                "received_at": now - dt.timedelta(hours=hours),
            }
            for group in (runner.group, "another.group")
            for event_id, hours in ages.items()
        ]
        async with pair.consumer.engine.begin() as conn:
            await conn.execute(sql_insert(inbox), rows)
        monkeypatch.setattr(consumer_module, "PRUNE_CHUNK", 2)  # chunks smaller than the work: 2, then 1
        assert await runner.prune_inbox() == 3
        async with pair.consumer.engine.connect() as conn:
            left = (await conn.execute(select(inbox.c.consumer_group, inbox.c.event_id))).all()
        assert sorted(left) == sorted(
            [(runner.group, "new-1"), (runner.group, "new-2")] + [("another.group", event_id) for event_id in ages]
        )
