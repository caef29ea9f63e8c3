"""TLS and SASL settings reach every Kafka client the platform builds.

The bundled broker speaks PLAINTEXT only, so no test here talks TLS or SASL to a broker: these
check that the arguments reach each client factory, that aiokafka takes them, and that nothing
builds a client past the factories.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any

import pytest

from zorg_common import kafka
from zorg_common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SASL = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "claims",
    "KAFKA_SASL_PASSWORD": "kafka-pa55word",
}


def settings(**values: Any) -> ServiceSettings:
    return ServiceSettings(_env_file=None, **values)  # type: ignore[call-arg]


class Recorder:
    """Stands for an aiokafka client class: keeps the keyword arguments it was built with."""

    made: list[tuple[str, dict[str, Any]]]

    def __init__(self, name: str, made: list[tuple[str, dict[str, Any]]]) -> None:
        self.name = name
        self.made = made

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.made.append((self.name, kwargs))
        return object()


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    made: list[tuple[str, dict[str, Any]]] = []
    for name in ("AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"):
        monkeypatch.setattr(kafka, name, Recorder(name, made))
    return made


def build_every_client(configured: ServiceSettings) -> None:
    kafka.producer_for(configured)
    kafka.consumer_for(configured, "claims.adjudication", ["zorg.claims"])
    kafka.consumer_for(configured, None, client_suffix="rebuild")
    kafka.admin_for(configured, "admin")


def test_sasl_ssl_reaches_the_producer_the_consumers_and_the_admin_client(
    made: list[tuple[str, dict[str, Any]]],
) -> None:
    build_every_client(settings(**SASL))
    assert [name for name, _ in made] == [
        "AIOKafkaProducer",
        "AIOKafkaConsumer",
        "AIOKafkaConsumer",
        "AIOKafkaAdminClient",
    ]
    for name, kwargs in made:
        assert kwargs["security_protocol"] == "SASL_SSL", name
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512", name
        assert kwargs["sasl_plain_username"] == "claims", name
        assert kwargs["sasl_plain_password"] == "kafka-pa55word", name
        assert isinstance(kwargs["ssl_context"], ssl.SSLContext), name
        assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED and kwargs["ssl_context"].check_hostname, name


def self_signed_ca(path: Path) -> Path:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Zorginkoop test CA")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_ssl_trusts_the_given_ca_and_sends_no_sasl(made: list[tuple[str, dict[str, Any]]], tmp_path: Path) -> None:
    ca = self_signed_ca(tmp_path / "ca.pem")
    build_every_client(settings(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=str(ca)))
    for name, kwargs in made:
        assert kwargs["security_protocol"] == "SSL", name
        assert "sasl_mechanism" not in kwargs and "sasl_plain_password" not in kwargs, name
        issuers = [dict(x[0] for x in c["issuer"]) for c in kwargs["ssl_context"].get_ca_certs()]
        assert issuers == [{"commonName": "Zorginkoop test CA"}], name


def test_plaintext_by_default_for_the_bundled_broker(made: list[tuple[str, dict[str, Any]]]) -> None:
    build_every_client(settings())
    for name, kwargs in made:
        assert kwargs["security_protocol"] == "PLAINTEXT", name
        assert "ssl_context" not in kwargs and "sasl_mechanism" not in kwargs, name


async def test_aiokafka_takes_the_arguments() -> None:
    """The real clients, built (not started: no broker speaks TLS here) with SASL_SSL."""
    configured = settings(**SASL)
    producer = kafka.producer_for(configured)
    consumer = kafka.consumer_for(configured, "claims.adjudication")
    admin = kafka.admin_for(configured, "admin")
    for client in (producer.client, consumer._client, admin._client):
        assert client._security_protocol == "SASL_SSL"
        assert client._sasl_mechanism == "SCRAM-SHA-512"
        assert client._sasl_plain_username == "claims"
    await producer.stop()
    await consumer.stop()
    await admin.close()


def test_no_kafka_client_is_built_past_the_factories() -> None:
    """Every producer, consumer and admin client of the services comes from zorg_common.kafka, so the
    security settings reach all of them (tests and benchmarks talk to the bundled broker directly)."""
    builds = re.compile(r"\bAIOKafka(Producer|Consumer|AdminClient)\(")
    sources = [*ROOT.glob("libs/common/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    offenders = [
        str(path.relative_to(ROOT)) for path in sources if path.name != "kafka.py" and builds.search(path.read_text())
    ]
    assert offenders == []
