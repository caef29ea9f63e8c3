"""A service's periodic background work (a `ServiceSpec.workers` loop): once at start, then every interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(interval_s: float, stop: asyncio.Event, work: Callable[[], Awaitable[object]], name: str) -> None:
    """Run ``work`` now and then every ``interval_s`` seconds until ``stop`` is set.

    A failure (the database away for a moment, say) is logged and the loop carries on: the next
    round tries again.
    """
    while not stop.is_set():
        try:
            await work()
        except Exception as exc:
            log.warning("%s: %s", name, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
