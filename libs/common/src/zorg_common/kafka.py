"""Kafka clients configured from settings, and topic creation."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from .events import DLQ_SUFFIX
from .settings import ServiceSettings

log = logging.getLogger(__name__)


def client_id(settings: ServiceSettings, suffix: str) -> str:
    base = settings.KAFKA_CLIENT_ID or f"{settings.SERVICE}-{socket.gethostname()}-{os.getpid()}"
    return f"{base}-{suffix}"


def security_options(settings: ServiceSettings) -> dict[str, Any]:
    """The TLS and SASL arguments every client (producer, consumer, admin) gets; PLAINTEXT needs none.

    The settings were checked at start (``ServiceSettings._kafka_problems``): SASL_SSL has its
    username and password. The password is read here only, never logged.
    """
    protocol = settings.KAFKA_SECURITY_PROTOCOL
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        cafile = settings.KAFKA_SSL_CAFILE
        options["ssl_context"] = create_ssl_context(cafile=str(cafile)) if cafile else ssl.create_default_context()
    if protocol == "SASL_SSL":
        assert settings.KAFKA_SASL_PASSWORD is not None
        options["sasl_mechanism"] = settings.KAFKA_SASL_MECHANISM
        options["sasl_plain_username"] = settings.KAFKA_SASL_USERNAME
        options["sasl_plain_password"] = settings.KAFKA_SASL_PASSWORD.get_secret_value()
    return options


def producer_for(settings: ServiceSettings, *, client_suffix: str = "producer", linger_ms: int = 5) -> AIOKafkaProducer:
    """A producer with ``acks=all``; ``linger_ms=0`` for callers that hand over whole batches."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        client_id=client_id(settings, client_suffix),
        acks="all",
        enable_idempotence=settings.KAFKA_ENABLE_IDEMPOTENCE,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=settings.KAFKA_REQUEST_TIMEOUT_MS,
        **security_options(settings),
    )


def consumer_for(
    settings: ServiceSettings, group: str | None, topics: Iterable[str] = (), *, client_suffix: str | None = None
) -> AIOKafkaConsumer:
    """A consumer of the group that commits by hand; ``group=None`` for one that is assigned partitions
    and commits nothing (a replay)."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        client_id=client_id(settings, client_suffix or group or "reader"),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_uncommitted",
        max_poll_interval_ms=300_000,
        session_timeout_ms=settings.KAFKA_SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=max(500, settings.KAFKA_SESSION_TIMEOUT_MS // 5),
        request_timeout_ms=max(settings.KAFKA_REQUEST_TIMEOUT_MS, 40_000),
        fetch_max_wait_ms=100,
        **security_options(settings),
    )


def admin_for(
    settings: ServiceSettings, client_suffix: str, *, request_timeout_ms: int | None = None
) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        client_id=client_id(settings, client_suffix),
        request_timeout_ms=request_timeout_ms or settings.KAFKA_REQUEST_TIMEOUT_MS,
        **security_options(settings),
    )


async def ensure_topics(settings: ServiceSettings, topics: Iterable[str], *, with_dlq: bool = True) -> None:
    """Create the topics (and their ``.dlq``) with the configured partition count when missing."""
    names = set()
    for topic in topics:
        names.add(topic)
        if with_dlq and not topic.endswith(DLQ_SUFFIX):
            names.add(topic + DLQ_SUFFIX)
    admin = admin_for(settings, "admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = sorted(names - existing)
        if not missing:
            return
        new = [NewTopic(name, settings.KAFKA_TOPIC_PARTITIONS, settings.KAFKA_REPLICATION_FACTOR) for name in missing]
        try:
            await admin.create_topics(new)
            log.info("created topics %s with %d partition(s)", ", ".join(missing), settings.KAFKA_TOPIC_PARTITIONS)
        except TopicAlreadyExistsError:
            pass  # another process was quicker
    finally:
        await admin.close()


async def wait_for_broker(settings: ServiceSettings, timeout: float = 30.0) -> None:
    """Block until the broker answers metadata requests, or raise ``TimeoutError``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = admin_for(settings, "probe", request_timeout_ms=5_000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise TimeoutError(f"no Kafka broker at {settings.KAFKA_BOOTSTRAP_SERVERS}: {last}")
