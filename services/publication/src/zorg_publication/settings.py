"""Settings of the publication service (environment variables; see the README)."""

from typing import ClassVar

from pydantic import Field

from zorg_common.settings import ServiceSettings


class PublicationSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "publication"
    DEFAULT_PORT: ClassVar[int] = 8004

    #: How often the worker looks for terminated contracts whose end date has come (they leave the listing).
    LISTING_ENDS_INTERVAL_S: float = Field(default=60.0, gt=0)
