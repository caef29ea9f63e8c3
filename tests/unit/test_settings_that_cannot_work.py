"""Settings that cannot work stop the process at start with a message naming the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from tests.support import pem_pair
from zorg_claims.settings import ClaimsSettings
from zorg_common.cli import main
from zorg_common.settings import ServiceSettings
from zorg_contracting.settings import ContractingSettings
from zorg_eligibility.settings import EligibilitySettings

STRONG = "0123456789abcdef" * 4
RS256 = {"ZORG_ENV": "production", "ZORG_JWT_ALGORITHM": "RS256", "ZORG_JWT_JWKS_URL": "https://idp.example/jwks"}
OAUTH = {
    "ZORG_OAUTH_TOKEN_URL": "https://idp.example/token",
    "ZORG_CLIENT_ID": "contracting",
    "ZORG_CLIENT_SECRET": "s3cret-client",
}
SASL = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_USERNAME": "contracting",
    "KAFKA_SASL_PASSWORD": "kafka-pa55word",
}


def refused(cls: type[ServiceSettings], **values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        cls(_env_file=None, **values)  # type: ignore[call-arg]
    return str(caught.value)


def accepted(cls: type[ServiceSettings], **values: Any) -> ServiceSettings:
    return cls(_env_file=None, **values)  # type: ignore[call-arg]


def test_rs256_in_production_needs_a_key_or_a_jwks() -> None:
    message = refused(ServiceSettings, ZORG_ENV="production", ZORG_JWT_ALGORITHM="RS256")
    assert "ZORG_JWT_PUBLIC_KEY" in message and "ZORG_JWT_JWKS_URL" in message


def test_a_jwks_cannot_check_hs256_tokens_in_any_environment() -> None:
    for env in ("development", "production"):
        message = refused(ServiceSettings, ZORG_ENV=env, ZORG_JWT_SECRET=STRONG, ZORG_JWT_JWKS_URL="https://idp/jwks")
        assert "ZORG_JWT_JWKS_URL" in message and "ZORG_JWT_ALGORITHM" in message


def test_a_calling_service_under_rs256_needs_the_token_endpoint() -> None:
    message = refused(ContractingSettings, **RS256)
    assert "ZORG_OAUTH_TOKEN_URL" in message and "contracting calls other services" in message
    accepted(ContractingSettings, **RS256, **OAUTH)
    # Eligibility calls claims (a policy simulation's amounts): it needs the token endpoint too.
    portal_key = pem_pair()[0]  # it signs portal tokens
    assert "eligibility calls other services" in refused(EligibilitySettings, **RS256, ZORG_JWT_PRIVATE_KEY=portal_key)
    accepted(EligibilitySettings, **RS256, **OAUTH, ZORG_JWT_PRIVATE_KEY=portal_key)
    # A service that calls none needs no client of its own; under HS256 a caller signs with the secret.
    accepted(ClaimsSettings, **RS256)
    accepted(ContractingSettings, ZORG_ENV="production", ZORG_JWT_SECRET=STRONG)


def test_a_token_endpoint_needs_the_client_id_and_secret() -> None:
    for missing in ("ZORG_CLIENT_ID", "ZORG_CLIENT_SECRET"):
        values = {**RS256, **OAUTH}
        del values[missing]
        message = refused(ContractingSettings, **values)
        assert "ZORG_OAUTH_TOKEN_URL needs ZORG_CLIENT_ID and ZORG_CLIENT_SECRET" in message
    assert "s3cret-client" not in repr(accepted(ContractingSettings, **RS256, **OAUTH))


def test_kafka_sasl_ssl_needs_a_username_and_a_password_and_never_shows_it() -> None:
    for missing in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
        values = dict(SASL)
        del values[missing]
        message = refused(ServiceSettings, **values)
        assert "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD" in message
        assert "kafka-pa55word" not in message
    settings = accepted(ServiceSettings, **SASL)
    assert "kafka-pa55word" not in repr(settings) and "kafka-pa55word" not in str(settings.model_dump())


def test_kafka_credentials_or_a_ca_without_the_protocol_that_uses_them_are_refused(tmp_path: Path) -> None:
    message = refused(ServiceSettings, KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="kafka-pa55word")
    assert "KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use them" in message and "kafka-pa55word" not in message
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert "KAFKA_SSL_CAFILE is set" in refused(ServiceSettings, KAFKA_SSL_CAFILE=str(ca))
    missing = tmp_path / "nowhere.pem"
    assert "is not a file" in refused(ServiceSettings, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=str(missing))
    assert ca == accepted(ServiceSettings, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=str(ca)).KAFKA_SSL_CAFILE
    assert "KAFKA_SECURITY_PROTOCOL" in refused(ServiceSettings, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT")


@pytest.mark.parametrize("command", ["serve", "worker", "relay"])
def test_the_process_stops_at_start_naming_the_setting(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**RS256, "ZORG_JWT_SECRET": STRONG, **SASL, "KAFKA_SASL_PASSWORD": ""}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, [command, "contracting"])
    assert result.exit_code != 0
    assert "contracting cannot start with these settings" in result.output
    assert "ZORG_OAUTH_TOKEN_URL" in result.output and "KAFKA_SASL_PASSWORD" in result.output
