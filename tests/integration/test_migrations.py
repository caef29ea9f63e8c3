"""Every service's migrations build exactly the tables its code defines, and go down again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from zorg_common.cli import services
from zorg_common.db import create_engine
from zorg_common.messaging import messaging_metadata
from zorg_common.migrations import alembic_config, upgrade

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["eligibility", "contracting", "claims", "publication"])
async def test_migrations_match_the_tables_and_downgrade(name: str, pg_url: str) -> None:
    spec = services()[name]
    upgrade(spec.migrations, pg_url)
    engine = create_engine(pg_url)

    def differences(conn: Any) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        # compare_metadata takes several MetaData as a list (as env.py's target_metadata does)
        return list(compare_metadata(context, [spec.metadata, messaging_metadata]))  # type: ignore[arg-type]

    try:
        async with engine.connect() as conn:
            drift = await conn.run_sync(differences)
    finally:
        await engine.dispose()
    assert drift == [], f"{name}: the migrations and the table definitions differ: {drift}"
    await asyncio.to_thread(command.downgrade, alembic_config(spec.migrations, pg_url), "base")
    upgrade(spec.migrations, pg_url)  # and up again
