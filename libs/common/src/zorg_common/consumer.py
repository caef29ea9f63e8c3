"""The consumer runner: Kafka consumer groups whose handlers are idempotent through an inbox.

For each ``getmany`` batch the runner handles every new event in one transaction, recording
(consumer group, event id) in the ``inbox`` table in that same transaction, and commits the
Kafka offsets only after the database commit. A redelivery (crash before the offset commit,
a rebalance, a relay resend) finds the event in the inbox and skips it. When a batch fails the
runner falls back to one transaction per event with retries and backoff; an event that still
fails, or cannot be decoded, goes to ``<topic>.dlq`` with the error in its headers and the
consumer goes on. Only the inbox's own conflict means "seen before"; a handler's error, whatever
its kind, is the event's failure.

Anything that ends the poll loop (the broker connection lost in ``getmany``, a failed start)
closes the consumer and starts it again under supervision (``supervision.py``), and its
``LoopHealth`` tells the probes when it does not recover. Once a minute the runner deletes its
group's inbox rows older than ``INBOX_KEEP_HOURS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy import DateTime, Integer, Text, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import clock, tracing
from .db import PRUNE_CHUNK, PRUNE_INTERVAL_S, delete_in_chunks, describe_error, describe_traceback, is_transient
from .events import DLQ_SUFFIX, CloudEvent, Event, topic_name
from .kafka import consumer_for, producer_for
from .messaging import inbox
from .metrics import CONSUMED, CONSUMER_LAG, DEAD_LETTERS, INBOX_PRUNED
from .settings import ServiceSettings
from .supervision import Every, LoopHealth, supervise
from .uow import UnitOfWork

log = logging.getLogger(__name__)

# PostgreSQL: the batch's ids go as two arrays (one statement, no per-row parameters); the
# ids returned are the new ones, the others were handled before.
_INBOX_INSERT_NEW = text(
    "INSERT INTO inbox (consumer_group, event_id, event_type, outcome, received_at)"
    " SELECT :group, e.event_id, e.event_type, :outcome, :now"
    " FROM unnest(:event_ids, :event_types) AS e(event_id, event_type)"
    " ON CONFLICT (consumer_group, event_id) DO NOTHING RETURNING event_id"
).bindparams(
    bindparam("event_ids", type_=ARRAY(Text)),
    bindparam("event_types", type_=ARRAY(Text)),
    bindparam("now", type_=DateTime(timezone=True)),
)

# A chunk of this group's oldest ids past the retention (the index on received_at finds them).
_PRUNE_INBOX = delete(inbox).where(
    inbox.c.consumer_group == bindparam("group"),
    inbox.c.event_id.in_(
        select(inbox.c.event_id)
        .where(inbox.c.consumer_group == bindparam("group"), inbox.c.received_at < bindparam("cutoff"))
        .order_by(inbox.c.received_at)
        .limit(bindparam("chunk", type_=Integer))
        .scalar_subquery()
    ),
)

Handler = Callable[[UnitOfWork, CloudEvent, Event], Awaitable[None]]
#: Handles a run of events of one type at once (one statement for many rows), in delivery order.
BatchHandler = Callable[[UnitOfWork, Sequence[tuple[CloudEvent, Event]]], Awaitable[None]]


@dataclass(frozen=True)
class ConsumerSpec:
    """One consumer group of a service: the topics it reads and a handler per event type.

    Events of other types on those topics are passed over. ``group`` and ``topics`` are
    written without the deployment's topic prefix.
    """

    group: str
    topics: tuple[str, ...]
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    #: For types with many events a batch: consecutive events of such a type go to it together.
    batch_handlers: Mapping[str, BatchHandler] = field(default_factory=dict)

    def handles(self, event_type: str) -> bool:
        return event_type in self.handlers or event_type in self.batch_handlers


class PoisonMessage(Exception):
    """The message cannot be decoded into a known event: retrying cannot help."""


@dataclass(eq=False)
class _Decoded:
    record: ConsumerRecord[bytes, bytes]
    envelope: CloudEvent | None = None
    event: Event | None = None
    handled: bool = False  # a handler or batch handler exists for its type
    error: BaseException | None = None


class _FinishBatchBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Let the batch in hand finish (database and offsets) before partitions move away."""

    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.runner._batch_lock:
            log.info("consumer %s: partitions revoked: %s", self.runner.group, sorted(map(str, revoked)))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("consumer %s: partitions assigned: %s", self.runner.group, sorted(map(str, assigned)))


