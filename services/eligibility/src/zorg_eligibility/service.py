"""How the platform runs the eligibility service (found through the ``zorg.services`` entry point)."""

from zorg_common.events import TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE
from zorg_common.service import ServiceSpec

from .adapters.orm import metadata
from .entrypoints.api import evaluations_router, policies_router, providers_router
from .entrypoints.demo import load_demo
from .entrypoints.importer import providers_cli
from .entrypoints.page import router as page_router
from .entrypoints.portal import router as portal_router
from .entrypoints.worker import reevaluation_worker
from .service_layer.mail import mail_worker
from .settings import EligibilitySettings

SPEC = ServiceSpec(
    name="eligibility",
    port=EligibilitySettings.DEFAULT_PORT,
    settings_cls=EligibilitySettings,
    metadata=metadata,
    migrations="zorg_eligibility.migrations",
    routers=(providers_router, policies_router, evaluations_router, portal_router, page_router),
    workers=(reevaluation_worker, mail_worker),
    cli=providers_cli,
    demo=load_demo,
    topics=(TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE),
    publishes=(TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE),
    demo_order=10,
    title="Zorginkoop eligibility",
    description="Provider register, procurement policies as data, explainable eligibility decisions, "
    "and Mijn Zorgverlener, the provider portal (accounts and the page at /portal/).",
    extra={"page": True},
)
