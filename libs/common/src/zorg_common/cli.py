"""The `zorg` command: serve, worker, relay, migrate, up, token, and each service's own commands."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from . import clock
from .service import ServiceSpec, tune_process
from .settings import ServiceSettings

#: The business date of `zorg up` with the demo: the seed policies are GLI-2023 and GGZ-2021, so on a
#: real date years later every claim in the demo would be past its submission deadline and no
#: procurement would still be running. On 1 June 2023 the demo shows all of it.
DEMO_TODAY = "2023-06-01"

log = logging.getLogger("zorg")


@lru_cache(maxsize=1)
def services() -> dict[str, ServiceSpec]:
    """The installed services, found through the ``zorg.services`` entry point group."""
    found: dict[str, ServiceSpec] = {}
    for ep in entry_points(group="zorg.services"):
        spec = ep.load()
        if not isinstance(spec, ServiceSpec):
            raise click.ClickException(f"entry point {ep.name} is not a ServiceSpec")
        found[spec.name] = spec
    return dict(sorted(found.items(), key=lambda kv: kv[1].port))


def service_spec(name: str) -> ServiceSpec:
    try:
        return services()[name]
    except KeyError:
        known = ", ".join(services()) or "none installed"
        raise click.BadParameter(f"unknown service {name!r} (known: {known})") from None


def service_settings(spec: ServiceSpec) -> ServiceSettings:
    """The service's settings; settings that cannot work stop the command with a message naming them."""
    from pydantic import ValidationError

    try:
        return spec.settings_cls()
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        ]
        raise click.ClickException(
            f"{spec.name} cannot start with these settings:\n  " + "\n  ".join(problems)
        ) from None


def _run_until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run ``main(stop)`` where ``stop`` is set by SIGINT or SIGTERM, for a clean shutdown."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    tune_process()
    try:
        import uvloop  # the loop uvicorn uses for the API processes, when installed
    except ImportError:
        asyncio.run(runner())
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop_runner:
            loop_runner.run(runner())


@click.group()
def main() -> None:
    """Zorginkoop: care procurement, contracts, claims and publication."""


@main.command()
@click.argument("service")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, help="default: the service's own port")
@click.option(
    "--workers/--no-workers",
    default=None,
    help="run the relay and consumers in this process (default: ZORG_RUN_WORKERS, true)",
)
def serve(service: str, host: str, port: int | None, workers: bool | None) -> None:
    """Run one service's HTTP API, with its relay and consumers unless --no-workers."""
    import uvicorn

    from .app import create_app

    spec = service_spec(service)
    app = create_app(spec, service_settings(spec), workers=workers)
    tune_process()
    # Access lines come from the app itself (logs.RequestContext: request id, trace ids, duration,
    # no query string); uvicorn's own would repeat them with the query string in.
    uvicorn.run(app, host=host, port=port or spec.port, log_config=None, access_log=False)


def _run_workers(service: str, *, relay: bool, consumers: bool) -> None:
    from . import tracing
    from .logs import configure_logging
    from .probes import ProbePortBusy, probe_server
    from .service import Runtime

    spec = service_spec(service)
    settings = service_settings(spec)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, settings.is_development)
    tracing.configure(spec.name)

    async def run(stop: asyncio.Event) -> None:
        runtime = Runtime(spec, settings)
        # The probes answer from the start: alive at once, ready once the loops run well.
        async with probe_server(runtime), runtime.running(relay=relay, consumers=consumers):
            log.info("%s %s running; stop with SIGTERM or Ctrl-C", service, "relay" if relay else "worker")
            await stop.wait()
        log.info("%s stopped cleanly", service)

    try:
        _run_until_signal(run)
    except ProbePortBusy as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("service")
def worker(service: str) -> None:
    """Run one service's consumers alone (no HTTP), e.g. as their own deployment."""
    _run_workers(service, relay=False, consumers=True)


@main.command()
@click.argument("service")
def relay(service: str) -> None:
    """Run one service's outbox relay alone; several may run against PostgreSQL."""
    _run_workers(service, relay=True, consumers=False)


