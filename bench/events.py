"""Benchmark of the event path: UnitOfWork -> outbox -> OutboxRelay -> Kafka -> ConsumerRunner -> inbox.

Two services, two throw-away PostgreSQL databases: the eligibility service commits
``ProviderUpdated`` events through its ``UnitOfWork`` (the outbox) and its ``OutboxRelay`` sends
them; the contracting service, in a separate process, handles them with a ``ConsumerRunner``
(inbox) whose handler writes one row per event into a table of its own database (by default a batch
handler, one ``BulkInsert`` statement per run of events, as the services' busy consumers write; ``--handler
row`` makes it one statement per event). The broker is
the bundled one, started here, unless ``KAFKA_BOOTSTRAP_SERVERS`` is set. Each phase has its own
databases and its own topic prefix, so the phases do not interfere.

Phases (all in one run):

1. ``throughput``: ``--events`` events (default 100,000; fewer make the figures jump) committed in
   transactions of ``--tx-size`` events (default 100), relayed and consumed; events/s from the first commit until the
   consumer has committed the last one, with when the writer, the relay and the consumer
   finished.
2. ``stages``: the same events, one stage at a time (write with no relay running; relay with no
   consumer running; consume a full topic), to show which stage limits phase 1.
3. ``latency``: ``--rate`` events/s (default 1,000) in transactions of ``--latency-tx-size`` events
   (default 10, so 100 transactions/s), offered on a fixed schedule (open loop) for
   ``--latency-seconds`` (default 10) after a short warm-up; p50/p90/p99/max of outbox commit ->
   consumer (database) commit, from per-event timestamps taken after ``uow.commit()`` in the
   producer and in an ``after_commit`` hook of the consumer's session. (With one event per
   transaction a single Python process on a small machine cannot offer 1,000/s; the report says
   so when the offered rate falls short.)
4. ``raw``: the baseline on the same broker: one aiokafka producer sends ``--events`` messages of
   the same size (same keys, headers and bytes) while one consumer group (separate process,
   offsets committed per batch, no parsing) reads them all; msgs/s.

It ends with the ratio outbox/raw and whether the targets hold: the outbox path at least a third
of the raw rate, and p99 under 200 ms at 1,000 events/s. Each phase also shows the CPU used by the
producing process, the consuming process, PostgreSQL (our databases) and the broker, and by
anything else on the machine, which, when large, makes the figures unreliable (noted below them);
the throughput and raw phases also give that CPU per event in microseconds, the budget both paths
spend on this machine.

Run (from the repository root)::

    .venv/bin/python bench/events.py            # full size, about 80 s on 2 cores
    .venv/bin/python bench/events.py --quick    # smoke run, well under a minute
    .venv/bin/python bench/events.py --help     # sizes, batch sizes, --json, --strict, ...

PostgreSQL comes from ``TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal, TypeVar

from _harness import CpuMeter
from sqlalchemy import Column, DateTime, MetaData, String, Table, event, func, insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from zorg_common.consumer import BatchHandler, ConsumerSpec, Handler
from zorg_common.db import BulkInsert
from zorg_common.events import TOPIC_PROVIDERS, Address, CloudEvent, Event, ProviderUpdated, envelope, topic_name
from zorg_common.kafka import consumer_for, ensure_topics, producer_for
from zorg_common.service import Runtime, tune_process
from zorg_common.testing import kafka_bootstrap, temporary_database
from zorg_common.uow import UnitOfWork
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.settings import ContractingSettings
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings

log = logging.getLogger("bench.events")

T = TypeVar("T")

PHASES = ("throughput", "stages", "latency", "raw")
TARGET_RATIO = 1 / 3
TARGET_P99_MS = 200.0
TARGET_RATE = 1000.0
DISTURBED_PCT = 25.0  # CPU (% of one core) used by others during a phase above which we say so
CONSUMER_GROUP = "bench.events"
SOURCE = f"/zorg/{ELIGIBILITY.name}"

# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    events: int
    tx_size: int
    writers: int
    keys: int
    rate: float
    latency_seconds: float
    warmup_seconds: float
    latency_tx_size: int
    handler: Literal["row", "batch", "inbox"]
    loop: Literal["uvloop", "asyncio"]
    phases: tuple[str, ...]
    settings: dict[str, Any]
    timeout: float
    run_id: str


def parse_args(argv: Sequence[str]) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="bench/events.py",
        description="Outbox -> relay -> Kafka -> inbox consumer: throughput, latency, and the raw aiokafka baseline.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 events, 3 s latency phase")
    parser.add_argument("--events", type=int, help="events in the throughput, stages and raw phases (100,000)")
    parser.add_argument("--tx-size", type=int, default=100, help="events per transaction in the throughput phase")
    parser.add_argument("--writers", type=int, default=1, help="concurrent writing transactions (throughput)")
    parser.add_argument("--keys", type=int, default=1000, help="distinct provider keys (AGB codes)")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="offered events/s in the latency phase")
    parser.add_argument("--latency-seconds", type=float, help="length of the latency phase (10; --quick 3)")
    parser.add_argument("--warmup-seconds", type=float, help="latency-phase warm-up left out of the figures (1)")
    parser.add_argument(
        "--latency-tx-size", type=int, default=10, help="events per transaction in the latency phase (10: 100 tx/s)"
    )
    parser.add_argument(
        "--handler",
        choices=("row", "batch", "inbox"),
        default="batch",
        help="batch: a batch handler inserts a run of events in one statement, as the services' busy consumers "
        "do (default); row: a per-event handler inserts one row per event (a round trip each); inbox: the "
        "handler does nothing",
    )
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), help="event loop (uvloop when installed, as uvicorn)")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument("--relay-batch", type=int, help="RELAY_BATCH_SIZE (settings default: 1,000)")
    parser.add_argument("--consumer-batch", type=int, help="CONSUMER_BATCH_SIZE (settings default: 1,000)")
    parser.add_argument("--partitions", type=int, help="KAFKA_TOPIC_PARTITIONS (settings default: 6)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a phase may wait for its consumer")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    loop = args.loop
    if loop is None:
        try:
            import uvloop  # noqa: F401

            loop = "uvloop"
        except ImportError:
            loop = "asyncio"
    settings: dict[str, Any] = {}
    if args.relay_batch:
        settings["RELAY_BATCH_SIZE"] = args.relay_batch
    if args.consumer_batch:
        settings["CONSUMER_BATCH_SIZE"] = args.consumer_batch
    if args.partitions:
        settings["KAFKA_TOPIC_PARTITIONS"] = args.partitions
    config = Config(
        events=args.events or (2_000 if args.quick else 100_000),
        tx_size=args.tx_size,
        writers=args.writers,
        keys=args.keys,
        rate=args.rate,
        latency_seconds=args.latency_seconds or (3.0 if args.quick else 10.0),
        warmup_seconds=args.warmup_seconds if args.warmup_seconds is not None else (0.5 if args.quick else 1.0),
        latency_tx_size=args.latency_tx_size,
        handler=args.handler,
        loop=loop,
        phases=tuple(p for p in PHASES if p in phases),
        settings=settings,
        timeout=args.timeout,
        run_id=f"{os.getpid()}{int(time.time()) % 100_000}",
    )
    for name in ("events", "tx_size", "writers", "keys", "latency_tx_size"):
        if getattr(config, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return config, args


def run_loop(kind: str, coro: Coroutine[Any, Any, T]) -> T:
    if kind == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


# --- the events ------------------------------------------------------------------------------


def make_events(count: int, keys: int, offset: int = 0) -> list[ProviderUpdated]:
    """Claim-sized provider events (about 500 bytes as a CloudEvent), spread over ``keys`` AGB codes."""
    return [
        ProviderUpdated(
            agb=f"{10_000_000 + (offset + i) % keys:08d}",
            kvk=f"{60_000_000 + (offset + i) % keys:08d}",
            name=f"Praktijk voor psychologie {offset + i}",
            kind="individual",
            sectors=["GGZ"],
            address=Address(street="Oudegracht 1", postcode="3511AA", city="Utrecht"),
            care_forms=["in_person", "digital"],
            version=offset + i + 1,
            changed_fields=["name", "address"],
        )
        for i in range(count)
    ]


# --- the consuming service (a child process) -------------------------------------------------

bench_metadata = MetaData()
received = Table(
    "bench_received",
    bench_metadata,
    Column("event_id", String(36), primary_key=True),
    Column("agb", String(8), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


@dataclass(frozen=True)
class ConsumerJob:
    kind: Literal["outbox", "raw"]
    bootstrap: str
    prefix: str
    expected: int
    loop: str
    settings: dict[str, Any]
    database_url: str | None = None
    handler: str = "batch"


@dataclass
class ConsumerResult:
    count: int = 0
    ready_at: float = 0.0
    first: float = 0.0
    last: float = 0.0
    stamps: dict[str, float] = field(default_factory=dict)  # event id -> consumer commit (outbox only)
    error: str | None = None


class Recorder:
    """Stamps event ids with the time their consumer transaction committed."""

    KEY = "bench_event_ids"

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.result = ConsumerResult()
        self.done = asyncio.Event()

    def pending(self, session: Session) -> list[str]:
        ids: list[str] | None = session.info.get(self.KEY)
        if ids is None:
            ids = session.info[self.KEY] = []
            event.listen(session, "after_commit", self.after_commit)
        return ids

    def after_commit(self, session: Session) -> None:
        ids: list[str] = session.info.pop(self.KEY, [])
        if not ids:
            return
        now = time.time()
        stamps = self.result.stamps
        for event_id in ids:
            stamps.setdefault(event_id, now)
        if not self.result.first:
            self.result.first = now
        self.result.last = now
        self.result.count = len(stamps)
        if self.result.count >= self.expected:
            self.done.set()


def make_batch_handler(recorder: Recorder) -> BatchHandler:
    rows = BulkInsert(received, ["event_id", "agb"])

    async def handle(uow: UnitOfWork, items: Sequence[tuple[CloudEvent, Event]]) -> None:
        session = uow.session
        recorder.pending(session.sync_session).extend(ce.id for ce, _ in items)
        await rows.execute(session, [{"event_id": ce.id, "agb": data.agb} for ce, data in items])

    return handle


def make_handler(recorder: Recorder, write_row: bool) -> Handler:
    async def handle(uow: UnitOfWork, cloud_event: CloudEvent, data: Event) -> None:
        session = uow.session
        recorder.pending(session.sync_session).append(cloud_event.id)
        if write_row:
            await session.execute(insert(received).values(event_id=cloud_event.id, agb=data.agb))

    return handle


class ParentLink:
    """The child's end of the pipe: reports to the parent and hears its "stop"."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.stopped = False
        self.reported = False

    def stop_requested(self) -> bool:
        if not self.stopped and self.conn.poll():
            with contextlib.suppress(EOFError, OSError):
                self.conn.recv()
            self.stopped = True
        return self.stopped

    def send(self, kind: str, value: object) -> None:
        self.conn.send((kind, value))
        self.reported = self.reported or kind == "done"

    async def until(self, done: asyncio.Event) -> None:
        """Until ``done`` or the parent says stop."""
        while not done.is_set() and not self.stop_requested():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), 0.05)

    async def finish(self, result: ConsumerResult) -> None:
        """Report, then stay up until told to stop: the parent reads our CPU (and our database
        backends') from /proc while we and our connections still exist."""
        self.send("done", result)
        await self.until(asyncio.Event())


