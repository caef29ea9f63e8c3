"""Settings of the eligibility service (environment variables; see the README)."""

from typing import ClassVar

from pydantic import Field

from zorg_common.settings import ServiceSettings


class EligibilitySettings(ServiceSettings):
    SERVICE: ClassVar[str] = "eligibility"
    DEFAULT_PORT: ClassVar[int] = 8001

    #: How often the worker looks for providers whose verdict changes with time today (the daily
    #: re-evaluation); it also looks once at start.
    REEVALUATION_INTERVAL_S: float = Field(default=3600.0, gt=0)