@main.command()
@click.argument("service", required=False)
@click.option("--revision", default="head", show_default=True)
@click.option("--check", is_flag=True, help="change nothing; exit 1 unless the database is at the head revision")
def migrate(service: str | None, revision: str, check: bool) -> None:
    """Apply the Alembic migrations of one service, or of every service."""
    from .migrations import behind_head, upgrade

    for spec in [service_spec(service)] if service else list(services().values()):
        settings = service_settings(spec)
        if check:
            # A deployment's init container waits on this until the release's migrate job has run.
            behind = behind_head(spec.migrations, settings.database_url)
            click.echo(f"{spec.name}: {'behind the head revision' if behind else 'at the head revision'}")
            if behind:
                sys.exit(1)
            continue
        click.echo(f"migrating {spec.name}: {_redact(settings.database_url)}")
        upgrade(spec.migrations, settings.database_url, revision)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="a scope (repeat for more): providers:read, contracts:write, claims:read, admin, portal, ...",
)
@click.option("--agb", help="the provider's AGB code (required with --scope portal)")
@click.option("--subject", default="zorg-cli", show_default=True)
@click.option("--ttl-hours", type=float, default=12.0, show_default=True)
def token(scopes: tuple[str, ...], agb: str | None, subject: str, ttl_hours: float) -> None:
    """Print a signed token for local use (HS256 with ZORG_JWT_SECRET)."""
    from .auth import issue_token

    settings = ServiceSettings()
    try:
        click.echo(issue_token(settings, scopes, agb=agb, subject=subject, ttl=dt.timedelta(hours=ttl_hours)))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@main.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="write the document to this file (default: standard output)",
)
@click.option("--check", is_flag=True, help="write nothing; exit 1 when --output differs from the event models")
def asyncapi(output: Path | None, check: bool) -> None:
    """The AsyncAPI 3 document of every topic, message type and schema, from the event models."""
    from .asyncapi import document, render

    text = render(document(services()))
    if check:
        if output is None:
            raise click.BadParameter("--check needs --output FILE", param_hint="--check")
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            raise click.ClickException(f"{output} differs from the event models; run: zorg asyncapi -o {output}")
        click.echo(f"{output} matches the event models")
    elif output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("var"),
    show_default=True,
    help="where the SQLite databases and logs are kept",
)
@click.option("--broker-port", type=int, default=9092, show_default=True)
@click.option("--port-offset", type=int, default=0, show_default=True, help="added to every service's port")
@click.option("--external-broker", is_flag=True, help="use KAFKA_BOOTSTRAP_SERVERS instead of the bundled broker")
@click.option("--demo/--no-demo", default=True, show_default=True, help="load the demo data")
@click.option(
    "--today",
    metavar="YYYY-MM-DD|real",
    help=f"the business date every service sees (ZORG_TODAY). Default: $ZORG_TODAY when set; else, with the "
    f"demo, {DEMO_TODAY} (the demo world, inside the years of the seed policies); else the real clock",
)
def up(
    data_dir: Path, broker_port: int, port_offset: int, external_broker: bool, demo: bool, today: str | None
) -> None:
    """Run the whole platform on this machine (what `make run` calls); Ctrl-C stops it all."""
    from .supervisor import Platform

    today = today or os.environ.get("ZORG_TODAY") or (DEMO_TODAY if demo else "real")
    if today == "real":
        os.environ.pop("ZORG_TODAY", None)
        click.echo(f"today       {clock.today().isoformat()} (the real clock)")
    else:
        try:
            dt.date.fromisoformat(today)
        except ValueError:
            raise click.BadParameter(f"{today!r} is not YYYY-MM-DD or 'real'", param_hint="--today") from None
        os.environ["ZORG_TODAY"] = today  # the children inherit it, and the demo loaders here read it
        click.echo(f"today       {today} (ZORG_TODAY; --today real for the real clock)")
    # The demo loaders here find the services' databases where the children do (the claims demo writes
    # a provider's history there, which no API takes in on one business date).
    os.environ["ZORG_DATA_DIR"] = str(data_dir.resolve())
    platform = Platform(
        services(),
        data_dir=data_dir.resolve(),
        broker_port=broker_port,
        port_offset=port_offset,
        external_broker=external_broker,
        demo=demo,
    )
    try:
        _run_until_signal(platform.run)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


def _attach_service_commands() -> None:
    with contextlib.suppress(Exception):  # a broken service must not take the whole CLI down
        for spec in services().values():
            if spec.cli is not None and spec.cli.name not in main.commands:
                main.add_command(spec.cli)


_attach_service_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
