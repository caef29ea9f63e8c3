"""How the platform runs the contracting service (found through the ``zorg.services`` entry point)."""

from zorg_common.service import ServiceSpec

from .adapters.orm import metadata
from .settings import ContractingSettings

SPEC = ServiceSpec(
    name="contracting",
    port=ContractingSettings.DEFAULT_PORT,
    settings_cls=ContractingSettings,
    metadata=metadata,
    migrations="zorg_contracting.migrations",
    topics=("zorg.providers", "zorg.contracts"),
    demo_order=20,
    title="Zorginkoop contracting",
    description="Follow-format e-mails, offer negotiations, digital contracting and the contract lifecycle.",
)
