"""Background loops that start again after a failure (backoff with jitter) and say whether they are healthy.

Every long-running loop of a process (a consumer, the outbox relay, a service's own worker) runs
under ``supervise``: when it stops with an error, or returns while it should run, it is started
again after a pause that doubles per failure in a row. Its ``LoopHealth`` tells ``/readyz``
(of the API and of the `zorg worker` / `zorg relay` probe server) when it does not recover: it
failed ``LOOP_FAILURES_UNHEALTHY`` times in a row, it is stuck (no progress for
``LOOP_STALL_S``), or its task ended for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from .db import describe_error, describe_traceback
from .metrics import CONSUMER_UP, LOOP_HEALTHY, LOOP_RESTARTS, LOOP_UP
from .settings import ServiceSettings

log = logging.getLogger(__name__)

LoopKind = Literal["consumer", "relay", "worker"]
LoopState = Literal["running", "restarting", "failing", "stalled", "ended"]


@dataclass(eq=False)
class LoopHealth:
    """What the probes know of one loop. ``progress()`` is called by loops that come round often
    (a consumer's poll, a relay's round); only those can be found stuck."""

    kind: LoopKind
    name: str
    failures_unhealthy: int = 3
    stall_s: float | None = None
    running: bool = False
    #: Failures in a row since the loop last made progress.
    failures: int = 0
    restarts: int = 0
    #: The loop's task ended while the process still runs: nothing will start it again.
    ended: bool = False
    last_error: str | None = None
    _progress_at: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, settings: ServiceSettings, kind: LoopKind, name: str, *, reports_progress: bool) -> LoopHealth:
        health = cls(
            kind,
            name,
            failures_unhealthy=settings.LOOP_FAILURES_UNHEALTHY,
            stall_s=settings.LOOP_STALL_S if reports_progress else None,
        )
        health._export()
        return health

    def _export(self) -> None:
        # Read when Prometheus scrapes: a stall shows without anything having to notice it.
        LOOP_UP.labels(self.kind, self.name).set_function(lambda: float(self.running))
        LOOP_HEALTHY.labels(self.kind, self.name).set_function(lambda: float(self.healthy))
        if self.kind == "consumer":
            CONSUMER_UP.labels(self.name).set_function(lambda: float(self.running))

    def progress(self) -> None:
        """The loop did its work once: the failures before are behind it."""
        self.failures = 0
        self._progress_at = time.monotonic()

    def started(self) -> None:
        self.running = True
        self._progress_at = time.monotonic()

    def stopped(self) -> None:
        self.running = False

    def failed(self, error: str) -> None:
        self.failures += 1
        self.restarts += 1
        self.last_error = error
        LOOP_RESTARTS.labels(self.kind, self.name).inc()

    @property
    def state(self) -> LoopState:
        if self.ended:
            return "ended"
        if self.failures >= self.failures_unhealthy:
            return "failing"
        if self.stall_s is not None and self.running and time.monotonic() - self._progress_at > self.stall_s:
            return "stalled"
        return "running" if self.running else "restarting"

    @property
    def healthy(self) -> bool:
        return self.state in ("running", "restarting")


class Every:
    """``due()`` is true at most once per ``seconds`` (the first time at once): for chores a loop does
    now and then, such as pruning."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True


def restart_delay(failures: int, first_s: float, longest_s: float) -> float:
    """``first_s`` doubled per failure in a row, at most ``longest_s``, and a random half of it off:
    the consumers of a group that failed together do not all come back at the same moment."""
    base = min(first_s * 2 ** max(0, failures - 1), longest_s)
    return random.uniform(base / 2, base)


async def supervise(
    health: LoopHealth,
    body: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    settings: ServiceSettings,
) -> None:
    """Run ``body()`` until ``stop`` is set; whenever it fails, or returns before ``stop``, run it again
    after a pause."""
    while not stop.is_set():
        health.started()
        try:
            await body()
            error = "the loop returned while it should run"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = describe_error(exc)
            trace = describe_traceback(exc)
        else:
            trace = ""
        finally:
            health.stopped()
        if stop.is_set():
            return
        health.failed(error)
        delay = restart_delay(health.failures, settings.LOOP_RESTART_BACKOFF_S, settings.LOOP_RESTART_MAX_S)
        log.error(
            "%s %s stopped (%s); starting it again in %.1fs (failure %d in a row)%s",
            health.kind,
            health.name,
            error,
            delay,
            health.failures,
            f"\n{trace}" if trace else "",
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


def watch(task: asyncio.Task[None], health: LoopHealth, stop: asyncio.Event) -> None:
    """Should the task itself end while the process runs (a bug past ``supervise``), say so in the health."""

    def ended(done: asyncio.Task[None]) -> None:
        if stop.is_set():
            return
        health.ended = True
        health.running = False
        problem = "cancelled" if done.cancelled() else describe_error(done.exception() or RuntimeError("returned"))
        log.error("%s %s ended and will not start again: %s", health.kind, health.name, problem)

    task.add_done_callback(ended)
