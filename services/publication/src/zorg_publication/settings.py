"""Settings of the publication service (environment variables; see the README)."""

from typing import ClassVar

from zorg_common.settings import ServiceSettings


class PublicationSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "publication"
    DEFAULT_PORT: ClassVar[int] = 8004
