"""Tracing: off without an endpoint (no SDK, no traceparent), on with one (OTLP/HTTP); events' trace context."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import async_sessionmaker

from zorg_common import tracing
from zorg_common.broker import free_port
from zorg_common.events import CloudEvent, ProviderUpdated
from zorg_common.uow import UnitOfWork


def _event() -> ProviderUpdated:
    return ProviderUpdated(agb="12345678", name="Praktijk", kind="care_group", sectors=["GLI"])


def _traceparent(context: trace.SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _emit() -> CloudEvent:
    return UnitOfWork(async_sessionmaker(), source="/zorg/test").emit(_event())


def test_without_an_endpoint_nothing_is_configured_and_envelopes_carry_no_traceparent() -> None:
    assert tracing.configure("claims") is False
    assert not tracing.enabled()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)  # no SDK provider, here or global
    # Even with a span current (someone else's SDK), an envelope carries nothing while tracing is off.
    foreign = TracerProvider().get_tracer("foreign")
    with foreign.start_as_current_span("elsewhere"):
        envelope = _emit()
        assert tracing.current_traceparent() is None
    assert envelope.traceparent is None and envelope.tracestate is None
    assert b"traceparent" not in envelope.to_json()
    rows = [SimpleNamespace(seq=1, topic="zorg.providers", payload=envelope.to_json().decode())]
    with tracing.publishing(rows) as headers:
        assert headers == {}
    with tracing.consuming("g", []), tracing.untraced(), tracing.span("s"), tracing.resumed("r", None):
        assert not trace.get_current_span().get_span_context().is_valid


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "  "},
    ],
)
def test_the_standard_variables_can_keep_it_off(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing.configure("claims") is False and not tracing.enabled()


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps every export request's decoded body."""

    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.received = []
    server = http.server.HTTPServer(("127.0.0.1", free_port()), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _exported() -> list[tuple[str, str]]:
    """(service.name, span name) of everything the collector received."""
    found = []
    for request in _Collector.received:
        for resource_spans in request.resource_spans:
            names = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                found += [(names["service.name"], s.name) for s in scope_spans.spans]
    return found


@pytest.mark.parametrize(("service_name", "expected"), [(None, "zorg-claims"), ("claims-eu", "claims-eu")])
def test_with_an_endpoint_spans_go_over_otlp_http(
    monkeypatch: pytest.MonkeyPatch, collector: str, service_name: str | None, expected: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    if service_name:
        monkeypatch.setenv("OTEL_SERVICE_NAME", service_name)
    try:
        assert tracing.configure("claims") is True and tracing.enabled()
        assert tracing.configure("claims") is True  # a second call changes nothing
        with tracing.span("follow-format receive"):
            envelope = _emit()
            traceparent = tracing.current_traceparent()
        assert traceparent is not None and envelope.traceparent == traceparent
    finally:
        tracing.uninstall()  # flushes the batch to the collector
    assert not tracing.enabled()
    assert _exported() == [(expected, "follow-format receive")]


def test_an_envelope_carries_the_emitting_span_and_the_relay_continues_it(spans: InMemorySpanExporter) -> None:
    with tracing.span("request"):
        first, second = _emit(), _emit()
    untraced = _emit()
    assert untraced.traceparent is None
    [request] = spans.get_finished_spans()
    context = request.get_span_context()
    assert context is not None
    assert first.traceparent == _traceparent(context) == second.traceparent
    rows = [
        SimpleNamespace(seq=n, topic="zorg.providers", payload=e.to_json().decode())
        for n, e in enumerate((first, second, untraced))
    ]
    with tracing.publishing(rows) as headers:
        assert set(headers) == {0, 1}  # one header set per traced row, none for the untraced one
    [send] = [s for s in spans.get_finished_spans() if s.name == "zorg.providers send"]
    assert send.kind == trace.SpanKind.PRODUCER and send.parent is not None
    assert send.parent.span_id == context.span_id and send.attributes is not None
    assert send.attributes["messaging.batch.message_count"] == 2
    sent = send.get_span_context()
    assert sent is not None
    assert dict(headers[0])["traceparent"] == _traceparent(sent).encode()


def test_the_stored_attribute_is_the_envelopes_own_even_when_the_data_mentions_it() -> None:
    payload = (
        '{"id":"1","data":{"note":"\\"traceparent\\":\\"00-bad\\""},'
        '"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",'
        '"tracestate":"vendor=a\\"b,other=c"}'
    )
    assert (
        tracing._stored_attribute(payload, "traceparent") == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    )
    assert tracing._stored_attribute(payload, "tracestate") == 'vendor=a"b,other=c'
    assert tracing._stored_attribute('{"id":"1","data":{}}', "traceparent") is None
    assert tracing._stored_attribute('{"traceparent":12}', "traceparent") is None


def test_a_hostile_trace_context_is_ignored_not_fatal(spans: InMemorySpanExporter) -> None:
    """A message with garbage or an oversized traceparent is handled in a trace of its own."""
    for traceparent in (
        "not-a-traceparent",
        "00-" + "f" * 10_000,
        "00-00000000000000000000000000000000-0000000000000000-01",
    ):
        envelope = CloudEvent.model_validate({**_emit().model_dump(), "traceparent": traceparent})
        record = SimpleNamespace(topic="zorg.providers", offset=7, headers=[("traceparent", traceparent.encode())])
        with tracing.consuming("group", [SimpleNamespace(record=record, envelope=envelope)]):  # type: ignore[list-item]
            pass
    processed = [s for s in spans.get_finished_spans() if s.name == "zorg.providers process"]
    assert len(processed) == 3 and all(s.parent is None for s in processed)


def test_query_values_stay_out_of_traces() -> None:
    assert tracing._without_query_values("/access-log?bsn=111222333&since=2023-01-01") == "/access-log?bsn=&since="
    assert tracing._without_query_values("http://x/claims/1") == "http://x/claims/1"
    assert tracing._without_query_values("/claims?111222333") == "/claims?_="  # a bare value is no name
    assert tracing._without_query_values("/claims?a=1&&b") == "/claims?a=&b="
    assert tracing._query_names("bsn=1&x y=2") == "bsn=&_="


def test_the_deployment_points_at_what_the_services_send_and_the_variables_are_documented() -> None:
    root = Path(__file__).resolve().parents[2]
    platform = yaml.safe_load((root / "deploy/k8s/base/kustomization.yaml").read_text())
    [config] = [c for c in platform["configMapGenerator"] if c["name"] == "zorg-platform"]
    settings = dict(literal.split("=", 1) for literal in config["literals"])
    assert settings["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"  # the only exporter installed
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")  # the collector's OTLP/HTTP port
    for document in ("README.md", ".env.example", "deploy/README.md"):
        text = (root / document).read_text()
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in text and "OTEL_SERVICE_NAME" in text, document


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every GET and keeps the headers it was sent."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_an_outgoing_httpx_call_is_a_client_span_that_carries_the_trace(spans: InMemorySpanExporter) -> None:
    _Echo.seen = []
    server = http.server.HTTPServer(("127.0.0.1", free_port()), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        async with httpx.AsyncClient() as client:  # an ordinary client: the process-wide instrumentation
            with tracing.span("decide"):
                response = await client.get(f"http://127.0.0.1:{server.server_port}/providers?bsn=111222333")
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 204
    [call] = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    context = call.get_span_context()
    assert context is not None
    assert _Echo.seen[0]["traceparent"] == _traceparent(context)  # the callee continues this span
    assert "111222333" not in str(dict(call.attributes or {}))
