"""The contracting service on PostgreSQL with the real eligibility service (in process) and the broker.

Shared by the test_contracting_* modules (they import its fixtures); its own test checks the wiring.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from tests.conftest import Kafka, eventually
from tests.integration.backbone import read_topic, settings_for
from tests.support import running_app
from zorg_common.auth import issue_token
from zorg_common.broker import free_port, port_open
from zorg_common.events import TOPIC_CONTRACTS
from zorg_common.migrations import upgrade
from zorg_contracting.adapters.eligibility import EligibilityClient
from zorg_contracting.adapters.orm import contracts
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.service_layer.pipeline import Pipeline
from zorg_contracting.settings import ContractingSettings
from zorg_eligibility.entrypoints.demo import load_demo
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration
MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


@dataclass
class Contracting:
    client: httpx.AsyncClient
    eligibility: httpx.AsyncClient
    settings: ContractingSettings
    kafka: Kafka

    @property
    def pipeline(self) -> Pipeline:
        pipeline: Pipeline = self.client.app.state.contracting  # type: ignore[attr-defined]
        return pipeline

    def auth(self, *scopes: str, agb: str | None = None, subject: str | None = None) -> dict[str, str]:
        """A token; a portal token's subject is the provider's account (``portal-<agb>``), staff are ``tester``."""
        who = subject or (f"portal-{agb}" if agb else "tester")
        return {"Authorization": f"Bearer {issue_token(self.settings, scopes, agb=agb, subject=who)}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.auth("contracts:read", "contracts:write")

    async def post_mail(self, raw: bytes) -> dict[str, Any]:
        response = await self.client.post(
            "/follow-formats", content=raw, headers={**self.staff, "Content-Type": "message/rfc822"}
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    async def intake(self, intake_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/follow-formats/{intake_id}", headers=self.staff)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def earlier_agreement(self, agb: str, year: int) -> None:
        """A contract of an earlier year on file (taken over from before this platform): the provider is not new."""
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        now = dt.datetime.now(dt.UTC)
        async with runtime.uow() as uow:
            await uow.session.execute(
                insert(contracts).values(
                    id=f"earlier-{agb}-{year}",
                    agb=agb,
                    policy_id=f"GGZ-{year}",
                    sector="GGZ",
                    route="offer",
                    start_date=dt.date(year, 1, 1),
                    end_date=dt.date(year, 12, 31),
                    status="signed",
                    tariffs=[],
                    kpis=[],
                    version=1,
                    source="negotiation",
                    source_id="before-the-platform",
                    renegotiation=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            await uow.commit()

    async def events(self, n: int, timeout: float = 45) -> list[dict[str, Any]]:
        """The first ``n`` or more events on zorg.contracts, in order per provider."""
        topic = self.settings.KAFKA_TOPIC_PREFIX + TOPIC_CONTRACTS

        async def enough() -> list[Any] | None:
            found = await read_topic(self.kafka.bootstrap, topic, timeout=3)
            return found if len(found) >= n else None

        messages = await eventually(enough, timeout=timeout, interval=0.5)
        return [json.loads(m.value) for m in sorted(messages, key=lambda m: (m.partition, m.offset))]


def contracting_settings(url: str, kafka: Kafka, prefix: str, **overrides: Any) -> ContractingSettings:
    base: dict[str, Any] = dict(
        SMTP_PORT=free_port(),
        ATTACHMENT_MAX_BYTES=20_000,
        INTAKE_RETRY_BACKOFF_S=0.2,
        INTAKE_RETRY_MAX_S=1.0,
        MAIL_AUTHSERV_ID="mx.zorginkoop.example",  # the fixtures' own server (tests/fixtures/mail)
        PROCUREMENT_CLOSE_INTERVAL_S=3600,  # the deadline closer runs at start only; tests call it when they mean to
    )
    base.update(overrides)
    settings: ContractingSettings = settings_for(ContractingSettings, url, kafka, prefix, **base)
    return settings


@pytest.fixture
async def eligibility(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The real eligibility app (no relay needed here) with the demo providers registered."""
    url = make_pg_url()
    upgrade(ELIGIBILITY.migrations, url)
    settings = settings_for(EligibilitySettings, url, kafka, topic_prefix)
    async with running_app(ELIGIBILITY, settings, workers=False) as client:

        def token(*scopes: str, agb: str | None = None) -> str:
            return issue_token(settings, scopes, agb=agb, subject="test-demo")

        await load_demo(client, token)
        yield client


@pytest.fixture
async def contracting(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str, eligibility: httpx.AsyncClient
) -> AsyncIterator[Contracting]:
    url = make_pg_url()
    upgrade(CONTRACTING.migrations, url)
    settings = contracting_settings(url, kafka, topic_prefix)
    async with running_app(CONTRACTING, settings) as client:
        pipeline: Pipeline = client.app.state.contracting  # type: ignore[attr-defined]
        await pipeline.eligibility.close()
        pipeline.eligibility = EligibilityClient(settings, http=eligibility)
        if settings.SMTP_ENABLED:  # the worker starts the SMTP listener just after the app
            await eventually(lambda: listening(settings.SMTP_PORT), timeout=30)
        yield Contracting(client, eligibility, settings, kafka)


async def test_the_service_is_ready_and_documents_its_routes(contracting: Contracting) -> None:
    ready = await contracting.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    paths = (await contracting.client.get("/openapi.json")).json()["paths"]
    for path in (
        "/follow-formats",
        "/negotiations/{negotiation_id}/accept",
        "/invitations",
        "/contracts/{contract_id}/sign",
    ):
        assert path in paths
    assert (await contracting.client.get("/contracts")).status_code == 401
    assert (await contracting.client.get("/contracts", headers=contracting.auth("claims:read"))).status_code == 403


async def listening(port: int) -> bool:
    return port_open("127.0.0.1", port)
