"""How the platform runs the contracting service (found through the ``zorg.services`` entry point)."""

from zorg_common.service import ServiceSpec

from .adapters.orm import metadata
from .entrypoints import contract_requests, contracts, follow_formats, invitations, negotiations, procurement_metrics
from .entrypoints.deadline import deadline_closer
from .entrypoints.demo import load_demo
from .settings import ContractingSettings

SPEC = ServiceSpec(
    name="contracting",
    port=ContractingSettings.DEFAULT_PORT,
    settings_cls=ContractingSettings,
    metadata=metadata,
    migrations="zorg_contracting.migrations",
    routers=(
        follow_formats.router,
        negotiations.router,
        invitations.router,
        contracts.router,
        contracts.procurements_router,
        contract_requests.router,
    ),
    workers=(follow_formats.intake_worker, deadline_closer, procurement_metrics.procurement_gauges),
    topics=("zorg.providers", "zorg.contracts"),
    publishes=("zorg.contracts",),
    demo=load_demo,
    demo_order=20,
    extra={"ports": {"SMTP_PORT": ContractingSettings.model_fields["SMTP_PORT"].default}},
    title="Zorginkoop contracting",
    description="Follow-format e-mails, offer negotiations, digital contracting and the contract lifecycle.",
)
