"""Settings of the eligibility service (environment variables; see the README)."""

from typing import ClassVar

from pydantic import Field, model_validator

from zorg_common.auth import key_algorithm
from zorg_common.settings import ServiceSettings


class EligibilitySettings(ServiceSettings):
    SERVICE: ClassVar[str] = "eligibility"
    DEFAULT_PORT: ClassVar[int] = 8001

    #: How often the worker looks for providers whose verdict changes with time today (the daily
    #: re-evaluation); it also looks once at start.
    REEVALUATION_INTERVAL_S: float = Field(default=3600.0, gt=0)
    #: PEM private key (RSA or EC P-256) that signs portal tokens; the other services check them
    #: with ZORG_JWT_PUBLIC_KEY. Unset: HS256 with ZORG_JWT_SECRET (only where the platform runs on HS256).
    ZORG_JWT_PRIVATE_KEY: str | None = None
    #: The relay portal mail (activation notices, reset codes, bank-account notices) goes out through;
    #: the same relay as contracting's replies. Unset: the mail is kept in `portal_mail`, not sent.
    REPLY_SMTP_HOST: str | None = None
    REPLY_SMTP_PORT: int = 25
    #: The From address of portal mail.
    PORTAL_MAIL_FROM: str = "mijnzorgverlener@zorginkoop.example"
    #: Whom a provider calls when it does not meet a policy's conditions (shown by the portal).
    PORTAL_CONTACT: str = "de afdeling Zorginkoop, 088 123 45 67"
    #: Password hashes (Argon2id) computed at once per process; the rest wait, at most PORTAL_HASH_QUEUE
    #: of them, and beyond that a log-in is answered 503 (a flood cannot take every core).
    PORTAL_HASH_CONCURRENCY: int = Field(default=2, ge=1)
    PORTAL_HASH_QUEUE: int = Field(default=64, ge=0)
    #: Where the services are, for the portal page (the browser) to call: by default their own URLs
    #: (`zorg up` sets them); behind one ingress, the paths it routes (e.g. /claims-api).
    CLAIMS_URL: str = "http://127.0.0.1:8003"
    CONTRACTING_URL: str = "http://127.0.0.1:8002"
    PORTAL_CLAIMS_BASE: str | None = None
    PORTAL_CONTRACTING_BASE: str | None = None

    @model_validator(mode="after")
    def _portal_signing_key(self) -> "EligibilitySettings":
        if self.ZORG_JWT_PRIVATE_KEY:
            key_algorithm(self.ZORG_JWT_PRIVATE_KEY)  # a key that cannot sign stops the service at start
        elif self.ZORG_JWT_ALGORITHM != "HS256" or self.ZORG_JWT_PUBLIC_KEY:
            raise ValueError(
                "the platform checks portal tokens with a public key: set ZORG_JWT_PRIVATE_KEY (eligibility signs them)"
            )
        return self

    @property
    def page_bases(self) -> dict[str, str]:
        """The base URL of each service as the portal page sees it ("" is the page's own origin)."""
        return {
            "eligibility": "",
            "claims": (self.PORTAL_CLAIMS_BASE if self.PORTAL_CLAIMS_BASE is not None else self.CLAIMS_URL).rstrip("/"),
            "contracting": (
                self.PORTAL_CONTRACTING_BASE if self.PORTAL_CONTRACTING_BASE is not None else self.CONTRACTING_URL
            ).rstrip("/"),
        }
