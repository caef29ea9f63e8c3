"""Settings of the contracting service (environment variables; see the README)."""

from typing import ClassVar

from pydantic import Field

from zorg_common.settings import ServiceSettings


class ContractingSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "contracting"
    DEFAULT_PORT: ClassVar[int] = 8002
    CALLS_SERVICES: ClassVar[bool] = True  # eligibility, at intake

    #: Where contracting asks the eligibility service about a provider at intake.
    ELIGIBILITY_URL: str = "http://127.0.0.1:8001"
    #: Seconds one call to the eligibility service may take.
    ELIGIBILITY_TIMEOUT_S: float = Field(default=5.0, gt=0)
    #: Extra tries of one call when eligibility cannot be reached or answers 5xx.
    ELIGIBILITY_RETRIES: int = Field(default=2, ge=0)
    #: The SMTP listener of the contracts mailbox (follow-format e-mails).
    SMTP_HOST: str = "127.0.0.1"
    SMTP_PORT: int = 2525
    #: Run the SMTP listener in the service process (with the workers).
    SMTP_ENABLED: bool = True
    #: The largest e-mail taken in (SMTP and POST /follow-formats); bigger is refused at the door.
    MAIL_MAX_BYTES: int = Field(default=25_000_000, ge=1_000)
    #: The largest attachment read; a bigger one is a problem in the reply.
    ATTACHMENT_MAX_BYTES: int = Field(default=2_000_000, ge=1_000)
    #: Our own UZOVI code: a follow format naming it has nothing to follow.
    OWN_UZOVI: str = Field(default="3311", pattern=r"^\d{4}$")
    #: Where replies go out in production (an SMTP relay); unset: replies are kept, not sent.
    REPLY_SMTP_HOST: str | None = None
    REPLY_SMTP_PORT: int = 25
    #: The From address of replies.
    REPLY_FROM: str = "zorg.overeenkomsten@zorginkoop.example"
    #: Intakes waiting for the eligibility service: first retry after this many seconds, doubled
    #: each try up to INTAKE_RETRY_MAX_S.
    INTAKE_RETRY_BACKOFF_S: float = Field(default=2.0, gt=0)
    INTAKE_RETRY_MAX_S: float = Field(default=300.0, gt=0)
    #: How many intakes the worker processes at once.
    INTAKE_CONCURRENCY: int = Field(default=8, ge=1)