async def _consume_outbox(job: ConsumerJob, parent: ParentLink) -> None:
    assert job.database_url is not None
    settings = ContractingSettings(
        DATABASE_URL=job.database_url,
        KAFKA_BOOTSTRAP_SERVERS=job.bootstrap,
        KAFKA_TOPIC_PREFIX=job.prefix,
        **job.settings,
    )
    recorder = Recorder(job.expected)
    consumer_spec = ConsumerSpec(
        group=CONSUMER_GROUP,
        topics=(TOPIC_PROVIDERS,),
        handlers={} if job.handler == "batch" else {ProviderUpdated.TYPE: make_handler(recorder, job.handler == "row")},
        batch_handlers={ProviderUpdated.TYPE: make_batch_handler(recorder)} if job.handler == "batch" else {},
    )
    runtime = Runtime(dataclasses.replace(CONTRACTING, consumers=(consumer_spec,)), settings)
    try:
        async with runtime.engine.begin() as db:
            await db.run_sync(bench_metadata.create_all)
        await runtime.start_workers(relay=False, consumers=True)
        runner = runtime.consumers[0]
        await runner.assigned.wait()
        recorder.result.ready_at = time.time()
        parent.send("ready", recorder.result.ready_at)
        await parent.until(recorder.done)
        await parent.finish(recorder.result)
    finally:
        await runtime.close()


