"""The claims service's consumers: adjudication of submitted claims, and the read models from other services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import cast

from zorg_common.consumer import ConsumerSpec, Handler
from zorg_common.events import (
    TOPIC_CLAIMS,
    TOPIC_CONTRACTS,
    TOPIC_PROVIDERS,
    TOPIC_PROVIDERS_PRIVATE,
    ClaimSubmitted,
    CloudEvent,
    Event,
)
from zorg_common.uow import UnitOfWork

from ..adapters.repository import ClaimsUnit, SqlClaimsUnit
from ..service_layer import read_models
from ..service_layer.adjudicate import Review, adjudicate_claims
from ..settings import ClaimsSettings


@lru_cache(maxsize=1)
def review() -> Review:
    """The review thresholds of this process (settings, read once)."""
    settings = ClaimsSettings()
    return Review(settings.CLAIMS_REVIEW_FACTOR, settings.CLAIMS_REVIEW_MIN_LINES)


async def claims_submitted(uow: UnitOfWork, items: Sequence[tuple[CloudEvent, Event]]) -> None:
    # Only ClaimSubmitted comes here (the batch handler's type); no isinstance per event, it is not free.
    ids = [cast(ClaimSubmitted, event).claim_id for _, event in items]
    await adjudicate_claims(SqlClaimsUnit(uow), ids, review())


ADJUDICATION = ConsumerSpec(
    group="claims.adjudication",
    topics=(TOPIC_CLAIMS,),
    batch_handlers={ClaimSubmitted.TYPE: claims_submitted},
)


def _in_unit_of_work(handler: Callable[[ClaimsUnit, Event], Awaitable[None]]) -> Handler:
    """A read-model handler as the consumer runner calls it: on this unit of work's repository."""

    async def handle(uow: UnitOfWork, _: CloudEvent, event: Event) -> None:
        await handler(SqlClaimsUnit(uow), event)

    return handle


def read_model_consumer() -> ConsumerSpec:
    # Eligibility and bank accounts come on the private topic; one provider's events on it keep
    # their order (same key), and no read model depends on the order across topics.
    return ConsumerSpec(
        group="claims.read-models",
        topics=(TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE, TOPIC_CONTRACTS),
        handlers={kind: _in_unit_of_work(h) for kind, h in read_models.handlers(review).items()},
    )
