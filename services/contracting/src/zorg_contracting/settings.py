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
    #: MIME parts and attachments one e-mail may have; more is a problem in the reply (parsing stops there).
    MAIL_MAX_PARTS: int = Field(default=100, ge=2)
    MAIL_MAX_ATTACHMENTS: int = Field(default=10, ge=1)
    #: Rows and cells a follow-format sheet (.xlsx or .csv) may have; more is a problem in the reply.
    FORMAT_MAX_ROWS: int = Field(default=500, ge=20)
    FORMAT_MAX_CELLS: int = Field(default=5_000, ge=100)
    #: Worker processes that read e-mails (off the event loop), and the seconds one read may take.
    MAIL_READ_WORKERS: int = Field(default=2, ge=1)
    MAIL_READ_TIMEOUT_S: float = Field(default=30.0, gt=0)
    #: The authserv-id of our own mail server in Authentication-Results headers; only those count
    #: (DMARC failing sends the format to review). Unset: no such header is trusted.
    MAIL_AUTHSERV_ID: str | None = Field(default=None, max_length=255)
    #: SMTP sessions open at once (421 beyond), recipients per message (452 beyond), line length (500 beyond).
    SMTP_MAX_CONNECTIONS: int = Field(default=50, ge=1)
    SMTP_MAX_RECIPIENTS: int = Field(default=10, ge=1)
    SMTP_MAX_LINE_LENGTH: int = Field(default=10_000, ge=1_001)
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
    #: How often the worker looks for procurements whose contracting deadline has passed.
    PROCUREMENT_CLOSE_INTERVAL_S: float = Field(default=300.0, gt=0)
