"""The outbox relay: sends committed events to Kafka in order per key, then marks them sent.

Several relays may run against one PostgreSQL database: each locks a batch of rows with
``FOR UPDATE SKIP LOCKED`` and leaves alone any key whose earlier events another relay holds,
so one provider's events are never sent out of order. The relay wakes on commit (in-process
signal, PostgreSQL ``LISTEN``) and otherwise polls. A crash between send and mark resends the
events, which consumers absorb through their inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from sqlalchemy import Integer, Update, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import clock, tracing
from .db import PRUNE_CHUNK, PRUNE_INTERVAL_S, among, delete_in_chunks, describe_error
from .kafka import producer_for
from .messaging import outbox
from .metrics import OUTBOX_BACKLOG, OUTBOX_SENT
from .settings import ServiceSettings
from .supervision import Every, LoopHealth, supervise
from .uow import OUTBOX_CHANNEL

log = logging.getLogger(__name__)


# Per key, the first unsent row that is not ours, before our last claimed row (rows after it
# cannot hold ours back, so the backlog behind it is left unread). PostgreSQL only; the lists go
# as arrays, so the statement text (and its prepared plan) is the same for every batch.
_FIRST_UNSENT_ELSEWHERE = (
    select(outbox.c.key, func.min(outbox.c.seq))
    .where(
        outbox.c.published_at.is_(None),
        among(outbox.c.key, "keys", postgres=True),
        outbox.c.seq < bindparam("last"),
        ~among(outbox.c.seq, "claimed", postgres=True),
    )
    .group_by(outbox.c.key)
)

_UNSENT_UP_TO = select(func.count()).where(outbox.c.published_at.is_(None), outbox.c.seq <= bindparam("last"))


@lru_cache(maxsize=65_536)
def _key_slot(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), as ``producer.send`` computes it, remembered:
    keys are AGB codes, which recur, and murmur2 in pure Python is a twentieth of the relay's CPU."""
    slot: int = (murmur2(key) & 0x7FFFFFFF) % partitions
    return slot


_PRUNE = delete(outbox).where(
    outbox.c.seq.in_(
        select(outbox.c.seq)
        .where(outbox.c.published_at < bindparam("cutoff"))
        .order_by(outbox.c.seq)
        .limit(bindparam("chunk", type_=Integer))
        .scalar_subquery()
    )
)


def _mark_published(postgres: bool) -> Update:
    return (
        update(outbox)
        .where(among(outbox.c.seq, "seqs", postgres=postgres))
        .values(published_at=bindparam("now"), attempts=outbox.c.attempts + 1)
    )


