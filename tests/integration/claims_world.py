"""The claims service running in the test's process on PostgreSQL and the broker, and another service's
outbox to send it events with. Shared by tests/integration/test_claims_*.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from sqlalchemy import select

from tests.conftest import Kafka, eventually
from tests.support import running_app
from tests.unit.claims.builders import eligible
from zorg_claims.service import SPEC as CLAIMS
from zorg_claims.settings import ClaimsSettings
from zorg_common.auth import issue_token
from zorg_common.events import Event, ProviderRegistered
from zorg_common.messaging import inbox
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.settings import ContractingSettings

# An individual lifestyle coach (restitution), a care group (the non-contracted rate without a
# contract), a GGZ practitioner, a GGZ institution, and a provider nobody registered.
COACH, GROUP, GGZ_PRACTICE, GGZ_INSTITUTION, UNKNOWN = "12345678", "45678901", "23456789", "56789012", "34567890"
TODAY = "2023-06-01"


def settings_for(cls: type[Any], url: str, kafka: Kafka, prefix: str, **extra: Any) -> Any:
    return cls(
        _env_file=None,
        DATABASE_URL=url,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
        KAFKA_TOPIC_PREFIX=prefix,
        KAFKA_TOPIC_PARTITIONS=2,
        KAFKA_SESSION_TIMEOUT_MS=6000,
        RELAY_POLL_INTERVAL_S=0.2,
        **extra,
    )


class World:
    """The claims service running, and another service's outbox to send it events with."""

    def __init__(self, client: httpx.AsyncClient, others: Runtime, settings: ClaimsSettings) -> None:
        self.client = client
        self.others = others
        self.settings = settings
        self.headers = self.token("claims:read", "claims:write")

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        return runtime

    def token(self, *scopes: str, agb: str | None = None, subject: str = "zorg-cli") -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.settings, scopes, agb=agb, subject=subject)}"}

    async def events(self, *events: Event) -> None:
        """Send the events and wait until the claims read models have taken them in."""
        async with self.others.uow() as uow:
            ids = {uow.emit(event).id for event in events}
            await uow.commit()

        async def taken() -> bool:
            async with self.runtime.engine.connect() as conn:
                seen = set((await conn.execute(select(inbox.c.event_id).where(inbox.c.event_id.in_(ids)))).scalars())
            return seen == ids

        await eventually(taken, timeout=60)

    async def submit(self, **line: Any) -> str:
        response = await self.client.post("/claims", json=line, headers=self.headers)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def decided(self, claim_id: str, status: str | None = None) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            body = (await self.client.get(f"/claims/{claim_id}", headers=self.headers)).json()
            done = body["status"] != "received" if status is None else body["status"] == status
            return body if done else None

        result: dict[str, Any] = await eventually(check, timeout=30)
        return result

    async def history(self, claim_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/claims/{claim_id}/decisions", headers=self.headers)
        assert response.status_code == 200, response.text
        body: list[dict[str, Any]] = response.json()
        return body


@contextlib.asynccontextmanager
async def claims_world(make_pg_url: Callable[[], str], kafka: Kafka, prefix: str) -> AsyncIterator[World]:
    claims_url, others_url = make_pg_url(), make_pg_url()
    upgrade(CLAIMS.migrations, claims_url)
    upgrade(CONTRACTING.migrations, others_url)
    settings = settings_for(ClaimsSettings, claims_url, kafka, prefix)
    others = Runtime(CONTRACTING, settings_for(ContractingSettings, others_url, kafka, prefix))
    await others.start_workers(relay=True, consumers=False)
    try:
        async with running_app(CLAIMS, settings) as client:
            world = World(client, others, settings)
            runners = world.runtime.consumers
            await eventually(lambda: all_assigned(runners), timeout=60)
            await world.events(
                ProviderRegistered(agb=COACH, name="Leefstijlcoach", kind="individual", sectors=["GLI"]),
                ProviderRegistered(agb=GROUP, name="Zorggroep", kind="care_group", sectors=["GLI"]),
                ProviderRegistered(agb=GGZ_PRACTICE, name="GGZ Praktijk", kind="individual", sectors=["GGZ"]),
                ProviderRegistered(agb=GGZ_INSTITUTION, name="GGZ Instelling", kind="institution", sectors=["GGZ"]),
                eligible(COACH),
                eligible(GROUP),
            )
            yield world
    finally:
        await others.close()


async def all_assigned(runners: list[Any]) -> bool:
    return all(r.assigned.is_set() for r in runners)


def gli_line(reference: str, **changes: Any) -> dict[str, Any]:
    return {
        "provider_reference": reference,
        "agb": COACH,
        "bsn": "111222333",
        "sector": "GLI",
        "prestation_code": "GLI-INTAKE",
        "service_date": "2023-02-01",
        "quantity": 1,
        "claimed_cents": 8193,
        "programme": "Cool",
        "programme_start": "2023-01-15",
        **changes,
    }
