"""Settings of the eligibility service (environment variables; see the README)."""

from typing import ClassVar

from zorg_common.settings import ServiceSettings


class EligibilitySettings(ServiceSettings):
    SERVICE: ClassVar[str] = "eligibility"
    DEFAULT_PORT: ClassVar[int] = 8001
