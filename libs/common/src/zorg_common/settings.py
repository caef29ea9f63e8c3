"""Settings shared by every service, read from the environment (pydantic-settings)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The JWT secret that only development may use; production refuses to start with it.
DEVELOPMENT_JWT_SECRET = "zorg-development-secret-do-not-use-in-production"


class ServiceSettings(BaseSettings):
    """One service's settings. Subclasses set ``SERVICE`` and add their own fields.

    ``<SERVICE>_DATABASE_URL`` (e.g. ``CLAIMS_DATABASE_URL``) wins over ``DATABASE_URL`` so that
    one shell can hold the URLs of all four services; without either, a SQLite file under
    ``ZORG_DATA_DIR`` is used (the embedded default).
    """

    # hide_input_in_errors: an error names the setting, never repeats the values (secrets among them).
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False, hide_input_in_errors=True)

    SERVICE: ClassVar[str] = "service"
    DEFAULT_PORT: ClassVar[int] = 8000
    #: The service calls other services over HTTP, so it needs a token they accept (service_auth.py).
    CALLS_SERVICES: ClassVar[bool] = False

    ZORG_ENV: Literal["development", "production"] = "development"
    ZORG_DATA_DIR: Path = Path("var")
    DATABASE_URL: str | None = None
    DATABASE_POOL_SIZE: int = Field(default=20, ge=1)
    DATABASE_MAX_OVERFLOW: int = Field(default=10, ge=0)
    DATABASE_ECHO: bool = False
    #: The largest request body a route takes, unless the route has a larger limit of its own.
    HTTP_MAX_BODY_BYTES: int = Field(default=1_048_576, ge=1_024)

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
    #: How clients reach the brokers: the bundled broker speaks PLAINTEXT only; a production cluster
    #: (Strimzi) SASL_SSL with SCRAM-SHA-512.
    KAFKA_SECURITY_PROTOCOL: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    KAFKA_SASL_MECHANISM: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    KAFKA_SASL_USERNAME: str | None = None
    KAFKA_SASL_PASSWORD: SecretStr | None = None
    #: The CA bundle (PEM) that signed the brokers' certificates; unset: the system's CAs.
    KAFKA_SSL_CAFILE: Path | None = None

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
    #: Consumers remember an event id this long (the inbox), then forget it. Longer than any
    #: redelivery can come late (an offset commit lost, a group reset to an older offset).
    INBOX_KEEP_HOURS: float = Field(default=168.0, gt=0)
    #: A background loop (consumer, relay, a service's own worker) that stops with an error is
    #: started again after LOOP_RESTART_BACKOFF_S, doubled per failure in a row up to
    #: LOOP_RESTART_MAX_S, with jitter.
    LOOP_RESTART_BACKOFF_S: float = Field(default=1.0, gt=0)
    LOOP_RESTART_MAX_S: float = Field(default=60.0, gt=0)
    #: After this many failures in a row a loop counts as not recovering: /readyz answers 503.
    LOOP_FAILURES_UNHEALTHY: int = Field(default=3, ge=1)
    #: A consumer or relay loop that has not come round for this long is stuck: /readyz answers 503.
    LOOP_STALL_S: float = Field(default=300.0, gt=0)
    #: Where `zorg worker` and `zorg relay` answer /healthz, /readyz and /metrics; unset: no probe server.
    ZORG_PROBE_PORT: int | None = Field(default=None, ge=1, le=65_535)
    ZORG_PROBE_HOST: str = "0.0.0.0"

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
    #: Calls to other services: a token from the identity provider's token endpoint (OAuth2 client
    #: credentials). Unset: the caller signs its own HS256 token with ZORG_JWT_SECRET (development).
    ZORG_OAUTH_TOKEN_URL: str | None = None
    ZORG_CLIENT_ID: str | None = None
    ZORG_CLIENT_SECRET: SecretStr | None = None

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
        problems = [*self._kafka_problems(), *self._auth_problems()]
        if self.ZORG_ENV == "production":
            problems += self._production_problems()
        if problems:
            # Stops the process at start: settings that cannot work are named, not found out later.
            raise ValueError("; ".join(problems))
        return self

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.CORS_ALLOW_ORIGINS.split(",") if o.strip()]

    def _kafka_problems(self) -> list[str]:
        protocol = self.KAFKA_SECURITY_PROTOCOL
        problems = []
        has_credentials = bool(self.KAFKA_SASL_USERNAME or self.KAFKA_SASL_PASSWORD)
        if protocol == "SASL_SSL" and not (self.KAFKA_SASL_USERNAME and self.KAFKA_SASL_PASSWORD):
            problems.append("KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        if protocol != "SASL_SSL" and has_credentials:
            problems.append(
                f"KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set, but KAFKA_SECURITY_PROTOCOL={protocol} "
                "does not use them (set KAFKA_SECURITY_PROTOCOL=SASL_SSL)"
            )
        if self.KAFKA_SSL_CAFILE is not None:
            if protocol == "PLAINTEXT":
                problems.append("KAFKA_SSL_CAFILE is set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS")
            elif not self.KAFKA_SSL_CAFILE.is_file():
                problems.append(f"KAFKA_SSL_CAFILE={self.KAFKA_SSL_CAFILE} is not a file")
        return problems

    def _auth_problems(self) -> list[str]:
        problems = []
        if self.ZORG_PORTAL_ISSUER == self.ZORG_JWT_ISSUER:
            problems.append("ZORG_PORTAL_ISSUER must differ from ZORG_JWT_ISSUER: the issuer picks the key")
        if self.ZORG_JWT_JWKS_URL and self.ZORG_JWT_ALGORITHM == "HS256":
            problems.append(
                "ZORG_JWT_JWKS_URL is set with ZORG_JWT_ALGORITHM=HS256: keys from a JWKS check RS256 or "
                "ES256 tokens only (set ZORG_JWT_ALGORITHM)"
            )
        if self.ZORG_OAUTH_TOKEN_URL and not (self.ZORG_CLIENT_ID and self.ZORG_CLIENT_SECRET):
            problems.append("ZORG_OAUTH_TOKEN_URL needs ZORG_CLIENT_ID and ZORG_CLIENT_SECRET")
        return problems

    def _production_problems(self) -> list[str]:
        uses_key = self.ZORG_JWT_ALGORITHM != "HS256"
        problems = []
        if uses_key and not (self.ZORG_JWT_PUBLIC_KEY or self.ZORG_JWT_JWKS_URL):
            problems.append(
                f"ZORG_JWT_ALGORITHM={self.ZORG_JWT_ALGORITHM} needs ZORG_JWT_PUBLIC_KEY or ZORG_JWT_JWKS_URL"
            )
        if not uses_key and (self.ZORG_JWT_SECRET == DEVELOPMENT_JWT_SECRET or len(self.ZORG_JWT_SECRET) < 32):
            problems.append(
                "ZORG_ENV=production refuses the development JWT secret: set ZORG_JWT_SECRET "
                "to a random value of at least 32 characters, or use a public key or JWKS URL"
            )
        if self.CALLS_SERVICES and uses_key and not self.ZORG_OAUTH_TOKEN_URL:
            problems.append(
                f"{self.SERVICE} calls other services, which accept {self.ZORG_JWT_ALGORITHM} tokens only: set "
                "ZORG_OAUTH_TOKEN_URL, ZORG_CLIENT_ID and ZORG_CLIENT_SECRET (it cannot sign such tokens itself)"
            )
        return problems

    @property
    def database_url(self) -> str:
        assert self.DATABASE_URL is not None
        return self.DATABASE_URL

    @property
    def is_development(self) -> bool:
        return self.ZORG_ENV == "development"
