"""Pieces the tests share: a test router on a real service app, and an `applied` table."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from zorg_common.app import UowDep, create_app
from zorg_common.auth import Principal, require_scope
from zorg_common.consumer import ConsumerSpec
from zorg_common.events import TOPIC_PROVIDERS, CloudEvent, Event, ProviderUpdated
from zorg_common.identifiers import Agb, Postcode
from zorg_common.service import ServiceSpec
from zorg_common.settings import ServiceSettings
from zorg_common.uow import UnitOfWork

test_metadata = MetaData()
applied = Table(
    "applied",
    test_metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),  # no unique constraint: a double would show
    Column("agb", String(8), nullable=False),
    Column("version", Integer, nullable=False),
)


async def record_applied(uow: UnitOfWork, envelope: CloudEvent, event: Event) -> None:
    assert isinstance(event, ProviderUpdated)
    if event.name == "always-fails":
        raise RuntimeError("this handler keeps failing")
    await uow.session.execute(insert(applied).values(event_id=envelope.id, agb=event.agb, version=event.version))


APPLY = ConsumerSpec(group="test.apply", topics=(TOPIC_PROVIDERS,), handlers={"ProviderUpdated": record_applied})


async def applied_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(applied).order_by(applied.c.n))).all())


async def applied_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(applied)) or 0)


def provider_updated(agb: str, version: int, name: str = "Praktijk") -> ProviderUpdated:
    return ProviderUpdated(agb=agb, name=name, kind="care_group", sectors=["GLI"], version=version)


class Address(BaseModel):
    street: str
    postcode: Postcode
    city: str


class ProviderIn(BaseModel):
    name: str
    address: Address


router = APIRouter(prefix="/test", tags=["test"])


@router.put("/providers/{agb}")
async def put_provider(
    agb: Agb,
    body: ProviderIn,
    uow: UowDep,
    principal: Annotated[Principal, Depends(require_scope("providers:write"))],
) -> dict[str, str]:
    event = uow.emit(ProviderUpdated(agb=agb, name=body.name, kind="institution", sectors=["GGZ"]))
    await uow.commit()
    return {"event_id": event.id, "by": principal.subject}


@router.get("/providers/{agb}")
async def get_provider(
    agb: Agb, principal: Annotated[Principal, Depends(require_scope("providers:read", portal=True))]
) -> dict[str, str]:
    if not principal.may_see_provider(agb):
        from zorg_common.auth import Forbidden

        raise Forbidden("a portal token sees only its own provider")
    return {"agb": agb}


@router.get("/database-away")
async def database_away() -> None:
    from sqlalchemy.exc import OperationalError

    raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internal detail /srv/app.py SELECT * FROM x")


def spec_with_test_routes(base: ServiceSpec, consumers: tuple[ConsumerSpec, ...] = ()) -> ServiceSpec:
    return dataclasses.replace(base, routers=[router], consumers=consumers)


@contextlib.asynccontextmanager
async def running_app(spec: ServiceSpec, settings: ServiceSettings, **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The service app with its lifespan (relay and consumers) running, and a client for it."""
    app: FastAPI = create_app(spec, settings, **kw)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app (with its lifespan) served over real HTTP by uvicorn on a free port of this event loop;
    yields its base URL."""
    import asyncio

    import uvicorn

    from zorg_common.broker import free_port
    from zorg_common.probes import EmbeddedServer

    port = free_port()
    server = EmbeddedServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("uvicorn did not start")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def pem_pair(kind: str = "ec") -> tuple[str, str]:
    """A new key pair as PEM (private PKCS8, public SubjectPublicKeyInfo): RSA (RS256) or EC P-256 (ES256)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key: Any = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


_FIGURE = re.compile(r'data-figure="([^"]+)"(?: data-value="([^"]*)")?>([^<]*)<')


def page_figures(html: str) -> dict[str, str]:
    """The figures a page shows, by name (its ``data-figure``): the ``data-value`` where the text is a
    sentence or an amount, else the text itself."""
    found = {}
    for match in _FIGURE.finditer(html):
        name, value, text = match.groups()
        found[name] = value if value is not None else text.strip()
    return found


class LoopThread:
    """An event loop on a thread of its own, for a synchronous test (schemathesis, requests) that talks
    to services served on it: ``run`` waits for a coroutine there, ``enter`` enters an async context
    that is left again when the thread stops."""

    def __init__(self) -> None:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        self.exits = contextlib.AsyncExitStack()
        self.thread = threading.Thread(target=self.loop.run_forever, name="loop-thread", daemon=True)

    def run(self, coroutine: Any, timeout: float = 120) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def enter(self, context: contextlib.AbstractAsyncContextManager[Any]) -> Any:
        return self.run(self.exits.enter_async_context(context))


@contextlib.contextmanager
def loop_thread() -> Iterator[LoopThread]:
    """A `LoopThread` running while the block runs; what was entered on it is left in reverse order."""
    thread = LoopThread()
    thread.thread.start()
    try:
        yield thread
    finally:
        try:
            thread.run(thread.exits.aclose())
        finally:
            thread.loop.call_soon_threadsafe(thread.loop.stop)
            thread.thread.join(30)
            thread.loop.close()
