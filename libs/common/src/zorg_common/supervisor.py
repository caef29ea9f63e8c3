"""`zorg up`: the bundled broker and every service as a child process, migrated, demo-loaded, stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from .auth import issue_token
from .broker import BundledBroker
from .migrations import upgrade
from .service import ServiceSpec
from .settings import ServiceSettings

log = logging.getLogger("zorg.up")

#: The names a browser on this machine may use for the services of `zorg up`.
LOCAL_HOSTS = ("127.0.0.1", "localhost")


class Platform:
    def __init__(
        self,
        specs: Mapping[str, ServiceSpec],
        *,
        data_dir: Path,
        broker_port: int = 9092,
        port_offset: int = 0,
        external_broker: bool = False,
        demo: bool = True,
    ) -> None:
        self.specs = dict(specs)
        self.data_dir = data_dir
        self.broker_port = broker_port
        self.port_offset = port_offset
        self.external_broker = external_broker
        self.demo = demo
        self.children: dict[str, asyncio.subprocess.Process] = {}
        self.broker: BundledBroker | None = None
        self._output_tasks: list[asyncio.Task[None]] = []
        self._demo_notes: list[str] = []

    def _echo(self, message: str) -> None:
        print(message, flush=True)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ, ZORG_DATA_DIR=str(self.data_dir), PYTHONUNBUFFERED="1")
        if not self.external_broker:
            env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{self.broker_port}"
            env["KAFKA_ENABLE_IDEMPOTENCE"] = "false"  # the bundled broker lacks it
        env.pop("DATABASE_URL", None)  # one URL cannot serve four services: each its own SQLite file
        pages = [
            f"http://{host}:{self._port(s)}" for s in self.specs.values() if s.extra.get("page") for host in LOCAL_HOSTS
        ]
        if pages and "CORS_ALLOW_ORIGINS" not in env:
            env["CORS_ALLOW_ORIGINS"] = ",".join(pages)
        for spec in self.specs.values():
            # Where the services find each other (e.g. ELIGIBILITY_URL for contracting), and the other
            # ports a service listens on (e.g. SMTP_PORT), moved with --port-offset.
            env[f"{spec.name.upper()}_URL"] = f"http://127.0.0.1:{self._port(spec)}"
            for setting, port in spec.extra.get("ports", {}).items():
                env[setting] = str(port + self.port_offset)
        return env

    def _port(self, spec: ServiceSpec) -> int:
        return spec.port + self.port_offset

    async def run(self, stop: asyncio.Event) -> None:
        if not self.specs:
            raise RuntimeError("no services are installed (pip install -e services/...)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self._env()
        try:
            if not self.external_broker:
                self.broker = BundledBroker(self.broker_port, log_path=self.data_dir / "log" / "broker.log").start()
                self._echo(f"broker      kafka://127.0.0.1:{self.broker_port} (bundled, memory only)")
            await self._migrate(env)
            for spec in self.specs.values():
                await self._spawn(spec, env)
            await self._wait_ready(stop)
            if self.demo and not stop.is_set():
                await self._load_demo()
            if not stop.is_set():
                self._print_urls()
            await self._watch(stop)
        finally:
            await self._stop_children()
            if self.broker is not None:
                self.broker.stop()
            self._echo("stopped: every service and the broker")

    async def _migrate(self, env: dict[str, str]) -> None:
        for spec in self.specs.values():
            url = spec.settings_cls(_env_file=None, ZORG_DATA_DIR=self.data_dir).database_url  # type: ignore[call-arg]
            await asyncio.to_thread(upgrade, spec.migrations, url)
            self._echo(f"migrated    {spec.name}")

    async def _spawn(self, spec: ServiceSpec, env: dict[str, str]) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "zorg_common.cli",
            "serve",
            spec.name,
            "--port",
            str(self._port(spec)),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self.children[spec.name] = proc
        self._output_tasks.append(asyncio.create_task(self._relay_output(spec.name, proc)))

    async def _relay_output(self, name: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        log_path = self.data_dir / "log" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log_file:  # noqa: ASYNC230 - appends of a few lines
            async for line in proc.stdout:
                log_file.write(line)
                log_file.flush()
                sys.stdout.write(f"[{name:<11}] {line.decode(errors='replace')}")
                sys.stdout.flush()

    async def _wait_ready(self, stop: asyncio.Event, timeout: float = 90.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        pending = dict(self.specs)
        async with httpx.AsyncClient(timeout=5) as client:
            while pending and not stop.is_set():
                for name, spec in list(pending.items()):
                    proc = self.children[name]
                    if proc.returncode is not None:
                        raise RuntimeError(f"{name} exited at start (code {proc.returncode}); see its log above")
                    with contextlib.suppress(httpx.HTTPError):
                        response = await client.get(f"http://127.0.0.1:{self._port(spec)}/readyz")
                        if response.status_code == 200:
                            del pending[name]
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
                await asyncio.sleep(0.3)

    async def _load_demo(self) -> None:
        settings = ServiceSettings()

        def token(*scopes: str, agb: str | None = None) -> str:
            return issue_token(settings, scopes, agb=agb, subject="demo-loader")

        ordered = sorted(self.specs.values(), key=lambda s: s.demo_order)
        stages = [(spec, spec.demo, "") for spec in ordered] + [(s, s.demo_followup, " (follow-up)") for s in ordered]
        for spec, loader, stage in stages:
            if loader is None:
                continue
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self._port(spec)}", timeout=30) as client:
                try:
                    note = await loader(client, token)
                    self._echo(f"demo data   {spec.name}{stage}: loaded")
                    if note:
                        self._demo_notes.append(note)
                except Exception as exc:  # the platform still runs; say what went wrong
                    self._echo(f"demo data   {spec.name}{stage}: FAILED: {exc}")

    def _print_urls(self) -> None:
        lines = ["", "Zorginkoop is running:"]
        for spec in self.specs.values():
            lines.append(f"  {spec.name:<12} http://127.0.0.1:{self._port(spec)}/docs")
        lines += ["", *self._demo_notes] if self._demo_notes else []
        lines += [
            "",
            "  a token:    .venv/bin/zorg token --scope admin",
            f"  data, logs: {self.data_dir}",
            "  Ctrl-C stops everything.",
            "",
        ]
        self._echo("\n".join(lines))

    async def _watch(self, stop: asyncio.Event) -> None:
        waits = {asyncio.create_task(proc.wait()): name for name, proc in self.children.items()}
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in waits:
                self._echo(f"{waits[task]} exited unexpectedly (code {task.result()}); stopping the platform")
        stopper.cancel()
        for task in waits:
            task.cancel()

    async def _stop_children(self) -> None:
        for proc in self.children.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for name, proc in self.children.items():
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                log.warning("%s did not stop in 15 s; killing it", name)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