async def _consume_raw(job: ConsumerJob, parent: ParentLink) -> None:
    settings = ContractingSettings(KAFKA_BOOTSTRAP_SERVERS=job.bootstrap, KAFKA_TOPIC_PREFIX=job.prefix, **job.settings)
    topic = topic_name(job.prefix, TOPIC_PROVIDERS)
    result = ConsumerResult()
    consumer = consumer_for(settings, topic_name(job.prefix, CONSUMER_GROUP), [topic])
    await consumer.start()
    try:
        while result.count < job.expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=settings.CONSUMER_BATCH_SIZE)
            if not result.ready_at and consumer.assignment():
                result.ready_at = time.time()
                parent.send("ready", result.ready_at)
            if batches:
                result.count += sum(len(records) for records in batches.values())
                await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items() if records})
                result.last = time.time()
                result.first = result.first or result.last
            elif parent.stop_requested():
                break
        await parent.finish(result)
    finally:
        await consumer.stop()


def consumer_process(job: ConsumerJob, conn: Connection) -> None:
    """Entry point of the child process: sends ("ready", time), ("done", ConsumerResult); ends on "stop"."""
    configure_logging()
    tune_process()  # as `zorg worker` does
    parent = ParentLink(conn)
    consume = _consume_outbox if job.kind == "outbox" else _consume_raw
    try:
        run_loop(job.loop, consume(job, parent))
    except BaseException as exc:
        if not parent.reported:
            with contextlib.suppress(OSError):
                parent.send("done", ConsumerResult(error=f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class ConsumerProcess:
    """The parent's handle on the consuming service's process."""

    def __init__(self, job: ConsumerJob) -> None:
        context = multiprocessing.get_context("spawn")
        self.job = job
        self.conn, child = context.Pipe()
        self.process = context.Process(target=consumer_process, args=(job, child), daemon=True)
        self.process.start()
        child.close()
        self.result: ConsumerResult | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    async def _receive(self, timeout: float) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.conn.poll():
            if not self.process.is_alive() and not self.conn.poll():
                raise RuntimeError(f"consumer process ended with exit code {self.process.exitcode}")
            if time.monotonic() > deadline:
                raise TimeoutError
            await asyncio.sleep(0.01)
        message: tuple[str, Any] = self.conn.recv()
        if message[0] == "done":
            self.result = message[1]
        return message

    async def ready(self, timeout: float = 60.0) -> float:
        kind, value = await self._receive(timeout)
        if kind != "ready":
            raise RuntimeError(f"consumer process did not start: {getattr(value, 'error', value)}")
        return float(value)

    async def finished(self, timeout: float) -> ConsumerResult:
        """The result once the consumer has committed every expected event; raises on a timeout."""
        try:
            await self._receive(timeout)
        except TimeoutError:
            self.conn.send("stop")
            with contextlib.suppress(TimeoutError):
                await self._receive(30.0)
            got = self.result.count if self.result else "?"
            raise RuntimeError(
                f"consumer committed {got} of {self.job.expected} events within {timeout:.0f}s"
            ) from None
        assert self.result is not None
        if self.result.error:
            raise RuntimeError(f"consumer process failed: {self.result.error}")
        return self.result

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send("stop")
        self.process.join(30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()


@contextlib.contextmanager
def consuming(job: ConsumerJob) -> Iterator[ConsumerProcess]:
    process = ConsumerProcess(job)
    try:
        yield process
    finally:
        process.close()


# --- the producing service ---------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One phase's two databases, topic prefix and settings."""

    name: str
    producer_url: str
    consumer_url: str
    bootstrap: str
    prefix: str
    config: Config
    broker_pid: int | None = None

    def meter(self, consumer: ConsumerProcess | None) -> CpuMeter:
        pids = {"producer": os.getpid(), "consumer": consumer.pid if consumer else None, "broker": self.broker_pid}
        return CpuMeter(pids, [make_url(self.producer_url).database or "", make_url(self.consumer_url).database or ""])

    def producer_settings(self) -> EligibilitySettings:
        return EligibilitySettings(
            DATABASE_URL=self.producer_url,
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            KAFKA_TOPIC_PREFIX=self.prefix,
            **self.config.settings,
        )

    def consumer_job(self, kind: Literal["outbox", "raw"], expected: int) -> ConsumerJob:
        return ConsumerJob(
            kind=kind,
            bootstrap=self.bootstrap,
            prefix=self.prefix,
            expected=expected,
            loop=self.config.loop,
            settings=self.config.settings,
            database_url=self.consumer_url,
            handler=self.config.handler,
        )

    @property
    def topic(self) -> str:
        return topic_name(self.prefix, TOPIC_PROVIDERS)


async def write_events(
    runtime: Runtime, events: Sequence[Event], tx_size: int, writers: int, commits: dict[str, float]
) -> None:
    """Commit ``events`` through the unit of work, ``tx_size`` per transaction, ``writers`` at a time."""
    chunks = [events[i : i + tx_size] for i in range(0, len(events), tx_size)]

    async def writer(mine: Sequence[Sequence[Event]]) -> None:
        for chunk in mine:
            async with runtime.uow() as uow:
                ids = [uow.emit(e).id for e in chunk]
                await uow.commit()
            now = time.time()
            for event_id in ids:
                commits[event_id] = now

    await asyncio.gather(*(writer(chunks[w::writers]) for w in range(writers)))


async def wait_relayed(runtime: Runtime, count: int, timeout: float) -> float:
    """Wall-clock time at which the relay has sent ``count`` events."""
    deadline = time.monotonic() + timeout
    while True:
        assert runtime.relay is not None
        if runtime.relay.sent_total >= count:
            return time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"relay sent {runtime.relay.sent_total} of {count} events within {timeout:.0f}s")
        await asyncio.sleep(0.002)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latencies_ms(commits: dict[str, float], stamps: dict[str, float]) -> list[float]:
    return sorted((stamps[i] - t) * 1000 for i, t in commits.items() if i in stamps)


async def phase_throughput(phase: Phase) -> dict[str, Any]:
    config = phase.config
    settings = phase.producer_settings()
    await ensure_topics(settings, [phase.topic])
    events = make_events(config.events, config.keys)
    commits: dict[str, float] = {}
    with consuming(phase.consumer_job("outbox", config.events)) as consumer:
        await consumer.ready()
        runtime = Runtime(ELIGIBILITY, settings)
        try:
            await runtime.start_workers(relay=True, consumers=False)
            meter = phase.meter(consumer)
            meter.start()
            start = time.time()
            relayed = asyncio.create_task(wait_relayed(runtime, config.events, config.timeout))
            try:
                await write_events(runtime, events, config.tx_size, config.writers, commits)
                written = time.time()
                relayed_at = await relayed
            finally:
                relayed.cancel()
            result = await consumer.finished(config.timeout)
            cpu = meter.stop()
            cpu_us = meter.per_item_us(cpu, config.events)
        finally:
            await runtime.close()
    lat = latencies_ms(commits, result.stamps)
    elapsed = result.last - start
    return {
        "events": config.events,
        "tx_size": config.tx_size,
        "writers": config.writers,
        "events_per_s": config.events / elapsed,
        "elapsed_s": elapsed,
        "written_s": written - start,
        "relayed_s": relayed_at - start,
        "consumed_s": elapsed,
        "consumed": result.count,
        "loaded_p50_ms": percentile(lat, 50),
        "loaded_p99_ms": percentile(lat, 99),
        "cpu": cpu,
        "cpu_us": cpu_us,
    }


async def phase_stages(phase: Phase) -> dict[str, Any]:
    """Each stage alone: write (no relay), relay (no consumer), consume (a full topic)."""
    config = phase.config
    settings = phase.producer_settings()
    await ensure_topics(settings, [phase.topic])
    events = make_events(config.events, config.keys)
    runtime = Runtime(ELIGIBILITY, settings)
    try:
        start = time.time()
        await write_events(runtime, events, config.tx_size, config.writers, {})
        written = time.time()
        await runtime.start_workers(relay=True, consumers=False)
        relay_start = time.time()
        relayed = await wait_relayed(runtime, config.events, config.timeout)
    finally:
        await runtime.close()
    with consuming(phase.consumer_job("outbox", config.events)) as consumer:
        ready = await consumer.ready()
        result = await consumer.finished(config.timeout)
    return {
        "writer_per_s": config.events / (written - start),
        "relay_per_s": config.events / (relayed - relay_start),
        "consumer_per_s": config.events / (result.last - ready),
    }


async def phase_latency(phase: Phase) -> dict[str, Any]:
    config = phase.config
    settings = phase.producer_settings()
    await ensure_topics(settings, [phase.topic])
    per_tx = config.latency_tx_size
    interval = per_tx / config.rate
    warmup_tx = math.ceil(config.warmup_seconds / interval)
    measured_tx = math.ceil(config.latency_seconds / interval)
    total_tx = warmup_tx + measured_tx
    events = make_events(total_tx * per_tx, config.keys)
    commits: dict[str, float] = {}
    measured: set[str] = set()
    with consuming(phase.consumer_job("outbox", len(events))) as consumer:
        await consumer.ready()
        runtime = Runtime(ELIGIBILITY, settings)
        try:
            await runtime.start_workers(relay=True, consumers=False)
            # Within the pool (not its overflow, whose connections close on return), two left for the relay.
            slots = asyncio.Semaphore(max(1, settings.DATABASE_POOL_SIZE - 2))
            loop = asyncio.get_running_loop()
            late = 0

            async def commit_one(index: int) -> None:
                try:
                    async with runtime.uow() as uow:
                        ids = [uow.emit(e).id for e in events[index * per_tx : (index + 1) * per_tx]]
                        await uow.commit()
                    now = time.time()
                    for event_id in ids:
                        commits[event_id] = now
                    if index >= warmup_tx:
                        measured.update(ids)
                finally:
                    slots.release()

            tasks: list[asyncio.Task[None]] = []
            meter = phase.meter(consumer)
            begin = loop.time() + 0.01
            offered_from = offered_to = 0.0
            for index in range(total_tx):
                due = begin + index * interval
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await slots.acquire()
                if loop.time() - due > 0.010:
                    late += 1
                if index == warmup_tx:
                    offered_from = loop.time()
                    meter.start()
                tasks.append(asyncio.create_task(commit_one(index)))
            offered_to = loop.time()
            await asyncio.gather(*tasks)
            cpu = meter.stop()
            result = await consumer.finished(config.timeout)
        finally:
            await runtime.close()
    lat = latencies_ms({i: t for i, t in commits.items() if i in measured}, result.stamps)
    offered_rate = (measured_tx - 1) * per_tx / (offered_to - offered_from) if measured_tx > 1 else math.nan
    return {
        "rate": config.rate,
        "seconds": config.latency_seconds,
        "tx_size": per_tx,
        "offered_per_s": offered_rate,
        "late_tx": late,
        "samples": len(lat),
        "p50_ms": percentile(lat, 50),
        "p90_ms": percentile(lat, 90),
        "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1] if lat else math.nan,
        "cpu": cpu,
    }


async def phase_raw(phase: Phase) -> dict[str, Any]:
    config = phase.config
    settings = phase.producer_settings()
    await ensure_topics(settings, [phase.topic])
    messages = [
        (ce.subject or "", ce.to_json(), ce.type, ce.id)
        for ce in (envelope(e, SOURCE) for e in make_events(config.events, config.keys))
    ]
    size = sum(len(m[1]) for m in messages) / len(messages)
    with consuming(phase.consumer_job("raw", config.events)) as consumer:
        await consumer.ready()
        producer = producer_for(settings, client_suffix="bench-raw")
        await producer.start()
        meter = phase.meter(consumer)
        try:
            meter.start()
            start = time.time()
            futures = [
                await producer.send(
                    phase.topic,
                    value=value,
                    key=key.encode(),
                    headers=[("ce_type", ce_type.encode()), ("ce_id", ce_id.encode())],
                )
                for key, value, ce_type, ce_id in messages
            ]
            await asyncio.gather(*futures)
            produced = time.time()
        finally:
            await producer.stop()
        result = await consumer.finished(config.timeout)
        cpu = meter.stop()
        cpu_us = meter.per_item_us(cpu, config.events)
    elapsed = result.last - start
    return {
        "messages": config.events,
        "bytes": size,
        "msgs_per_s": config.events / elapsed,
        "produced_per_s": config.events / (produced - start),
        "elapsed_s": elapsed,
        "cpu": cpu,
        "cpu_us": cpu_us,
    }


PHASE_FUNCTIONS: dict[str, Callable[[Phase], Coroutine[Any, Any, dict[str, Any]]]] = {
    "throughput": phase_throughput,
    "stages": phase_stages,
    "latency": phase_latency,
    "raw": phase_raw,
}


# --- report ------------------------------------------------------------------------------------


def _n(value: float, digits: int = 0) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _cpu(figures: dict[str, Any]) -> str:
    cpu: dict[str, float] = figures.get("cpu") or {}
    order = ("producer", "consumer", "postgres", "broker", "others")
    return "  ".join(f"{name} {cpu[name]:.0f}" for name in order if name in cpu) or "-"


def _cpu_us(figures: dict[str, Any]) -> str:
    per: dict[str, float] = figures.get("cpu_us") or {}
    if not per:
        return "-"
    order = ("producer", "consumer", "postgres", "broker")
    return "  ".join(f"{name} {per[name]:.1f}" for name in order if name in per) + f"  total {sum(per.values()):.1f}"


def report(config: Config, bootstrap: str, external: bool, figures: dict[str, dict[str, Any]]) -> list[str]:
    rows: list[tuple[str, str, str]] = []
    t = figures.get("throughput")
    if t:
        what = f"{t['events']:,} events, tx of {t['tx_size']}, {t['writers']} writer(s)"
        rows += [
            ("1 outbox path throughput", what, f"{_n(t['events_per_s'])} events/s"),
            ("    writer done (all committed)", "since first commit", f"{t['written_s']:.2f} s"),
            ("    relay done (all sent, acked)", "since first commit", f"{t['relayed_s']:.2f} s"),
            ("    consumer done (all committed)", "since first commit", f"{t['consumed_s']:.2f} s"),
            ("    commit->consumer under load", "p50 / p99", f"{_n(t['loaded_p50_ms'])} / {_n(t['loaded_p99_ms'])} ms"),
            ("    cpu, % of one core", f"of {os.cpu_count()} cores", _cpu(t)),
            ("    cpu per event, microseconds", "", _cpu_us(t)),
        ]
    s = figures.get("stages")
    if s:
        rows += [
            ("  stages alone: writer", "commit, no relay running", f"{_n(s['writer_per_s'])} events/s"),
            ("  stages alone: relay", "full outbox, no consumer", f"{_n(s['relay_per_s'])} events/s"),
            ("  stages alone: consumer", "full topic", f"{_n(s['consumer_per_s'])} events/s"),
        ]
    lat = figures.get("latency")
    if lat:
        what = f"{_n(lat['rate'])}/s for {lat['seconds']:g} s, tx of {lat['tx_size']}"
        rows += [
            ("2 latency commit->consumer commit", what, f"p50 {_n(lat['p50_ms'], 1)} ms"),
            ("", "", f"p90 {_n(lat['p90_ms'], 1)} ms"),
            ("", "", f"p99 {_n(lat['p99_ms'], 1)} ms"),
            ("", "", f"max {_n(lat['max_ms'], 1)} ms"),
            ("    offered rate achieved", f"{lat['samples']:,} samples", f"{_n(lat['offered_per_s'])} events/s"),
            ("    cpu, % of one core", "while offering", _cpu(lat)),
        ]
    r = figures.get("raw")
    if r:
        what = f"{r['messages']:,} msgs of {_n(r['bytes'])} B"
        rows += [
            ("3 raw aiokafka produce+consume", what, f"{_n(r['msgs_per_s'])} msgs/s"),
            ("    of which produce alone", "acked", f"{_n(r['produced_per_s'])} msgs/s"),
            ("    cpu, % of one core", "", _cpu(r)),
            ("    cpu per message, microseconds", "", _cpu_us(r)),
        ]
    verdicts = figures.get("targets", {})
    if "ratio" in verdicts:
        rows.append(("4 ratio outbox path / raw", f"target >= {TARGET_RATIO:.2f}", f"{verdicts['ratio']:.2f}"))
    width = [max(len(row[i]) for row in rows) if rows else 0 for i in range(3)]
    lines = [
        f"bench/events.py  broker {'external' if external else 'bundled'} {bootstrap}  loop {config.loop}  "
        f"handler {config.handler}  settings {config.settings or 'defaults'}",
        "-" * (sum(width) + 6),
    ]
    lines += [f"{a:<{width[0]}}  {b:<{width[1]}}  {c:>{width[2]}}" for a, b, c in rows]
    lines.append("-" * (sum(width) + 6))
    for text in verdicts.get("lines", []):
        lines.append(text)
    for name in PHASES:
        others = (figures.get(name) or {}).get("cpu", {}).get("others", 0.0)
        if others > DISTURBED_PCT:
            lines.append(
                f"note: other work on this machine used {others:.0f}% of a core during {name}: figures disturbed"
            )
    return lines


def judge(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    verdict: dict[str, Any] = {"lines": []}
    t, r, lat = figures.get("throughput"), figures.get("raw"), figures.get("latency")
    if t and r:
        ratio = t["events_per_s"] / r["msgs_per_s"]
        verdict["ratio"] = ratio
        verdict["ratio_met"] = ratio >= TARGET_RATIO
        verdict["lines"].append(
            f"target: outbox path at least a third of the raw rate:  {ratio:.2f} x raw  "
            f"-> {'MET' if verdict['ratio_met'] else 'NOT MET'}"
        )
    if lat:
        at_rate = lat["rate"] >= TARGET_RATE and lat["offered_per_s"] >= 0.95 * TARGET_RATE
        verdict["p99_met"] = bool(at_rate and lat["p99_ms"] < TARGET_P99_MS)
        note = "" if at_rate else f" (offered only {_n(lat['offered_per_s'])}/s: not a test of the target)"
        verdict["lines"].append(
            f"target: p99 under {TARGET_P99_MS:.0f} ms at {TARGET_RATE:,.0f} events/s:  p99 {_n(lat['p99_ms'], 1)} ms"
            f"  -> {'MET' if verdict['p99_met'] else 'NOT MET'}{note}"
        )
    return verdict


# --- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    config, args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging()
    tune_process()  # this process plays the producing service, as `zorg serve` runs it
    # An explicit DATABASE_URL loses to <SERVICE>_DATABASE_URL in the settings: keep ours.
    for name in (ELIGIBILITY.name, CONTRACTING.name):
        os.environ.pop(f"{name.upper()}_DATABASE_URL", None)
    began = time.monotonic()
    figures: dict[str, dict[str, Any]] = {}
    with kafka_bootstrap() as (bootstrap, broker):
        for name in config.phases:
            prefix = f"bench{config.run_id}.{name}."
            print(f"[events] {name} ...", file=sys.stderr, flush=True)
            with (
                temporary_database("bench_eligibility", migrations=ELIGIBILITY.migrations) as producer_url,
                temporary_database("bench_contracting", migrations=CONTRACTING.migrations) as consumer_url,
            ):
                broker_pid = broker.process.pid if broker is not None and broker.process is not None else None
                phase = Phase(name, producer_url, consumer_url, bootstrap, prefix, config, broker_pid)
                figures[name] = run_loop(config.loop, PHASE_FUNCTIONS[name](phase))
        external = broker is None
    figures["targets"] = judge(figures)
    print("\n".join(report(config, bootstrap, external, figures)))
    print(f"({time.monotonic() - began:.1f} s in all)")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"config": dataclasses.asdict(config), "figures": figures}, out, indent=2, default=str)
    if args.strict and not all(v for k, v in figures["targets"].items() if k.endswith("_met")):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
