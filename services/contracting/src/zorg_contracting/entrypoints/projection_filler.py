"""The worker that prices the offer rounds whose projection waited for the claims service (`ServiceSpec.workers`)."""

from __future__ import annotations

import asyncio
import logging

from zorg_common.claims_api import claims_client, close_claims_client
from zorg_common.periodic import every
from zorg_common.service import Runtime
from zorg_common.service_client import ServiceUnavailable

from ..service_layer import projections
from ..settings import ContractingSettings

log = logging.getLogger(__name__)


async def fill_projections(runtime: Runtime) -> int:
    """One pass: every negotiation with a round still unpriced, priced now if claims answers."""
    claims = claims_client(runtime)
    async with runtime.uow() as uow:
        waiting = await projections.awaiting(uow)
    priced = 0
    for negotiation_id in waiting:
        try:
            async with runtime.uow() as uow:
                priced += await projections.recompute(uow, negotiation_id, claims, only_unavailable=True)
                await uow.commit()
        except ServiceUnavailable as exc:  # still away: the next pass tries again
            log.info("projections wait for the claims service: %s", exc)
            break
    if priced:
        log.info("priced %d offer round(s) that waited for the claims service", priced)
    return priced


async def projection_filler(runtime: Runtime, stop: asyncio.Event) -> None:
    """Every PROJECTION_RETRY_INTERVAL_S (and at start). On several workers at once a round may be priced
    twice from the same volumes, which stores the same figures: harmless."""
    settings = runtime.settings
    assert isinstance(settings, ContractingSettings)
    try:
        await every(settings.PROJECTION_RETRY_INTERVAL_S, stop, lambda: fill_projections(runtime), "projections")
    finally:
        if stop.is_set():
            await close_claims_client(runtime)
