"""`zorg publication rebuild`: replay the topics from the start into a fresh read model, then end."""

from __future__ import annotations

import asyncio

import click
from aiokafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from zorg_common.db import create_engine, session_factory
from zorg_common.logs import configure_logging

from ..service_layer.rebuild import RebuildReport, rebuild
from ..settings import PublicationSettings


@click.group(name="publication")
def publication_cli() -> None:
    """The publication service's own commands."""


@publication_cli.command(name="rebuild")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="seconds the replay may take")
def rebuild_command(timeout: float) -> None:
    """Replay zorg.providers and zorg.contracts from offset 0 (up to their ends at the start) into a
    fresh read model and put it in place; the website gets only the differences as changes."""
    settings = PublicationSettings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, settings.is_development)

    async def run() -> RebuildReport:
        engine = create_engine(settings.database_url, pool_size=2, max_overflow=0)
        try:
            return await rebuild(settings, session_factory(engine), timeout=timeout)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise click.ClickException(
            f"rebuild failed on the database ({detail}); is it reachable and migrated (zorg migrate publication)?"
        ) from exc
    except (OSError, TimeoutError, KafkaError) as exc:
        raise click.ClickException(f"rebuild failed (broker {settings.KAFKA_BOOTSTRAP_SERVERS}): {exc}") from exc
    click.echo(f"rebuild done: {report.describe()}")
