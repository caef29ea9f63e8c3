"""Request ids and access lines: X-Request-ID in and out, JSON fields request_id/trace_id/span_id, no query strings."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.support import running_app, spec_with_test_routes
from zorg_common.auth import issue_token
from zorg_eligibility.service import SPEC
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
BSN = "111222333"


@pytest.fixture
def settings(tmp_path: Path) -> EligibilitySettings:
    return EligibilitySettings(
        _env_file=None,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/e.db",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        LOG_FORMAT="json",
    )


async def _client(settings: EligibilitySettings) -> AsyncIterator[httpx.AsyncClient]:
    from zorg_common.migrations import upgrade

    upgrade(SPEC.migrations, settings.database_url)
    async with running_app(spec_with_test_routes(SPEC), settings, workers=False) as client:
        yield client


@pytest.fixture
async def client(settings: EligibilitySettings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(settings):
        yield client


@pytest.fixture
async def traced_client(spans: InMemorySpanExporter, settings: EligibilitySettings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(settings):
        yield client


class Logged:
    """What the handler that ``create_app`` configured writes, as its text and as JSON objects."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def logged() -> Iterator[Logged]:
    """Request it after the client: the handler is the one the app's start configured (format, filter)."""
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    found = Logged()
    previous = handler.setStream(found.buffer)
    try:
        yield found
    finally:
        handler.setStream(previous)


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "zorg.access"]


async def test_the_request_id_is_taken_when_well_formed_else_made(
    client: httpx.AsyncClient, settings: EligibilitySettings, logged: Logged
) -> None:
    auth = {"Authorization": f"Bearer {issue_token(settings, ['providers:read'])}"}
    given = await client.get("/test/providers/12345678", headers={**auth, "X-Request-ID": "req-42.a:b"})
    assert given.status_code == 200 and given.headers["x-request-id"] == "req-42.a:b"
    for hostile in (b"x" * 129, b"two words", b"-leading-dash", "é".encode("latin-1"), b"a\tb", b""):
        bytes_auth = {name.encode(): value.encode() for name, value in auth.items()}
        answered = await client.get("/test/providers/12345678", headers={**bytes_auth, b"X-Request-ID": hostile})
        assert answered.status_code == 200 and UUID.fullmatch(answered.headers["x-request-id"]), hostile
    made = await client.get("/healthz")
    assert UUID.fullmatch(made.headers["x-request-id"])
    lines = access_lines(logged.lines())
    assert lines[0]["request_id"] == "req-42.a:b" and lines[-1]["request_id"] == made.headers["x-request-id"]
    assert {line["status"] for line in lines} == {200}


async def test_access_lines_leave_the_query_string_out(
    client: httpx.AsyncClient, settings: EligibilitySettings, logged: Logged
) -> None:
    auth = {"Authorization": f"Bearer {issue_token(settings, ['providers:read'])}"}
    response = await client.get(f"/test/providers/12345678?bsn={BSN}", headers=auth)
    assert response.status_code == 200
    await client.get("/test/providers/12345678%0AFORGED%20200")
    assert BSN not in logged.text and "FORGED 200\n" not in logged.text
    lines = logged.lines()
    [first, forged] = access_lines(lines)
    assert first["method"] == "GET" and first["path"] == "/test/providers/12345678" and first["status"] == 200
    assert first["duration_ms"] >= 0 and first["request_id"] == response.headers["x-request-id"]
    assert "\n" not in forged["path"]


async def test_an_internal_error_still_returns_and_logs_the_request_id(
    client: httpx.AsyncClient, logged: Logged
) -> None:
    response = await client.get("/test/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500 and response.headers["x-request-id"] == "boom-1"
    lines = logged.lines()
    [error] = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == "boom-1" and "RuntimeError" in error["message"]  # with its traceback
    [access] = access_lines(lines)
    assert access["status"] == 500 and access["request_id"] == "boom-1"


async def test_log_lines_carry_the_trace_and_span_of_the_request(
    traced_client: httpx.AsyncClient,
    spans: InMemorySpanExporter,
    settings: EligibilitySettings,
    logged: Logged,
) -> None:
    auth = {"Authorization": f"Bearer {issue_token(settings, ['providers:read'])}"}
    response = await traced_client.get("/test/providers/12345678", headers={**auth, "X-Request-ID": "traced-1"})
    assert response.status_code == 200
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    context = server.get_span_context()
    assert context is not None and server.name == "GET /test/providers/{agb}"
    [access] = access_lines(logged.lines())
    assert access["request_id"] == "traced-1"
    assert access["trace_id"] == f"{context.trace_id:032x}" and access["span_id"] == f"{context.span_id:016x}"
    probe = await traced_client.get("/healthz")  # probes make no spans
    assert probe.status_code == 200
    assert [s.name for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER] == [server.name]


async def test_a_query_string_in_a_traced_request_keeps_its_names_not_its_values(
    traced_client: httpx.AsyncClient, spans: InMemorySpanExporter, settings: EligibilitySettings
) -> None:
    auth = {"Authorization": f"Bearer {issue_token(settings, ['providers:read'])}"}
    await traced_client.get(f"/test/providers/12345678?bsn={BSN}&since=2023-01-01", headers=auth)
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    attributes = dict(server.attributes or {})
    assert BSN not in json.dumps(attributes)
    assert any(str(value).endswith("?bsn=&since=") for value in attributes.values()), attributes
