"""Fixtures over real parts: PostgreSQL databases created and dropped per test, and a real broker."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from zorg_common import tracing
from zorg_common.broker import BundledBroker
from zorg_common.testing import (
    DEFAULT_TEST_DATABASE_URL,
    create_database,
    drop_database,
    kafka_bootstrap,
    use_testcontainers,
)


@dataclass
class Kafka:
    bootstrap: str
    broker: BundledBroker | None  # None when the broker is external (cannot be paused)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The PostgreSQL server: TEST_DATABASE_URL, else a container when Docker answers, else the local one."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
    elif use_testcontainers():  # pragma: no cover - no Docker engine here
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver=None) as pg:
            yield pg.get_connection_url()
    else:
        yield DEFAULT_TEST_DATABASE_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test (dropped afterwards)."""
    url = create_database("zorg_test", pg_server)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def make_pg_url(pg_server: str) -> Iterator[Callable[[], str]]:
    """Several fresh databases for one test (one per service it plays)."""
    made: list[str] = []

    def make() -> str:
        made.append(create_database("zorg_test", pg_server))
        return made[-1]

    yield make
    for url in made:
        drop_database(url)


@pytest.fixture(scope="session")
def kafka() -> Iterator[Kafka]:
    with kafka_bootstrap() as (bootstrap, broker):
        yield Kafka(bootstrap, broker)


@pytest.fixture
def topic_prefix() -> str:
    """Topics and consumer groups of one test, apart from every other test's on the shared broker."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(autouse=True)
def _no_fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZORG_TODAY", raising=False)


@pytest.fixture(autouse=True)
def _no_trace_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests trace only where they ask to (``spans``), and never to a collector of the machine's."""
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, every finished span kept in memory (request it before the apps it traces)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
