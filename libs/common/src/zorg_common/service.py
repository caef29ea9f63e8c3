"""What a service is to the platform: its spec, and the runtime (database, relay, consumers) of one process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import click
import httpx
from fastapi import APIRouter
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import tracing
from .consumer import ConsumerRunner, ConsumerSpec
from .db import create_engine, describe_error, session_factory
from .events import TOPICS, topic_name
from .kafka import ensure_topics, wait_for_broker
from .relay import OutboxRelay
from .settings import ServiceSettings
from .supervision import LoopHealth, supervise, watch
from .uow import UnitOfWork

log = logging.getLogger(__name__)

#: Loads a service's demo data through its HTTP API: (client with base URL, token factory). What it
#: returns, if anything, `zorg up` prints once the platform is up (how to log in to a demo account).
DemoLoader = Callable[[httpx.AsyncClient, Callable[..., str]], Awaitable[str | None]]
#: A service's own background work (a retry loop, a listener): runs until the event is set.
Worker = Callable[["Runtime", asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the platform needs to know to run, migrate and demo one service."""

    name: str
    port: int
    settings_cls: type[ServiceSettings]
    metadata: MetaData
    migrations: str  # the package holding the Alembic environment, e.g. "zorg_claims.migrations"
    routers: Sequence[APIRouter] = ()
    consumers: Sequence[ConsumerSpec] = ()
    #: Run wherever the consumers run: inside `zorg serve` (ZORG_RUN_WORKERS) or in `zorg worker`.
    workers: Sequence[Worker] = ()
    topics: Sequence[str] = TOPICS
    #: The topics this service's outbox relay writes (its events), for the AsyncAPI document.
    publishes: Sequence[str] = ()
    demo: DemoLoader | None = None
    demo_order: int = 100  # lower loads first (providers before contracts before claims)
    #: Loaded after every service's ``demo``, in the same order: demo data that reads what other
    #: services' demos made (a simulation over the demo's claims, the projections of an offer).
    demo_followup: DemoLoader | None = None
    cli: click.Group | None = None
    title: str = ""
    description: str = ""
    #: ``{"ports": {"SETTING": port}}``: other ports the service listens on (`zorg up` offsets them);
    #: ``{"page": True}``: it serves a page whose script calls the other services from the browser
    #: (`zorg up` lets that origin through their CORS).
    extra: dict[str, Any] = field(default_factory=dict)


