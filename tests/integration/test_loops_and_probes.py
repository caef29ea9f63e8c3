"""Loops that fail come back, or their process says so: consumers, workers, the probes of `zorg worker`/`zorg relay`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY

from tests.conftest import Kafka, eventually
from tests.integration.backbone import background, caught_up, service_pair, settings_for
from tests.support import APPLY, applied_count, applied_rows, provider_updated, running_app
from zorg_common.broker import free_port
from zorg_common.consumer import ConsumerRunner
from zorg_common.migrations import upgrade
from zorg_common.probes import probe_server
from zorg_common.relay import OutboxRelay
from zorg_common.service import Runtime
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings
from zorg_publication.service import SPEC as PUBLICATION

pytestmark = pytest.mark.integration

#: Restarts fast enough for a test, and a loop counts as not recovering after two failures in a row.
FAST = {"LOOP_RESTART_BACKOFF_S": 0.05, "LOOP_RESTART_MAX_S": 0.2, "LOOP_FAILURES_UNHEALTHY": 2}
METRICS = ("zorg_consumer_lag", "zorg_outbox_backlog", "zorg_consumer_dead_letters_total", "zorg_consumer_up")


class LosesTheBroker(ConsumerRunner):
    """Its ``getmany`` fails ``broken`` times (a broken broker connection), wherever it is in its life."""

    broken = 0

    async def _start(self) -> None:
        await super()._start()
        assert self._consumer is not None
        poll = self._consumer.getmany

        async def getmany(*args: Any, **kwargs: Any) -> Any:
            if self.broken > 0:
                self.broken -= 1
                raise KafkaConnectionError("connection to the broker lost")
            return await poll(*args, **kwargs)

        self._consumer.getmany = getmany


async def test_a_consumer_whose_poll_fails_starts_again_and_handles_later_events(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix, **{**FAST, "LOOP_FAILURES_UNHEALTHY": 5}) as pair:
        relay = OutboxRelay(pair.producer.settings, pair.producer.engine, pair.producer.sessions)
        runner = LosesTheBroker(pair.consumer.settings, pair.consumer.sessions, APPLY)
        async with background(relay.run, runner.run):
            await pair.emit(provider_updated("11111111", 1))
            await eventually(lambda: _count_is(pair, 1))
            runner.broken = 2  # the next two polls fail: the loop ends twice and is started again
            await eventually(lambda: _true(runner.health.restarts == 2))
            await pair.emit(provider_updated("11111111", 2), provider_updated("22222222", 1))
            await eventually(lambda: _count_is(pair, 3))
            await eventually(lambda: caught_up(runner))
            assert runner.health.state == "running" and runner.health.failures == 0
        assert sorted((r.agb, r.version) for r in await applied_rows(pair.consumer.engine)) == [
            ("11111111", 1),
            ("11111111", 2),
            ("22222222", 1),
        ]
        labels = {"kind": "consumer", "loop": runner.group}
        assert REGISTRY.get_sample_value("zorg_loop_restarts_total", labels) == 2
        assert REGISTRY.get_sample_value("zorg_consumer_up", {"group": runner.group}) == 0  # it has stopped


async def never_works(runtime: Runtime, stop: asyncio.Event) -> None:
    raise RuntimeError("the mail relay refuses every connection")


async def test_a_loop_that_cannot_recover_makes_the_probe_and_the_api_not_ready(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    url = make_pg_url()
    upgrade(ELIGIBILITY.migrations, url)
    spec = dataclasses.replace(ELIGIBILITY, workers=(never_works,))
    settings = settings_for(
        EligibilitySettings, url, kafka, topic_prefix, ZORG_PROBE_PORT=free_port(), ZORG_PROBE_HOST="127.0.0.1", **FAST
    )
    runtime = Runtime(spec, settings)
    async with (
        probe_server(runtime) as port,
        runtime.running(relay=True, consumers=True),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as probes,
    ):
        assert (await probes.get("/healthz")).status_code == 200

        async def not_ready() -> Any:
            response = await probes.get("/readyz")
            return response if response.status_code == 503 else None

        response = await eventually(not_ready, timeout=30)
        body = response.json()
        assert body["database"] == "ok" and body["broker"] == "ok"
        assert body["loops"] == {"eligibility-never_works": "failing", "eligibility": "running"}
        metrics = (await probes.get("/metrics")).text
        assert 'zorg_loop_healthy{kind="worker",loop="eligibility-never_works"} 0.0' in metrics

    # The API process that runs its workers says the same on its own /readyz.
    async with running_app(spec, settings) as api:

        async def api_not_ready() -> Any:
            response = await api.get("/readyz")
            return response if response.status_code == 503 else None

        body = (await eventually(api_not_ready, timeout=30)).json()
        assert body["loops"]["eligibility-never_works"] == "failing"
        assert (await api.get("/healthz")).status_code == 200


async def test_without_a_failing_loop_the_probe_is_ready(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    url = make_pg_url()
    upgrade(ELIGIBILITY.migrations, url)
    settings = settings_for(EligibilitySettings, url, kafka, topic_prefix, ZORG_PROBE_PORT=free_port(), **FAST)
    runtime = Runtime(ELIGIBILITY, settings)
    async with (
        probe_server(runtime) as port,
        runtime.running(relay=True, consumers=False),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as probes,
    ):
        ready = await probes.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["loops"] == {"eligibility": "running"}


@contextlib.contextmanager
def zorg_process(command: str, service: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "zorg_common.cli", command, service], env={**os.environ, **env})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


@pytest.mark.parametrize(("command", "service"), [("worker", "publication"), ("relay", "eligibility")])
async def test_zorg_worker_and_relay_answer_their_probes_on_zorg_probe_port(
    command: str, service: str, make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    url = make_pg_url()
    upgrade((PUBLICATION if service == "publication" else ELIGIBILITY).migrations, url)
    port = free_port()
    env = {
        f"{service.upper()}_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": "2",
        "ZORG_PROBE_PORT": str(port),
        "ZORG_PROBE_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    with zorg_process(command, service, env) as proc:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as probes:

            async def answers(path: str) -> Any:
                assert proc.poll() is None, f"zorg {command} {service} exited"
                with contextlib.suppress(httpx.HTTPError):
                    response = await probes.get(path)
                    return response if response.status_code == 200 else None
                return None

            assert (await eventually(lambda: answers("/healthz"), timeout=60)).json() == {"status": "ok"}
            ready = (await eventually(lambda: answers("/readyz"), timeout=60)).json()
            assert ready["database"] == "ok" and ready["broker"] == "ok"
            assert set(ready["loops"].values()) == {"running"}
            metrics = (await eventually(lambda: answers("/metrics"), timeout=10)).text
            for name in METRICS:
                assert f"# TYPE {name} " in metrics, name
            if command == "worker":
                assert f'zorg_consumer_up{{group="{topic_prefix}publication.listing"}} 1.0' in metrics
            else:
                assert 'zorg_loop_up{kind="relay",loop="eligibility"} 1.0' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


async def _count_is(pair: Any, n: int) -> bool:
    return await applied_count(pair.consumer.engine) == n


async def _true(value: bool) -> bool:
    return value
