"""Alembic helpers shared by every service's migration environment."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from .db import async_url, create_engine
from .settings import ServiceSettings


def alembic_config(migrations_package: str, database_url: str) -> Config:
    """A config for a service whose migrations live in the package ``migrations_package``."""
    location = Path(str(resources.files(migrations_package)))
    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade(migrations_package: str, database_url: str, revision: str = "head") -> None:
    """Migrate to ``revision``. Blocking; from inside an event loop it runs on a worker thread."""
    config = alembic_config(migrations_package, database_url)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(config, revision)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, config, revision).result()


def behind_head(migrations_package: str, database_url: str) -> bool:
    """Whether the database lacks a head revision of the service's history (a new or older database)."""
    heads = set(ScriptDirectory.from_config(alembic_config(migrations_package, database_url)).get_heads())

    async def current() -> set[str]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return set(await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_heads()))
        finally:
            await engine.dispose()

    return not heads <= asyncio.run(current())


def run_env(target_metadata: Sequence[MetaData], settings_cls: type[ServiceSettings]) -> None:
    """The body of a service's ``env.py``: online migrations over the async engine.

    The URL is the one `zorg migrate` put in the config, else the service's settings (for the
    plain ``alembic`` command line).
    """
    config = context.config
    url = config.get_main_option("sqlalchemy.url") or async_url(settings_cls().database_url)
    options: dict[str, Any] = {"target_metadata": list(target_metadata), "compare_type": True}

    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def _migrate(connection: Connection) -> None:
        context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite", **options)
        with context.begin_transaction():
            context.run_migrations()

    async def _online() -> None:
        engine = create_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
        await engine.dispose()

    asyncio.run(_online())


def create_messaging_tables_v1(op: Any) -> None:
    """Revision 1 of the outbox and inbox tables, frozen as written here (later changes get a v2)."""
    seq_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "outbox",
        sa.Column("seq", seq_type, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["seq"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer_group", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False, server_default=sa.text("'handled'")),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer_group", "event_id", name="pk_inbox"),
    )


def drop_messaging_tables_v1(op: Any) -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")


def create_inbox_received_index(op: Any) -> None:
    """The inbox's index for pruning by age (each service's revision ``*_inbox_received_index``)."""
    op.create_index("ix_inbox_received", "inbox", ["consumer_group", "received_at"])


def drop_inbox_received_index(op: Any) -> None:
    op.drop_index("ix_inbox_received", table_name="inbox")