def tune_process() -> None:
    """Garbage collection for a long-running service process: call once, after start-up.

    Every batch of events allocates many short-lived objects; with CPython's default threshold
    (700) the collector runs hundreds of times a second and, in the event benchmark, costs a
    fifth of a consumer's CPU. Objects that exist after start-up (modules, settings, compiled
    statements) are frozen out of collection, and young objects are collected every 50,000
    allocations instead of 700. Memory stays bounded: reference counting frees almost
    everything, the collector only finds cycles.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class Runtime:
    """One process's share of a service: engine, sessions, relay and consumers."""

    def __init__(self, spec: ServiceSpec, settings: ServiceSettings | None = None) -> None:
        self.spec = spec
        self.settings = settings or spec.settings_cls()
        self.engine: AsyncEngine = create_engine(
            self.settings.database_url,
            pool_size=self.settings.DATABASE_POOL_SIZE,
            max_overflow=self.settings.DATABASE_MAX_OVERFLOW,
            echo=self.settings.DATABASE_ECHO,
        )
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.relay: OutboxRelay | None = None
        self.consumers: list[ConsumerRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop_workers = asyncio.Event()
        #: The health of every loop this process runs (relay, consumers, workers), for the probes.
        self.loops: list[LoopHealth] = []
        self._broker_seen = False
        self._broker_seen_at = 0.0
        #: A service's own per-process objects, shared by its routes and workers (like ``app.state``).
        self.state: dict[str, Any] = {}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(
            self.sessions,
            source=f"/zorg/{self.spec.name}",
            topic_prefix=self.settings.KAFKA_TOPIC_PREFIX,
            on_commit=self.relay.wake if self.relay is not None else None,
        )

    def topic(self, name: str) -> str:
        return topic_name(self.settings.KAFKA_TOPIC_PREFIX, name)

    async def start_workers(self, *, relay: bool = True, consumers: bool = True) -> None:
        """Start the relay and/or consumers as background tasks of this event loop, each supervised:
        a loop that fails starts again, and one that does not recover fails ``readiness()``."""
        # The tasks copy this context: their own polls and bookkeeping make no spans, the work for an event does.
        with tracing.untraced():
            await self._start_workers(relay=relay, consumers=consumers)

    async def _start_workers(self, *, relay: bool, consumers: bool) -> None:
        try:
            # Before anything produces: a topic auto-created by a send would get the broker's
            # partition count instead of ours.
            await asyncio.wait_for(ensure_topics(self.settings, [self.topic(t) for t in self.spec.topics]), 15)
        except Exception as exc:
            log.warning("could not make sure the topics exist (%s); the workers will retry the broker", exc)
        if relay:
            self.relay = OutboxRelay(self.settings, self.engine, self.sessions, name=self.spec.name)
            self._start(self.relay.run(), self.relay.health)
        if consumers and not (self.spec.consumers or self.spec.workers):
            log.info("%s has no consumers; nothing to consume", self.spec.name)
        if consumers:
            for work in self.spec.workers:
                self._start_worker(work)
            for spec in self.spec.consumers:
                runner = ConsumerRunner(
                    self.settings, self.sessions, spec, on_commit=self.relay.wake if self.relay else None
                )
                self.consumers.append(runner)
                self._start(runner.run(), runner.health)

    def _start_worker(self, work: Worker) -> None:
        name = f"{self.spec.name}-{getattr(work, '__name__', 'worker')}"
        health = LoopHealth.of(self.settings, "worker", name, reports_progress=False)
        self._start(
            supervise(health, lambda: work(self, self._stop_workers), self._stop_workers, self.settings), health
        )

    def _start(self, loop: Coroutine[Any, Any, None], health: LoopHealth) -> None:
        task = asyncio.create_task(loop, name=f"{health.kind}-{health.name}")
        watch(task, health, self._stop_workers)
        self._tasks.append(task)
        self.loops.append(health)

    async def stop_workers(self) -> None:
        self._stop_workers.set()
        if self.relay is not None:
            self.relay.stop()
        for runner in self.consumers:
            runner.stop()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=15)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("worker %s ended with %r", task.get_name(), task.exception())
        self._tasks.clear()

    async def close(self) -> None:
        await self.stop_workers()
        await self.engine.dispose()

    async def database_ready(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:
            log.warning("database not reachable: %s", describe_error(exc))
            return False

    async def broker_ready(self) -> bool:
        """Whether the broker answers; probes come often, so it is asked at most every 5 s while it does."""
        now = time.monotonic()
        if now - self._broker_seen_at > 5.0 or not self._broker_seen:
            try:
                await asyncio.wait_for(wait_for_broker(self.settings, timeout=3.0), 4.0)
                self._broker_seen = True
            except Exception:
                self._broker_seen = False
            self._broker_seen_at = now
        return self._broker_seen

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: the database and the broker answer, and every loop of this process is healthy."""
        database = await self.database_ready()
        broker = await self.broker_ready()
        loops = {health.name: health.state for health in self.loops}
        ready = database and broker and all(health.healthy for health in self.loops)
        body: dict[str, Any] = {
            "status": "ready" if ready else "not ready",
            "database": "ok" if database else "unreachable",
            "broker": "ok" if broker else "unreachable",
        }
        if loops:
            body["loops"] = loops
        return ready, body

    @contextlib.asynccontextmanager
    async def running(self, *, relay: bool = True, consumers: bool = True) -> AsyncIterator[Runtime]:
        await self.start_workers(relay=relay, consumers=consumers)
        try:
            yield self
        finally:
            await self.close()
