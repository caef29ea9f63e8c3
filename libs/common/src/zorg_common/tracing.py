"""Traces across services: OpenTelemetry from the standard ``OTEL_*`` variables, and the W3C trace context events carry.

Off unless an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): then no SDK is loaded, nothing is exported, and every hook
below returns after one check of a module global. On, spans go over OTLP/HTTP (protobuf); the
SDK reads the other standard variables itself (sampler, resource attributes, batch sizes,
headers, propagators), and the service name defaults to ``zorg-<service>``.

How a trace follows an event (CloudEvents' Distributed Tracing extension):

- ``stamp`` (at ``UnitOfWork.emit``): the envelope gets the ``traceparent``/``tracestate`` of the
  span that emitted it, and keeps them in the outbox.
- ``publishing`` (the relay): per trace in a batch one ``<topic> send`` PRODUCER span, child of the
  envelope's context; each record gets that span's context as Kafka headers.
- ``consuming`` (the consumer): a CONSUMER span whose parent is the record's header context (else
  the envelope's); the handler's statements and the events it emits join that trace. A batch
  handler gets one span per run of events of one trace (the runner splits its runs by trace while
  tracing is on), linked to every event of the run, so a ``ClaimAdjudicated`` always carries the
  trace of the request that submitted its claim.
- ``untraced``: the workers' own bookkeeping (relay polls, inbox writes, offset commits) makes no
  spans; only the work done for an event or a request does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    import httpx
    from aiokafka.structs import ConsumerRecord
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .events import CloudEvent

log = logging.getLogger(__name__)

_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
_NOTHING: contextlib.nullcontext[None] = contextlib.nullcontext()
_NO_HEADERS: contextlib.nullcontext[Mapping[int, list[tuple[str, bytes]]]] = contextlib.nullcontext({})
#: The envelope attributes are W3C whatever OTEL_PROPAGATORS says (the CloudEvents extension is).
_W3C = TraceContextTextMapPropagator()
#: A traceparent is 55 characters, a tracestate at most 512 (W3C); longer values are not read.
_MAX_TRACEPARENT, _MAX_TRACESTATE = 128, 512
#: Links per consumer span (the SDK's own default limit).
_MAX_LINKS = 128
_EXCLUDED_URLS = "healthz,readyz,metrics"
_QUERY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def enabled() -> bool:
    return _tracer is not None


def _endpoint() -> str:
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or ""
    ).strip()


def configure(service: str) -> bool:
    """Turn tracing on for this process when the environment names an OTLP endpoint; returns whether it is on.

    Called by every entry point (``create_app``, ``zorg worker``, ``zorg relay``); once on, later
    calls change nothing. ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` keep it off.
    """
    if _tracer is not None:
        return True
    endpoint = _endpoint()
    if not endpoint:
        return False
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol.strip() != "http/protobuf":
        log.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL=%s is not installed; spans go as http/protobuf to %s", protocol, endpoint
        )
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"zorg-{service}"}))
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    log.info("tracing on: %s, spans over OTLP/HTTP to %s", resource.attributes.get(SERVICE_NAME), endpoint)
    return True


def install(provider: TracerProvider) -> None:
    """Trace with this provider (``configure`` makes it from the environment; tests pass their own).

    It is not made the global provider: only this module and the instrumentations it sets up
    use it, so ``uninstall`` leaves the process as it was.
    """
    global _provider, _tracer
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    if _tracer is not None:
        uninstall()
    _provider, _tracer = provider, provider.get_tracer(__name__)
    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider,
        meter_provider=_no_meters(),
        request_hook=_scrub_client_url,
        async_request_hook=_scrub_client_url_async,
    )
    AIOKafkaInstrumentor().instrument(tracer_provider=provider)


def uninstall() -> None:
    """Tracing off again: the instrumentations removed, the provider flushed and shut down."""
    global _provider, _tracer
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    provider, _provider, _tracer = _provider, None, None
    HTTPXClientInstrumentor().uninstrument()
    AIOKafkaInstrumentor().uninstrument()
    if provider is not None:
        provider.shutdown()


def _no_meters() -> Any:
    # Metrics are Prometheus' (zorg_common.metrics); the instrumentations' own would go nowhere.
    from opentelemetry.metrics import NoOpMeterProvider

    return NoOpMeterProvider()


# --- HTTP ---------------------------------------------------------------------------------------


def instrument_app(app: FastAPI) -> None:
    """A SERVER span per request (``traceparent`` from the caller honoured); probes and metrics are left out."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        meter_provider=_no_meters(),
        excluded_urls=os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", _EXCLUDED_URLS),
        exclude_spans=["receive", "send"],
        server_request_hook=_scrub_server_url,
    )


def _query_names(query: str) -> str:
    """``bsn=1&since=2`` -> ``bsn=&since=``: the names say what was asked; no value (a BSN among them)
    goes in a trace, and a name that does not look like one is ``_``."""
    names = (part.partition("=")[0] for part in query.split("&") if part)
    return "&".join(f"{name if _QUERY_NAME.fullmatch(name) else '_'}=" for name in names)


def _without_query_values(url: str) -> str:
    path, mark, query = url.partition("?")
    return f"{path}?{_query_names(query)}" if mark else url


def _scrub(span: Span) -> None:
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    for name in ("http.url", "http.target", "url.full"):
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, _without_query_values(value))
    query = attributes.get("url.query")
    if isinstance(query, str) and query:
        span.set_attribute("url.query", _query_names(query))


def _scrub_server_url(span: Span, scope: Mapping[str, Any]) -> None:
    if span.is_recording():
        _scrub(span)


def _scrub_client_url(span: Span, request: Any) -> None:
    if span.is_recording():
        _scrub(span)


async def _scrub_client_url_async(span: Span, request: Any) -> None:
    _scrub_client_url(span, request)


def instrument_client(client: httpx.AsyncClient) -> None:
    """Trace a client whose transport the process-wide instrumentation does not reach (an in-process ASGI app)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(
        client, tracer_provider=_provider, meter_provider=_no_meters(), request_hook=_scrub_client_url
    )


# --- SQL ----------------------------------------------------------------------------------------


def instrument_engine(engine: AsyncEngine) -> AsyncEngine:
    """A CLIENT span per statement (its text with placeholders, never its parameters)."""
    if _provider is None:
        return engine
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    connections = _no_meters().get_meter(__name__).create_up_down_counter("db.client.connections.usage")
    EngineTracer(  # type: ignore[no-untyped-call]
        trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", tracer_provider=_provider),
        engine.sync_engine,
        connections,
    )
    return engine


def untraced() -> contextlib.AbstractContextManager[object]:
    """Work started in here (the workers' tasks copy this context) makes no spans of its own: a relay's
    polls and a consumer's inbox writes belong to no request. Spans opened for an event by
    ``publishing``, ``consuming`` or ``resumed`` start from a fresh context and are traced again."""
    if _tracer is None:
        return _NOTHING
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


# --- events: emit, relay, consume ---------------------------------------------------------------


def _traceparent(span_context: SpanContext) -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to keep with work that goes on later (an intake)."""
    if _tracer is None:
        return None
    span_context = trace.get_current_span().get_span_context()
    return _traceparent(span_context) if span_context.is_valid else None


def stamp(event: CloudEvent) -> None:
    """Give the envelope the trace context of the span that emits it (nothing while tracing is off)."""
    if _tracer is None:
        return
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event.traceparent = _traceparent(span_context)
        event.tracestate = span_context.trace_state.to_header() or None


_DECODER = json.JSONDecoder()


def _stored_attribute(payload: str, name: str) -> str | None:
    """An envelope attribute from its stored JSON without parsing the whole payload.

    The extension attributes are declared after ``data``, so they are written last and the last
    occurrence of the key is the envelope's own.
    """
    key = f'"{name}":'
    at = payload.rfind(key)
    if at < 0:
        return None
    try:
        value, _ = _DECODER.raw_decode(payload, at + len(key))
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _w3c_context(traceparent: str | None, tracestate: str | None) -> Context:
    """The context of a stored or received W3C trace context, on an empty base (no suppression)."""
    carrier: dict[str, str] = {}
    if traceparent and len(traceparent) <= _MAX_TRACEPARENT:
        carrier["traceparent"] = traceparent
        if tracestate and len(tracestate) <= _MAX_TRACESTATE:
            carrier["tracestate"] = tracestate
    return _W3C.extract(carrier, context=Context()) if carrier else Context()


class _RelayRow(Protocol):
    seq: int
    topic: str
    payload: str


def publishing(rows: Sequence[_RelayRow]) -> contextlib.AbstractContextManager[Mapping[int, list[tuple[str, bytes]]]]:
    """Around the relay's send of a batch: the Kafka headers per outbox ``seq`` (empty while tracing is off)."""
    if _tracer is None:
        return _NO_HEADERS
    return _publishing(_tracer, rows)


@contextlib.contextmanager
def _publishing(tracer: trace.Tracer, rows: Sequence[_RelayRow]) -> Iterator[Mapping[int, list[tuple[str, bytes]]]]:
    groups: dict[tuple[str, str, str | None], list[int]] = {}
    for row in rows:
        traceparent = _stored_attribute(row.payload, "traceparent")
        if traceparent is not None:
            key = (row.topic, traceparent, _stored_attribute(row.payload, "tracestate"))
            groups.setdefault(key, []).append(row.seq)
    headers: dict[int, list[tuple[str, bytes]]] = {}
    spans: list[Span] = []
    for (topic, traceparent, tracestate), seqs in groups.items():
        parent = _w3c_context(traceparent, tracestate)
        span = tracer.start_span(
            f"{topic} send",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.name": "send",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                "messaging.batch.message_count": len(seqs),
            },
        )
        spans.append(span)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span, parent))
        record_headers = [(name, value.encode()) for name, value in carrier.items()]
        for seq in seqs:
            headers[seq] = record_headers
    try:
        yield headers
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        for span in spans:
            span.end()


class Delivery(Protocol):
    """A message as the consumer holds it: the Kafka record and its decoded envelope."""

    record: ConsumerRecord[bytes, bytes]
    envelope: CloudEvent | None


class _KafkaHeaders(Getter[Sequence[tuple[str, bytes]]]):
    def get(self, carrier: Sequence[tuple[str, bytes]], key: str) -> list[str] | None:
        for name, value in carrier:
            if name == key and value is not None and len(value) <= _MAX_TRACESTATE:
                return [value.decode("ascii", "replace")]
        return None

    def keys(self, carrier: Sequence[tuple[str, bytes]]) -> list[str]:
        return [name for name, _ in carrier]


_KAFKA_HEADERS = _KafkaHeaders()


def _delivery_context(delivery: Delivery) -> Context:
    """Where a message's trace goes on: its record headers (the relay's send span), else its envelope."""
    headers = delivery.record.headers
    if headers:
        found = propagate.extract(headers, context=Context(), getter=_KAFKA_HEADERS)
        if trace.get_current_span(found).get_span_context().is_valid:
            return found
    envelope = delivery.envelope
    if envelope is None:
        return Context()
    return _w3c_context(envelope.traceparent, envelope.tracestate)


def trace_of(delivery: Delivery) -> str:
    """The trace id a message belongs to (``""`` for none): the runner keeps one trace per batch-handler run."""
    headers: Sequence[tuple[str, bytes | None]] = delivery.record.headers or ()
    for name, value in headers:
        if name == "traceparent" and value:
            return value[3:35].decode("ascii", "replace")
    envelope = delivery.envelope
    return (envelope.traceparent or "")[3:35] if envelope is not None else ""


def consuming(group: str, deliveries: Sequence[Delivery]) -> contextlib.AbstractContextManager[object]:
    """Around a handler: one CONSUMER span for these messages (one, or a batch handler's run of one trace)."""
    if _tracer is None or not deliveries:
        return _NOTHING
    parent = _delivery_context(deliveries[0])
    first = deliveries[0]
    envelope = first.envelope
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": first.record.topic,
        "messaging.consumer.group.name": group,
    }
    if envelope is not None:
        attributes["cloudevents.event_type"] = envelope.type
    if len(deliveries) == 1:
        attributes["messaging.message.id"] = attributes["cloudevents.event_id"] = envelope.id if envelope else ""
        attributes["messaging.kafka.offset"] = first.record.offset
        links: list[Link] = []
    else:
        attributes["messaging.batch.message_count"] = len(deliveries)
        links = _links(parent, deliveries[1:])
    return _span(_tracer, f"{first.record.topic} process", parent, SpanKind.CONSUMER, attributes, links)


def _links(parent: Context, deliveries: Sequence[Delivery]) -> list[Link]:
    own = trace.get_current_span(parent).get_span_context()
    seen = {(own.trace_id, own.span_id)}
    links: list[Link] = []
    for delivery in deliveries:
        span_context = trace.get_current_span(_delivery_context(delivery)).get_span_context()
        key = (span_context.trace_id, span_context.span_id)
        if span_context.is_valid and key not in seen:
            seen.add(key)
            links.append(Link(span_context))
            if len(links) == _MAX_LINKS:
                break
    return links


@contextlib.contextmanager
def _span(
    tracer: trace.Tracer,
    name: str,
    parent: Context,
    kind: SpanKind,
    attributes: Mapping[str, Any],
    links: Sequence[Link] = (),
) -> Iterator[None]:
    """A span that is the current one inside, on ``parent``'s context (so not suppressed by ``untraced``)."""
    span = tracer.start_span(name, context=parent, kind=kind, attributes=attributes, links=links)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        yield
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        otel_context.detach(token)
        span.end()


def span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any
) -> contextlib.AbstractContextManager[object]:
    """A span of our own around some work (a mail arriving), child of the current one if there is one."""
    if _tracer is None:
        return _NOTHING
    return _span(_tracer, name, otel_context.get_current(), kind, attributes)


def resumed(name: str, traceparent: str | None, **attributes: Any) -> contextlib.AbstractContextManager[object]:
    """A span that continues the stored trace of work taken up later (an intake decided by the worker).

    Inside a request (an HTTP door deciding at once) the request's span is the parent and the
    stored context, when it is another trace, a link.
    """
    if _tracer is None:
        return _NOTHING
    stored = _w3c_context(traceparent, None)
    current = trace.get_current_span().get_span_context()
    if not current.is_valid:
        return _span(_tracer, name, stored, SpanKind.INTERNAL, attributes)
    stored_context = trace.get_current_span(stored).get_span_context()
    links = [Link(stored_context)] if stored_context.is_valid and stored_context.trace_id != current.trace_id else []
    return _span(_tracer, name, otel_context.get_current(), SpanKind.INTERNAL, attributes, links)
