"""Settings shared by every service, read from the environment (pydantic-settings)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The JWT secret that only development may use; production refuses to start with it.
DEVELOPMENT_JWT_SECRET = "zorg-development-secret-do-not-use-in-production"


class ServiceSettings(BaseSettings):
    """One service's settings. Subclasses set ``SERVICE`` and add their own fields.

    ``<SERVICE>_DATABASE_URL`` (e.g. ``CLAIMS_DATABASE_URL``) wins over ``DATABASE_URL`` so that
    one shell can hold the URLs of all four services; without either, a SQLite file under
    ``ZORG_DATA_DIR`` is used (the embedded default).
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    SERVICE: ClassVar[str] = "service"
    DEFAULT_PORT: ClassVar[int] = 8000

    ZORG_ENV: Literal["development", "production"] = "development"
    ZORG_DATA_DIR: Path = Path("var")
    DATABASE_URL: str | None = None
    DATABASE_POOL_SIZE: int = Field(default=20, ge=1)
    DATABASE_MAX_OVERFLOW: int = Field(default=10, ge=0)
    DATABASE_ECHO: bool = False

    KAFKA_BOOTSTRAP_SERVERS: str = "127.0.0.1:9092"
    KAFKA_ENABLE_IDEMPOTENCE: bool = False
    KAFKA_TOPIC_PARTITIONS: int = Field(default=6, ge=1)
    KAFKA_REPLICATION_FACTOR: int = Field(default=1, ge=1)
    KAFKA_REQUEST_TIMEOUT_MS: int = Field(default=30_000, ge=1_000)
    KAFKA_CLIENT_ID: str | None = None
    #: How long a silent consumer keeps its partitions. The bundled broker completes a group
    #: join only after half of it, so it also bounds how fast consumers start.
    KAFKA_SESSION_TIMEOUT_MS: int = Field(default=10_000, ge=3_000)
    #: Put before every topic and consumer-group name: several platforms (or test runs) can
    #: then share one cluster.
    KAFKA_TOPIC_PREFIX: str = ""

    ZORG_RUN_WORKERS: bool = True
    #: Larger batches mean fewer transactions per event; 1,000 measured 11% faster than 500 at the claims peak.
    RELAY_BATCH_SIZE: int = Field(default=1000, ge=1)
    RELAY_POLL_INTERVAL_S: float = Field(default=1.0, gt=0)
    RELAY_LINGER_MS: float = Field(default=5.0, ge=0)
    #: Sent events stay in the outbox this long (for looking into what happened), then a relay deletes them.
    OUTBOX_KEEP_SENT_HOURS: float = Field(default=168.0, ge=0)
    CONSUMER_BATCH_SIZE: int = Field(default=1000, ge=1)
    CONSUMER_MAX_ATTEMPTS: int = Field(default=5, ge=1)
    CONSUMER_RETRY_BACKOFF_S: float = Field(default=0.2, ge=0)

    ZORG_JWT_SECRET: str = DEVELOPMENT_JWT_SECRET
    ZORG_JWT_ALGORITHM: Literal["HS256", "RS256", "ES256"] = "HS256"
    ZORG_JWT_PUBLIC_KEY: str | None = None
    ZORG_JWT_JWKS_URL: str | None = None
    ZORG_JWT_ISSUER: str = "zorginkoop"
    ZORG_JWT_AUDIENCE: str = "zorginkoop"
    #: The ``iss`` of the tokens the platform signs itself (portal sessions); apart from
    #: ZORG_JWT_ISSUER, so that the issuer of a token says which key checks it.
    ZORG_PORTAL_ISSUER: str = "zorginkoop-portal"
    #: Browser origins (comma-separated) allowed to call this API from a page: the portal page's.
    CORS_ALLOW_ORIGINS: str = ""

    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["auto", "text", "json"] = "auto"

    def __init__(self, **values: Any) -> None:
        # An explicit argument wins, then <SERVICE>_DATABASE_URL, then DATABASE_URL.
        specific = os.environ.get(f"{self.SERVICE.upper()}_DATABASE_URL")
        if specific and "DATABASE_URL" not in values:
            values["DATABASE_URL"] = specific
        super().__init__(**values)

    @model_validator(mode="after")
    def _resolve(self) -> ServiceSettings:
        if not self.DATABASE_URL:
            self.DATABASE_URL = f"sqlite+aiosqlite:///{self.ZORG_DATA_DIR / (self.SERVICE + '.db')}"
        if self.ZORG_ENV == "production":
            self._refuse_development_defaults()
        return self

    @model_validator(mode="after")
    def _issuers_apart(self) -> ServiceSettings:
        if self.ZORG_PORTAL_ISSUER == self.ZORG_JWT_ISSUER:
            raise ValueError("ZORG_PORTAL_ISSUER must differ from ZORG_JWT_ISSUER: the issuer picks the key")
        return self

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.CORS_ALLOW_ORIGINS.split(",") if o.strip()]

    def _refuse_development_defaults(self) -> None:
        uses_key = self.ZORG_JWT_ALGORITHM != "HS256"
        if uses_key and not (self.ZORG_JWT_PUBLIC_KEY or self.ZORG_JWT_JWKS_URL):
            raise ValueError(
                f"ZORG_JWT_ALGORITHM={self.ZORG_JWT_ALGORITHM} needs ZORG_JWT_PUBLIC_KEY or ZORG_JWT_JWKS_URL"
            )
        if not uses_key and (self.ZORG_JWT_SECRET == DEVELOPMENT_JWT_SECRET or len(self.ZORG_JWT_SECRET) < 32):
            raise ValueError(
                "ZORG_ENV=production refuses the development JWT secret: set ZORG_JWT_SECRET "
                "to a random value of at least 32 characters, or use a public key or JWKS URL"
            )

    @property
    def database_url(self) -> str:
        assert self.DATABASE_URL is not None
        return self.DATABASE_URL

    @property
    def is_development(self) -> bool:
        return self.ZORG_ENV == "development"