class OutboxRelay:
    def __init__(
        self,
        settings: ServiceSettings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        *,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = sessions
        self.name = name or settings.SERVICE
        self.batch_size = settings.RELAY_BATCH_SIZE
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._postgres = engine.dialect.name == "postgresql"
        self.sent_total = 0
        #: Rounds that failed (the broker or the database away) and were tried again.
        self.failed_rounds = 0
        # Built once: a statement made per batch costs more CPU than its round trip.
        claim = (
            select(outbox.c.seq, outbox.c.event_id, outbox.c.topic, outbox.c.key, outbox.c.event_type, outbox.c.payload)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(self.batch_size)
        )
        self._claim_statement = claim.with_for_update(skip_locked=True) if self._postgres else claim
        self._mark_statement = _mark_published(self._postgres)
        self._backlog_measured_at = float("-inf")
        self._prune_pace = Every(PRUNE_INTERVAL_S)
        self.health = LoopHealth.of(settings, "relay", self.name, reports_progress=True)

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows (safe from any coroutine of this loop)."""
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Relay until ``stop()``; survives broker and database outages by retrying with backoff, and
        anything else by starting again (supervision)."""
        await supervise(self.health, self._relay, self._stopping, self.settings)

    async def _relay(self) -> None:
        listener = asyncio.create_task(self._listen()) if self._postgres else None
        backoff = 0.5
        try:
            while not self._stopping.is_set():
                try:
                    producer = await self._ensure_producer()
                    sent = await self.publish_batch(producer)
                    await self._prune_now_and_then()
                    backoff = 0.5
                    self.health.progress()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database unavailable: wait and try again
                    self.failed_rounds += 1
                    log.warning(
                        "outbox relay %s: %s; retrying in %.1fs",
                        self.name,
                        describe_error(exc),
                        backoff,
                        extra={"error": type(exc).__name__},
                    )
                    await self._drop_producer()
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                if sent < self.batch_size:
                    await self._idle()
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listener
            await self._drop_producer()
            log.info("outbox relay %s stopping; it sent %d event(s)", self.name, self.sent_total)

    async def _idle(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=self.settings.RELAY_POLL_INTERVAL_S)
        if self._wakeup.is_set() and self.settings.RELAY_LINGER_MS > 0:
            # Commits that come within the linger share one relay round (claim, send, mark)
            # instead of one round each: a few milliseconds of latency for much less work.
            await asyncio.sleep(self.settings.RELAY_LINGER_MS / 1000)
        self._wakeup.clear()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            # Whole batches are handed over: waiting for more records would only add latency.
            producer = producer_for(self.settings, client_suffix="relay", linger_ms=0)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _listen(self) -> None:
        """Wake on ``NOTIFY zorg_outbox`` from writers in other processes."""
        while not self._stopping.is_set():
            try:
                async with self.engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    driver: Any = raw.driver_connection

                    def _notified(*_: object) -> None:
                        self._wakeup.set()

                    await driver.add_listener(OUTBOX_CHANNEL, _notified)
                    try:
                        await self._stopping.wait()
                    finally:
                        with contextlib.suppress(Exception):
                            await driver.remove_listener(OUTBOX_CHANNEL, _notified)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("outbox listener reconnecting: %s", exc)
                await self._sleep(2.0)

    async def publish_batch(self, producer: AIOKafkaProducer) -> int:
        """Send one batch of unsent events and mark them; returns how many rows it locked."""
        async with self.sessions() as session, session.begin():
            rows = await self._claim(session)
            if not rows:
                OUTBOX_BACKLOG.labels(self.name).set(0)
                return 0
            sendable = await self._in_key_order(session, rows)
            if sendable:
                await self._send(producer, sendable)
                await self.mark_published(session, [r.seq for r in sendable])
            await self._measure_backlog(session, len(sendable))
        self.sent_total += len(sendable)
        if sendable:
            log.debug("relay %s sent %d event(s)", self.name, len(sendable))
        return len(rows)

    async def _prune_now_and_then(self) -> None:
        if self._prune_pace.due():
            await self.prune_sent()

    async def prune_sent(self) -> int:
        """Delete sent rows older than ``OUTBOX_KEEP_SENT_HOURS``, a chunk per transaction; returns how many.

        Kafka keeps the events; the outbox keeps what was sent for a while, for people looking
        into what happened, and does not grow without end. Unsent rows are never touched.
        """
        cutoff = clock.utcnow() - dt.timedelta(hours=self.settings.OUTBOX_KEEP_SENT_HOURS)
        pruned = await delete_in_chunks(self.sessions, _PRUNE, {"cutoff": cutoff}, PRUNE_CHUNK)
        if pruned:
            log.info("outbox relay %s: deleted %d event(s) sent before %s", self.name, pruned, cutoff.isoformat())
        return pruned

    async def _measure_backlog(self, session: AsyncSession, just_sent: int) -> None:
        # Counting is a scan of the unsent rows: at most once a second, not once a batch.
        now = asyncio.get_running_loop().time()
        if now - self._backlog_measured_at < 1.0:
            return
        self._backlog_measured_at = now
        backlog = await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None)))
        OUTBOX_BACKLOG.labels(self.name).set(max(0, (backlog or 0) - just_sent))

    async def _claim(self, session: AsyncSession) -> Sequence[Any]:
        return (await session.execute(self._claim_statement)).all()

    async def _in_key_order(self, session: AsyncSession, rows: Sequence[Any]) -> list[Any]:
        """Keep, per key, only the claimed rows that come before any unsent row of that key we do not hold.

        With ``SKIP LOCKED`` a claim can start after, or straddle, rows another relay holds (ours:
        31-60 and 71-80, theirs: 61-70). Sending 71-80 before 61-70 would reorder that key, so a
        key's rows are sent only up to its first unsent row outside our claim.
        """
        if not self._postgres:
            return list(rows)  # SQLite: one writer, one relay per database
        claimed = [row.seq for row in rows]
        last = max(claimed)
        # The usual case, one relay or relays that took turns: no unsent row before our last
        # one is held elsewhere, and the per-key query below is not needed.
        if await session.scalar(_UNSENT_UP_TO, {"last": last}) == len(claimed):
            return list(rows)
        keys = list({row.key for row in rows})
        result = await session.execute(_FIRST_UNSENT_ELSEWHERE, {"keys": keys, "last": last, "claimed": claimed})
        first_elsewhere: dict[str, int] = {key: seq for key, seq in result.all()}
        return [row for row in rows if row.key not in first_elsewhere or row.seq < first_elsewhere[row.key]]

    async def _send(self, producer: AIOKafkaProducer, rows: Sequence[Any]) -> None:
        # While tracing is on: a send span per trace in the batch, its context in the records' headers.
        with tracing.publishing(rows) as trace_headers:
            await self._send_batches(producer, rows, trace_headers)

    async def _send_batches(
        self, producer: AIOKafkaProducer, rows: Sequence[Any], trace_headers: Mapping[int, list[tuple[str, bytes]]]
    ) -> None:
        """Send the rows as one record batch per partition, in seq order within each.

        Appending to a batch costs a fraction of ``producer.send`` per message (no future and
        no accumulator lookup per record). Partitions are chosen with Kafka's default
        partitioner, as ``send`` would. aiokafka keeps one request in flight per broker, so
        per-partition order holds even when it retries; every batch must be acknowledged before
        any row is marked.
        """
        partitions: dict[str, list[int]] = {}
        batches: dict[tuple[str, int], Any] = {}
        futures: list[asyncio.Future[Any]] = []
        sent: Counter[str] = Counter()
        for row in rows:
            topic = row.topic
            all_partitions = partitions.get(topic)
            if all_partitions is None:
                all_partitions = partitions[topic] = sorted(await producer.partitions_for(topic))
            key = row.key.encode()
            partition = all_partitions[_key_slot(key, len(all_partitions))]
            value = row.payload.encode()
            headers = [("ce_type", row.event_type.encode()), ("ce_id", row.event_id.encode())]
            if trace_headers:
                headers += trace_headers.get(row.seq, ())
            batch = batches.get((topic, partition))
            if batch is None or batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                if batch is not None:  # full: send it, go on in a new one
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[(topic, partition)] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    raise ValueError(f"outbox event {row.event_id} is larger than a producer batch")
            sent[topic] += 1
        for (topic, partition), batch in batches.items():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
        for topic, count in sent.items():
            OUTBOX_SENT.labels(self.name, topic).inc(count)

    async def mark_published(self, session: AsyncSession, seqs: list[int]) -> None:
        await session.execute(self._mark_statement, {"seqs": seqs, "now": clock.utcnow()})
