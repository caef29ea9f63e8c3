"""The probe server of `zorg worker` and `zorg relay`: /healthz, /readyz and /metrics on ZORG_PROBE_PORT.

Those processes serve no API, but an orchestrator must still see whether they are alive, whether
their loops run well (restart a stuck one) and how far behind they are (scale on lag).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .metrics import metrics_response
from .service import Runtime

log = logging.getLogger(__name__)


def probe_app(runtime: Runtime) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ready, body = await runtime.readiness()
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return metrics_response()

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)])


class EmbeddedServer(uvicorn.Server):
    """Uvicorn inside a process that handles its own signals (SIGTERM stops the workers, then this)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn before 0.29
        pass


class ProbePortBusy(RuntimeError):
    """The probe server could not listen on ZORG_PROBE_PORT."""


@contextlib.asynccontextmanager
async def probe_server(runtime: Runtime) -> AsyncIterator[int | None]:
    """Serve the probes while the block runs; yields the port, or None when ZORG_PROBE_PORT is unset."""
    settings = runtime.settings
    if settings.ZORG_PROBE_PORT is None:
        yield None
        return
    config = uvicorn.Config(
        probe_app(runtime),
        host=settings.ZORG_PROBE_HOST,
        port=settings.ZORG_PROBE_PORT,
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    # Bound and listening here, not in uvicorn: a port that is taken is an error of ours (not
    # uvicorn's sys.exit), and a probe that comes before uvicorn has started waits in the backlog.
    host, port = settings.ZORG_PROBE_HOST, settings.ZORG_PROBE_PORT
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ProbePortBusy(f"the probe server cannot listen on ZORG_PROBE_HOST={host} ZORG_PROBE_PORT={port}") from exc
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="probe-server")
    log.info("probes on http://%s:%d (/healthz, /readyz, /metrics)", host, port)
    try:
        yield port
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)
        sock.close()
