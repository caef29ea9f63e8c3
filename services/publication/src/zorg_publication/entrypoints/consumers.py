"""The consumer group that keeps the listing from the providers' and contracts' events."""

from zorg_common.consumer import ConsumerSpec
from zorg_common.events import TOPIC_CONTRACTS, TOPIC_PROVIDERS

from ..service_layer.projector import on_contracts, on_providers

LISTING_CONSUMER = ConsumerSpec(
    group="publication.listing",
    topics=(TOPIC_PROVIDERS, TOPIC_CONTRACTS),
    # Runs of events of one type are handled together: a few statements per run, not per event.
    batch_handlers={
        "ProviderRegistered": on_providers,
        "ProviderUpdated": on_providers,
        "ContractSigned": on_contracts,
        "ContractTerminated": on_contracts,
    },
)