class ConsumerRunner:
    def __init__(
        self,
        settings: ServiceSettings,
        sessions: async_sessionmaker[AsyncSession],
        spec: ConsumerSpec,
        *,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.spec = spec
        prefix = getattr(settings, "KAFKA_TOPIC_PREFIX", "")
        self.prefix = prefix
        self.group = topic_name(prefix, spec.group)
        self.topics = tuple(topic_name(prefix, t) for t in spec.topics)
        self.on_commit = on_commit
        self.max_attempts = settings.CONSUMER_MAX_ATTEMPTS
        self.backoff = settings.CONSUMER_RETRY_BACKOFF_S
        self._stopping = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: AIOKafkaProducer | None = None
        self.handled = 0
        self.assigned = asyncio.Event()
        self.health = LoopHealth.of(settings, "consumer", self.group, reports_progress=True)
        self._prune_pace = Every(PRUNE_INTERVAL_S)

    def stop(self) -> None:
        self._stopping.set()

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(
            self.sessions, source=f"/zorg/{self.settings.SERVICE}", topic_prefix=self.prefix, on_commit=self.on_commit
        )

    async def run(self) -> None:
        """Consume until ``stop()``. Anything that ends the loop (the broker connection, ``getmany``,
        an offset commit) closes the consumer, and it is started again after a pause (supervision)."""
        await supervise(self.health, self._consume, self._stopping, self.settings)

    async def _consume(self) -> None:
        """One life of the consumer: start, poll and handle until ``stop()`` or an error."""
        try:
            await self._start()
            backoff = self.backoff or 0.5
            while not self._stopping.is_set():
                assert self._consumer is not None
                await self._prune_now_and_then()  # between batches, once a minute, busy or not
                batches = await self._consumer.getmany(timeout_ms=500, max_records=self.settings.CONSUMER_BATCH_SIZE)
                self.health.progress()
                if self._consumer.assignment():
                    self.assigned.set()
                if not batches:
                    continue
                async with self._batch_lock:
                    try:
                        await self.process(batches)
                    except Exception as exc:
                        # The database or the broker is away (or something unforeseen): nothing of this
                        # batch is acknowledged; read it again after a pause. Never a loss.
                        log.warning(
                            "consumer %s: batch not handled (%s); retrying in %.1fs",
                            self.group,
                            describe_error(exc),
                            backoff,
                        )
                        self._rewind(batches)
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._stopping.wait(), backoff)
                        backoff = min(backoff * 2, 30.0)
                        continue
                    backoff = self.backoff or 0.5
                    await self.commit_offsets(batches)
        finally:
            await self._close()

    async def _prune_now_and_then(self) -> None:
        if not self._prune_pace.due():
            return
        try:
            await self.prune_inbox()
        except Exception as exc:  # the next round tries again; consuming goes on
            log.warning("consumer %s: inbox not pruned (%s)", self.group, describe_error(exc))

    async def prune_inbox(self) -> int:
        """Forget this group's events received more than ``INBOX_KEEP_HOURS`` ago; returns how many.

        The inbox only has to outlive redeliveries; without pruning it grows with every event.
        """
        cutoff = clock.utcnow() - dt.timedelta(hours=self.settings.INBOX_KEEP_HOURS)
        pruned = await delete_in_chunks(
            self.sessions, _PRUNE_INBOX, {"group": self.group, "cutoff": cutoff}, PRUNE_CHUNK
        )
        if pruned:
            INBOX_PRUNED.labels(self.group).inc(pruned)
            log.info("consumer %s: forgot %d event id(s) received before %s", self.group, pruned, cutoff.isoformat())
        return pruned

    def _rewind(self, batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]) -> None:
        assert self._consumer is not None
        for tp, records in batches.items():
            if records and tp in self._consumer.assignment():
                self._consumer.seek(tp, records[0].offset)

    async def _start(self) -> None:
        self._consumer = consumer_for(self.settings, self.group)
        self._consumer.subscribe(list(self.topics), listener=_FinishBatchBeforeRevoke(self))
        await self._consumer.start()
        self._dlq = producer_for(self.settings, client_suffix=f"{self.spec.group}-dlq")
        await self._dlq.start()
        log.info("consumer %s reading %s", self.group, ", ".join(self.topics))

    async def _close(self) -> None:
        for client in (self._consumer, self._dlq):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = None
        self._dlq = None

    async def commit_offsets(self, batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]) -> None:
        """Commit after the database commit; a failure means a redelivery, which the inbox absorbs."""
        assert self._consumer is not None
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
        try:
            await self._consumer.commit(offsets)
        except Exception as exc:
            log.warning("consumer %s: offset commit failed (%s); the batch may be redelivered", self.group, exc)
        for tp, offset in offsets.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(0, highwater - offset))

    # --- processing ---------------------------------------------------------------------

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> _Decoded:
        item = _Decoded(record)
        try:
            if record.value is None:
                raise PoisonMessage("empty message")
            item.envelope = CloudEvent.from_json(record.value)
            item.handled = self.spec.handles(item.envelope.type)
            if item.handled:
                item.event = item.envelope.payload()
        except (ValidationError, ValueError, PoisonMessage) as exc:
            item.error = PoisonMessage(f"cannot decode: {exc}")
        return item

    async def process(self, batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]) -> None:
        items = [self._decode(r) for records in batches.values() for r in records]
        for item in items:
            if item.error is not None:
                await self._dead_letter(item, item.error, attempts=1)
        todo = [i for i in items if i.error is None and i.handled]
        if not todo:
            return
        try:
            await self._handle_together(todo)
        except Exception as exc:
            log.info("consumer %s: batch of %d failed (%s); handling one by one", self.group, len(todo), exc)
            for item in todo:
                await self._handle_alone(item)

    async def _handle_together(self, items: list[_Decoded]) -> None:
        async with self._uow() as uow:
            fresh_ids = await self._record_in_inbox(uow, items)
            fresh, duplicates = [], []
            for item in items:
                assert item.envelope is not None
                if item.envelope.id in fresh_ids:
                    fresh_ids.discard(item.envelope.id)  # a double within the batch counts once
                    fresh.append(item)
                else:
                    duplicates.append(item)
            if fresh:
                await self._dispatch(uow, fresh)
                await uow.commit()
        self._count(fresh, "handled")
        self._count(duplicates, "duplicate")

    async def _record_in_inbox(self, uow: UnitOfWork, items: Sequence[_Decoded], outcome: str = "handled") -> set[str]:
        """Insert the events' ids; return the ids that were new (the others were seen before).

        One ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: a lookup of hundreds of ids with
        ``IN (...)`` degrades as the inbox grows (PostgreSQL's generic plan filters row by row).
        """
        types = {i.envelope.id: i.envelope.type for i in items if i.envelope}
        if not types:
            return set()
        now = clock.utcnow()
        if uow.session.get_bind().dialect.name == "postgresql":
            result = await uow.session.execute(
                _INBOX_INSERT_NEW,
                {
                    "group": self.group,
                    "event_ids": list(types),
                    "event_types": list(types.values()),
                    "outcome": outcome,
                    "now": now,
                },
            )
        else:
            statement = sqlite_insert(inbox).on_conflict_do_nothing(index_elements=["consumer_group", "event_id"])
            rows = [self._inbox_row(event_id, event_type, outcome, now=now) for event_id, event_type in types.items()]
            result = await uow.session.execute(statement.returning(inbox.c.event_id), rows)
        return set(result.scalars())

    async def _dispatch(self, uow: UnitOfWork, items: Sequence[_Decoded]) -> None:
        """Hand the events to their handlers in delivery order; runs of one batch-handled type go together.

        While tracing is on, a run is also of one trace, so that what a batch handler emits carries
        the trace of the events it came from (``zorg_common.tracing``).
        """
        run: list[tuple[CloudEvent, Event]] = []
        run_items: list[_Decoded] = []
        run_type = run_trace = ""
        traced = tracing.enabled()
        for item in items:
            assert item.envelope is not None and item.event is not None
            kind = item.envelope.type
            trace_id = tracing.trace_of(item) if traced else ""
            if run and (kind != run_type or trace_id != run_trace):
                await self._handle_run(uow, run_type, run, run_items)
                run, run_items = [], []
            if kind in self.spec.batch_handlers:
                run.append((item.envelope, item.event))
                run_items.append(item)
                run_type, run_trace = kind, trace_id
            else:
                with tracing.consuming(self.group, (item,)):
                    await self.spec.handlers[kind](uow, item.envelope, item.event)
        if run:
            await self._handle_run(uow, run_type, run, run_items)

    async def _handle_run(
        self, uow: UnitOfWork, kind: str, run: Sequence[tuple[CloudEvent, Event]], items: Sequence[_Decoded]
    ) -> None:
        with tracing.consuming(self.group, items):
            await self.spec.batch_handlers[kind](uow, run)

    async def _handle_alone(self, item: _Decoded) -> None:
        assert item.envelope is not None and item.event is not None
        error: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self._uow() as uow:
                    if not await self._record_in_inbox(uow, [item]):
                        # The inbox's own conflict, and only that, means "seen before". A constraint
                        # the handler's write violates is the event's failure, retried and dead-lettered.
                        self._count([item], "duplicate")
                        return
                    await self._dispatch(uow, [item])
                    await uow.commit()
                self._count([item], "handled")
                return
            except Exception as exc:
                if is_transient(exc):
                    raise  # not the message's fault: the whole batch waits and is read again
                error = exc
                log.warning(
                    "consumer %s: %s %s failed (attempt %d of %d): %s",
                    self.group,
                    item.envelope.type,
                    item.envelope.id,
                    attempt,
                    self.max_attempts,
                    describe_error(exc),
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(min(self.backoff * 2 ** (attempt - 1), 5.0))
        assert error is not None
        await self._dead_letter(item, error, attempts=self.max_attempts)

    def _inbox_row(
        self, event_id: str, event_type: str, outcome: str = "handled", *, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        return {
            "consumer_group": self.group,
            "event_id": event_id,
            "event_type": event_type,
            "outcome": outcome,
            "received_at": now or clock.utcnow(),
        }

    def _count(self, items: Sequence[_Decoded], outcome: str) -> None:
        per_type = Counter(item.envelope.type if item.envelope else "?" for item in items)
        for event_type, count in per_type.items():
            CONSUMED.labels(self.group, event_type, outcome).inc(count)
        if outcome == "handled":
            self.handled += len(items)

    async def _dead_letter(self, item: _Decoded, error: BaseException, *, attempts: int) -> None:
        record = item.record
        dlq_topic = record.topic + DLQ_SUFFIX
        described = describe_error(error, limit=2000)
        headers = [
            *(record.headers or ()),
            ("zorg_error", described.encode()),
            ("zorg_error_type", type(error).__name__.encode()),
            ("zorg_error_trace", describe_traceback(error)[-4000:].encode()),
            ("zorg_original_topic", record.topic.encode()),
            ("zorg_original_partition", str(record.partition).encode()),
            ("zorg_original_offset", str(record.offset).encode()),
            ("zorg_consumer_group", self.group.encode()),
            ("zorg_attempts", str(attempts).encode()),
        ]
        assert self._dlq is not None, "the runner starts its DLQ producer before consuming"
        await (await self._dlq.send(dlq_topic, value=record.value, key=record.key, headers=headers))
        log.error(
            "consumer %s: message %s:%d@%d sent to %s after %d attempt(s): %s",
            self.group,
            record.topic,
            record.partition,
            record.offset,
            dlq_topic,
            attempts,
            described,
        )
        DEAD_LETTERS.labels(self.group, record.topic).inc()
        if item.envelope is not None:
            # Remember it, so a redelivery does not go through the retries and the DLQ again.
            async with self._uow() as uow:
                await self._record_in_inbox(uow, [item], "dead_letter")
                await uow.commit()
