"""Settings of the claims service (environment variables; see the README)."""

from typing import ClassVar

from zorg_common.settings import ServiceSettings


class ClaimsSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "claims"
    DEFAULT_PORT: ClassVar[int] = 8003
