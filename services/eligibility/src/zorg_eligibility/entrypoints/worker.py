"""The eligibility worker: the daily re-evaluation of providers whose verdict changes with time."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from zorg_common import clock
from zorg_common.db import is_transient
from zorg_common.service import Runtime

from ..service_layer.register import reevaluate_due
from ..settings import EligibilitySettings

log = logging.getLogger(__name__)


async def reevaluation_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    """Evaluates again, on the day, every provider whose latest evaluation said a verdict changes then.

    Looks at start and every ``REEVALUATION_INTERVAL_S``; runs wherever the service's workers run
    (`zorg serve` with ZORG_RUN_WORKERS, or `zorg worker eligibility`). Several may run at once.
    """
    settings = runtime.settings
    assert isinstance(settings, EligibilitySettings)
    while not stop.is_set():
        try:
            await reevaluate_due(runtime.uow, clock.today())
        except Exception as exc:  # the next round tries again; a bug is logged with its trace
            if is_transient(exc):
                log.warning("re-evaluation postponed: %s", exc)
            else:
                log.exception("re-evaluation failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.REEVALUATION_INTERVAL_S)
