"""The publication service running in the test's process against PostgreSQL and the broker, with helpers.

Used by tests/integration/test_publication_*.py (kept here because helpers may not be test modules).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import eventually
from tests.support import running_app
from tests.unit.publication.builders import produce, settings_values, terminated
from zorg_common.auth import issue_token
from zorg_common.db import create_engine
from zorg_common.events import CloudEvent, Event
from zorg_common.messaging import inbox
from zorg_common.migrations import upgrade
from zorg_publication.service import SPEC
from zorg_publication.settings import PublicationSettings


@dataclass
class Publication:
    client: httpx.AsyncClient
    engine: AsyncEngine
    settings: PublicationSettings

    async def send(self, *items: Event | CloudEvent | tuple[str, bytes, str]) -> list[CloudEvent]:
        return await produce(self.settings.KAFKA_BOOTSTRAP_SERVERS, self.settings.KAFKA_TOPIC_PREFIX, *items)

    async def settle(self, *agbs: str, timeout: float = 60.0) -> None:
        """Wait until everything sent so far for these providers is handled.

        A barrier per provider: a termination of a contract nobody has (invisible), on the same
        key and so the same partition, behind every earlier event of that provider.
        """
        barriers = [terminated(agb, f"BARRIER-{uuid.uuid4().hex[:12]}") for agb in agbs]
        ids = {ce.id for ce in await self.send(*barriers)}

        async def handled() -> bool:
            async with self.engine.connect() as conn:
                seen = set((await conn.execute(select(inbox.c.event_id).where(inbox.c.event_id.in_(ids)))).scalars())
            return seen == ids

        await eventually(handled, timeout=timeout)

    async def listing(self, path: str = "/listings", **params: Any) -> dict[str, Any]:
        response = await self.client.get(path, params={k: v for k, v in params.items() if v is not None})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def preview(self, **params: Any) -> dict[str, Any]:
        token = issue_token(self.settings, ["contracts:read"], subject="staff")
        response = await self.client.get(
            "/listings/preview", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def changes(self, since: int = 0, limit: int = 1000) -> tuple[list[dict[str, Any]], int]:
        """Every public change after ``since`` (following the pages) and the cursor to go on from."""
        found: list[dict[str, Any]] = []
        while True:
            response = await self.client.get("/listings/changes", params={"since": since, "limit": limit})
            assert response.status_code == 200, response.text
            body = response.json()
            found += body["changes"]
            since = body["next_cursor"]
            if not body["has_more"]:
                return found, since

    async def everything(self, years: range = range(2020, 2027)) -> dict[tuple[int, str, str], dict[str, Any]]:
        """The whole listing of every year, as the staff preview shows it (embargo or not)."""
        found = {}
        for year in years:
            page = 1
            while True:
                body = await self.preview(year=year, page=page, page_size=200)
                found.update({(year, i["sector"], i["agb"]): i for i in body["items"]})
                if page * 200 >= body["total"]:
                    break
                page += 1
        return found


def publication_settings(url: str, bootstrap: str, prefix: str, **extra: Any) -> PublicationSettings:
    upgrade(SPEC.migrations, url)
    return PublicationSettings(**settings_values(url, bootstrap, prefix, **extra))


@contextlib.asynccontextmanager
async def publication(settings: PublicationSettings, **app_options: Any) -> AsyncIterator[Publication]:
    """The service app with its consumers (and a client), plus a connection to its database."""
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        async with running_app(SPEC, settings, **app_options) as client:
            yield Publication(client, engine, settings)
    finally:
        await engine.dispose()
