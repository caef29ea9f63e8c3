"""Settings of the contracting service (environment variables; see the README)."""

from typing import ClassVar

from zorg_common.settings import ServiceSettings


class ContractingSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "contracting"
    DEFAULT_PORT: ClassVar[int] = 8002

    #: Where contracting asks the eligibility service about a provider at intake.
    ELIGIBILITY_URL: str = "http://127.0.0.1:8001"
    #: The SMTP listener of the contracts mailbox (follow-format e-mails).
    SMTP_HOST: str = "127.0.0.1"
    SMTP_PORT: int = 2525
