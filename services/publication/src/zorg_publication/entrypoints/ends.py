"""The worker that takes terminated contracts off the listing on their end date (`ServiceSpec.workers`)."""

from __future__ import annotations

import asyncio
import logging

from zorg_common import clock
from zorg_common.periodic import every
from zorg_common.service import Runtime

from ..service_layer.projector import apply_due_ends
from ..settings import PublicationSettings

log = logging.getLogger(__name__)


async def contract_ends(runtime: Runtime, stop: asyncio.Event) -> None:
    """Every LISTING_ENDS_INTERVAL_S (and at start): a terminated contract leaves the listing on its end
    date, though no event arrives that day. Several workers at once do it once (the feed's lock)."""
    settings = runtime.settings
    assert isinstance(settings, PublicationSettings)

    async def apply_ends() -> None:
        async with runtime.sessions() as session, session.begin():
            if providers := await apply_due_ends(session, clock.today()):
                log.info("%d provider(s): a contract reached its end date and left the listing", providers)

    await every(settings.LISTING_ENDS_INTERVAL_S, stop, apply_ends, "contract ends")
