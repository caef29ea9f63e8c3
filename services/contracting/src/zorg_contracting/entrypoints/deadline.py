"""The worker that closes procurements at their contracting deadline (`ServiceSpec.workers`)."""

from __future__ import annotations

import asyncio

from zorg_common import clock
from zorg_common.periodic import every
from zorg_common.policy import policies
from zorg_common.service import Runtime

from ..service_layer.procurements import close_at_deadline
from ..settings import ContractingSettings


async def deadline_closer(runtime: Runtime, stop: asyncio.Event) -> None:
    """Every PROCUREMENT_CLOSE_INTERVAL_S (and at start): close what the calendar ended.

    Runs wherever the service's workers run; on several at once each closing is done once (the
    procurement row is locked and only one in progress is closed).
    """
    settings = runtime.settings
    assert isinstance(settings, ContractingSettings)

    async def close_due() -> None:
        async with runtime.uow() as uow:
            await close_at_deadline(uow, clock.today(), policies())
            await uow.commit()

    await every(settings.PROCUREMENT_CLOSE_INTERVAL_S, stop, close_due, "deadline closer")
