"""How the platform runs the claims service (found through the ``zorg.services`` entry point)."""

from zorg_common.events import TOPIC_CLAIMS, TOPIC_CONTRACTS, TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE
from zorg_common.service import ServiceSpec

from .adapters.orm import metadata
from .entrypoints.api import access_log_router, authorisations_router, claims_router
from .entrypoints.consumers import ADJUDICATION, read_model_consumer
from .entrypoints.demo import load_demo
from .entrypoints.importer import claims_cli
from .settings import ClaimsSettings

SPEC = ServiceSpec(
    name="claims",
    port=ClaimsSettings.DEFAULT_PORT,
    settings_cls=ClaimsSettings,
    metadata=metadata,
    migrations="zorg_claims.migrations",
    routers=(claims_router, authorisations_router, access_log_router),
    consumers=(ADJUDICATION, read_model_consumer()),
    cli=claims_cli,
    demo=load_demo,
    topics=(TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE, TOPIC_CONTRACTS, TOPIC_CLAIMS),
    publishes=(TOPIC_CLAIMS,),
    demo_order=40,
    title="Zorginkoop claims",
    description="Claim intake and adjudication against contracts and policies; holds released by contracts.",
)
