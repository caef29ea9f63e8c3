"""Harness for tests and benchmarks: throw-away PostgreSQL databases and a broker to talk to.

Real parts only: a database created on a real PostgreSQL server (``TEST_DATABASE_URL``) and
dropped afterwards, and the bundled broker (or ``KAFKA_BOOTSTRAP_SERVERS``, or a
testcontainers Kafka when a Docker engine answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import make_url

from .broker import BundledBroker, free_port

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432"


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion, also when called from inside a running loop (async tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def use_testcontainers() -> bool:
    """Containers for PostgreSQL and Kafka when a Docker engine answers and testcontainers is installed.

    ``ZORG_TEST_TESTCONTAINERS=0`` turns them off (use the local services even with Docker).
    """
    if os.environ.get("ZORG_TEST_TESTCONTAINERS") == "0" or not docker_available():
        return False
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        return False
    return True


def _server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


async def _admin(sql: str, server_url: str) -> None:
    import asyncpg

    url = make_url(server_url.replace("+asyncpg", "")).set(database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(prefix: str = "zorg_test", server_url: str | None = None) -> str:
    """Create a fresh database and return its (plain ``postgresql://``) URL."""
    server_url = server_url or _server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _run(_admin(f'CREATE DATABASE "{name}"', server_url))
    return make_url(server_url.replace("+asyncpg", "")).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    server = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server))


@contextlib.contextmanager
def temporary_database(prefix: str = "zorg_test", migrations: str | None = None) -> Iterator[str]:
    """A database that exists for the ``with`` block, migrated with ``migrations`` if given."""
    url = create_database(prefix)
    try:
        if migrations:
            from .migrations import upgrade

            upgrade(migrations, url)
        yield url
    finally:
        drop_database(url)


@contextlib.contextmanager
def kafka_bootstrap() -> Iterator[tuple[str, BundledBroker | None]]:
    """Bootstrap servers for the block, and the bundled broker when we started it (to pause it)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external, None
        return
    if use_testcontainers():  # pragma: no cover - no Docker engine here
        from testcontainers.kafka import KafkaContainer

        container: Any = KafkaContainer().with_kraft()
        with container:
            yield container.get_bootstrap_server(), None
        return
    broker = BundledBroker(free_port()).start()
    try:
        yield broker.bootstrap, broker
    finally:
        broker.stop()
