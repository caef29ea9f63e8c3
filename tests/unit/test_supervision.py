"""Supervised loops: restarts with backoff and jitter, and the health the probes read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY

from zorg_common.settings import ServiceSettings
from zorg_common.supervision import Every, LoopHealth, restart_delay, supervise, watch


def settings(**overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {"LOOP_RESTART_BACKOFF_S": 0.01, "LOOP_RESTART_MAX_S": 0.02, **overrides}
    return ServiceSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_restart_delay_doubles_up_to_the_longest_with_jitter() -> None:
    for failures, base in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (40, 60.0)]:
        delays = {restart_delay(failures, 1.0, 60.0) for _ in range(50)}
        assert all(base / 2 <= d <= base for d in delays), (failures, delays)
        assert len(delays) > 1, "no jitter: consumers that failed together would come back together"


async def test_a_failing_loop_restarts_until_it_runs_and_its_health_follows() -> None:
    health = LoopHealth.of(settings(LOOP_FAILURES_UNHEALTHY=3), "worker", "test-flaky", reports_progress=False)
    stop = asyncio.Event()
    runs = {"n": 0}
    states: list[str] = []
    made_progress = asyncio.Event()

    async def flaky() -> None:
        runs["n"] += 1
        states.append(health.state)
        if runs["n"] <= 3:
            raise RuntimeError("the database went away")
        health.progress()
        made_progress.set()
        await stop.wait()

    task = asyncio.create_task(supervise(health, flaky, stop, settings(LOOP_FAILURES_UNHEALTHY=3)))
    await asyncio.wait_for(made_progress.wait(), 2)
    # failing after its third failure in a row, running (and healthy) once it made progress
    assert states == ["running", "running", "running", "failing"]
    assert health.state == "running" and health.healthy and health.restarts == 3
    assert health.last_error == "RuntimeError: the database went away"
    assert REGISTRY.get_sample_value("zorg_loop_restarts_total", {"kind": "worker", "loop": "test-flaky"}) == 3
    assert REGISTRY.get_sample_value("zorg_loop_up", {"kind": "worker", "loop": "test-flaky"}) == 1
    stop.set()
    await asyncio.wait_for(task, 1)
    assert REGISTRY.get_sample_value("zorg_loop_up", {"kind": "worker", "loop": "test-flaky"}) == 0


async def test_a_loop_that_returns_while_it_should_run_is_started_again() -> None:
    health = LoopHealth.of(settings(), "worker", "test-returns", reports_progress=False)
    stop = asyncio.Event()
    runs = {"n": 0}

    async def returns() -> None:
        runs["n"] += 1
        if runs["n"] == 3:
            stop.set()

    await asyncio.wait_for(supervise(health, returns, stop, settings()), 2)
    assert runs["n"] == 3 and health.restarts == 2
    assert health.last_error == "the loop returned while it should run"


async def test_cancelling_a_supervised_loop_ends_it() -> None:
    health = LoopHealth.of(settings(), "worker", "test-cancel", reports_progress=False)

    async def forever() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(supervise(health, forever, asyncio.Event(), settings()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert health.restarts == 0 and not health.running


def test_a_loop_without_progress_for_too_long_is_stalled() -> None:
    health = LoopHealth.of(settings(LOOP_STALL_S=30), "consumer", "test-stall", reports_progress=True)
    health.started()
    assert health.healthy
    health._progress_at -= 31
    assert health.state == "stalled" and not health.healthy
    assert REGISTRY.get_sample_value("zorg_loop_healthy", {"kind": "consumer", "loop": "test-stall"}) == 0
    assert REGISTRY.get_sample_value("zorg_consumer_up", {"group": "test-stall"}) == 1
    health.progress()
    assert health.healthy
    worker = LoopHealth.of(settings(LOOP_STALL_S=30), "worker", "test-quiet", reports_progress=False)
    worker.started()
    worker._progress_at -= 3600
    assert worker.healthy, "a worker that reports no progress is never called stuck"


async def test_a_task_that_ends_while_the_process_runs_is_unhealthy_for_good() -> None:
    health = LoopHealth.of(settings(), "relay", "test-ended", reports_progress=True)
    stop = asyncio.Event()

    async def crashes() -> None:
        raise RuntimeError("past the supervision")

    task = asyncio.create_task(crashes())
    watch(task, health, stop)
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)  # done callbacks run on the next turn
    assert health.state == "ended" and not health.healthy

    stopped = LoopHealth.of(settings(), "relay", "test-stopped", reports_progress=True)
    stop.set()
    quiet = asyncio.create_task(asyncio.sleep(0))
    watch(quiet, stopped, stop)
    await quiet
    await asyncio.sleep(0)
    assert stopped.state != "ended", "a loop that ends because the process stops is not a failure"


def test_every_is_due_at_once_then_once_per_interval() -> None:
    pace = Every(3600)
    assert pace.due() and not pace.due()
    pace._last -= 3600
    assert pace.due()
