"""The worker that closes procurements at their contracting deadline (`ServiceSpec.workers`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from zorg_common import clock
from zorg_common.policy import policies
from zorg_common.service import Runtime

from ..service_layer.procurements import close_at_deadline
from ..settings import ContractingSettings

log = logging.getLogger(__name__)


async def deadline_closer(runtime: Runtime, stop: asyncio.Event) -> None:
    """Every PROCUREMENT_CLOSE_INTERVAL_S (and at start): close what the calendar ended.

    Runs wherever the service's workers run; on several at once each closing is done once (the
    procurement row is locked and only one in progress is closed).
    """
    settings = runtime.settings
    assert isinstance(settings, ContractingSettings)
    while not stop.is_set():
        try:
            async with runtime.uow() as uow:
                await close_at_deadline(uow, clock.today(), policies())
                await uow.commit()
        except Exception as exc:  # the database may be away for a moment; the loop carries on
            log.warning("deadline closer: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.PROCUREMENT_CLOSE_INTERVAL_S)
