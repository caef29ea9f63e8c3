"""How the platform runs the publication service (found through the ``zorg.services`` entry point)."""

from zorg_common.events import TOPIC_CONTRACTS, TOPIC_PROVIDERS
from zorg_common.service import ServiceSpec

from .adapters.orm import metadata
from .entrypoints.api import listings_router
from .entrypoints.cli import publication_cli
from .entrypoints.consumers import LISTING_CONSUMER
from .entrypoints.ends import contract_ends
from .entrypoints.page import page_router
from .settings import PublicationSettings

SPEC = ServiceSpec(
    name="publication",
    port=PublicationSettings.DEFAULT_PORT,
    settings_cls=PublicationSettings,
    metadata=metadata,
    migrations="zorg_publication.migrations",
    routers=(listings_router, page_router),
    consumers=(LISTING_CONSUMER,),
    workers=(contract_ends,),
    cli=publication_cli,
    # Never TOPIC_PROVIDERS_PRIVATE: facts, evaluations and bank accounts are not for the public side.
    topics=(TOPIC_PROVIDERS, TOPIC_CONTRACTS),
    demo_order=30,
    title="Zorginkoop publication",
    description="The public list of contracted providers, as a feed for the website and as a page.",
)
