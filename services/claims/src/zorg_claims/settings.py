"""Settings of the claims service (environment variables; see the README)."""

from typing import ClassVar

from pydantic import Field

from zorg_common.settings import ServiceSettings


class ClaimsSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "claims"
    DEFAULT_PORT: ClassVar[int] = 8003

    #: A provider whose claim lines this month exceed this many times its monthly average of the
    #: three months before has its new claims held for review by a person (fraud signal).
    CLAIMS_REVIEW_FACTOR: float = 3.0
    #: ... but only from this many lines in the month (small numbers say little).
    CLAIMS_REVIEW_MIN_LINES: int = 50
    #: The most lines one POST /claims/batch may carry.
    CLAIMS_BATCH_MAX_LINES: int = 5000
    #: The largest POST /claims/batch body (413 before it is parsed); other routes take HTTP_MAX_BODY_BYTES.
    CLAIMS_BATCH_MAX_BYTES: int = Field(default=10_000_000, ge=1_024)
    #: How many POST /claims/batch requests one API process takes in at a time; the others wait
    #: unread, which bounds the process's memory at a month-end peak.
    CLAIMS_BATCH_CONCURRENCY: int = Field(default=2, ge=1)
