"""The FastAPI application of a service: problems, auth, health, metrics, and its workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from . import tracing
from .limits import BodyLimit, route_limits
from .logs import RequestContext, configure_logging
from .metrics import install_metrics
from .openapi import install_openapi, mark_database
from .problems import install_problem_handlers
from .service import Runtime, ServiceSpec
from .settings import ServiceSettings
from .uow import UnitOfWork

log = logging.getLogger(__name__)


def create_app(spec: ServiceSpec, settings: ServiceSettings | None = None, *, workers: bool | None = None) -> FastAPI:
    settings = settings or spec.settings_cls()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, settings.is_development)
    tracing.configure(spec.name)
    run_workers = settings.ZORG_RUN_WORKERS if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(spec, settings)
        app.state.runtime = runtime
        if run_workers:
            await runtime.start_workers()
        log.info("%s started (env=%s, workers=%s)", spec.name, settings.ZORG_ENV, run_workers)
        try:
            yield
        finally:
            await runtime.close()
            log.info("%s stopped", spec.name)

    app = FastAPI(
        title=spec.title or f"Zorginkoop {spec.name}",
        description=spec.description,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.spec = spec
    install_problem_handlers(app)
    # Inside the metrics: a 413 is counted too.
    app.add_middleware(BodyLimit, settings=settings, routes=route_limits(spec.routers))
    install_metrics(app, spec.name)
    app.add_middleware(RequestContext)  # request ids and the access log
    tracing.instrument_app(app)
    _install_health(app)
    _install_cors(app, settings)
    for router in spec.routers:
        app.include_router(router)
    install_openapi(app, spec.routers)
    return app


def _install_cors(app: FastAPI, settings: ServiceSettings) -> None:
    """Let the named page origins call the API from a browser (the portal page in `make run`).

    Bearer tokens travel in a header, never in cookies: no credentials mode is needed.
    """
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "If-Match"],
            expose_headers=["ETag"],
            max_age=600,
        )


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    database: Literal["ok", "unreachable"]
    broker: Literal["ok", "unreachable"]
    loops: dict[str, str] | None = Field(default=None, description="each loop of this process and its state")


def _install_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="The database and the broker are reachable, and the workers run well",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: what is not"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.runtime
        ready, body = await runtime.readiness()
        return JSONResponse(body, status_code=200 if ready else 503)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    async with get_runtime(request).uow() as uow:
        yield uow


mark_database(get_uow)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UowDep = Annotated[UnitOfWork, Depends(get_uow)]
