"""One trace across services: POST /claims/batch to ClaimAdjudicated, and an e-mail to ContractSigned to the listing.

The services run in process on PostgreSQL and the real broker, with spans kept in memory
(``spans``): each test follows the parent links from the first span to the last.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import Kafka, eventually
from tests.integration import test_contracting_harness as harness
from tests.integration.backbone import read_topic, settings_for
from tests.integration.claims_world import gli_line
from tests.support import running_app
from zorg_claims.service import SPEC as CLAIMS
from zorg_claims.settings import ClaimsSettings
from zorg_common import tracing
from zorg_common.auth import issue_token
from zorg_common.events import TOPIC_CLAIMS, TOPIC_CONTRACTS
from zorg_common.migrations import upgrade
from zorg_common.service import Runtime
from zorg_contracting.adapters.eligibility import EligibilityClient
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_contracting.service_layer.pipeline import Pipeline
from zorg_eligibility.entrypoints.demo import load_demo
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings
from zorg_publication.service import SPEC as PUBLICATION
from zorg_publication.settings import PublicationSettings

pytestmark = pytest.mark.integration


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def trace_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.trace_id


def one(spans: Sequence[ReadableSpan], test: Callable[[ReadableSpan], bool], what: str) -> ReadableSpan:
    found = [s for s in spans if test(s)]
    assert len(found) == 1, (what, [(s.name, dict(s.attributes or {})) for s in found])
    return found[0]


def attribute(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(name)


def of_type(event_type: str, kind: SpanKind = SpanKind.CONSUMER) -> Callable[[ReadableSpan], bool]:
    return lambda s: s.kind == kind and attribute(s, "cloudevents.event_type") == event_type


async def envelopes(kafka: Kafka, topic: str, event_type: str, count: int) -> list[tuple[dict[str, Any], Any]]:
    """The ``count`` envelopes of that type on the topic, with their records (waits until they are there)."""

    async def enough() -> list[tuple[dict[str, Any], Any]] | None:
        found = [(json.loads(m.value), m) for m in await read_topic(kafka.bootstrap, topic, timeout=3)]
        found = [(e, m) for e, m in found if e["type"] == event_type]
        return found if len(found) >= count else None

    result: list[tuple[dict[str, Any], Any]] = await eventually(enough, timeout=45, interval=0.5)
    return result


# --- claims: POST /claims/batch -> relay -> Kafka -> adjudication -> ClaimAdjudicated ---------------


@pytest.fixture
async def claims(
    spans: InMemorySpanExporter, pg_url: str, kafka: Kafka, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The claims service traced: created after ``spans``, so its app, engine and workers are instrumented."""
    monkeypatch.setenv("ZORG_TODAY", "2023-06-01")
    upgrade(CLAIMS.migrations, pg_url)
    # A linger long enough that two requests' events leave in one relay round and one consumer batch.
    settings = settings_for(ClaimsSettings, pg_url, kafka, topic_prefix, KAFKA_TOPIC_PARTITIONS=1, RELAY_LINGER_MS=300)
    async with running_app(CLAIMS, settings) as client:
        runners = client.app.state.runtime.consumers  # type: ignore[attr-defined]
        await eventually(lambda: _all_assigned(runners), timeout=60)
        client.headers["Authorization"] = f"Bearer {issue_token(settings, ['claims:read', 'claims:write'])}"
        yield client


async def _all_assigned(runners: list[Any]) -> bool:
    return all(r.assigned.is_set() for r in runners)


async def test_one_trace_from_the_batch_request_to_claim_adjudicated(
    claims: httpx.AsyncClient, spans: InMemorySpanExporter, kafka: Kafka, topic_prefix: str
) -> None:
    batches = [[gli_line(f"T{n}-{i}", bsn=bsn) for i, bsn in enumerate(("111222333", "123456782"))] for n in range(2)]
    answers = await asyncio.gather(*(claims.post("/claims/batch", json={"lines": lines}) for lines in batches))
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    claim_ids = [a.json()["accepted"] for a in answers]
    adjudicated = dict(
        (e["data"]["claim_id"], (e, m))
        for e, m in await envelopes(kafka, topic_prefix + TOPIC_CLAIMS, "ClaimAdjudicated", 4)
    )
    await eventually(lambda: _sent(spans, "ClaimAdjudicated", 4), timeout=30)  # the relay's spans have ended
    finished = spans.get_finished_spans()
    topic = topic_prefix + TOPIC_CLAIMS
    servers = [s for s in finished if s.kind == SpanKind.SERVER and s.name == "POST /claims/batch"]
    assert len(servers) == 2
    submitted = await envelopes(kafka, topic, "ClaimSubmitted", 4)
    for server in servers:
        # ClaimSubmitted carries the request's span: that is how its claims are found.
        mine = sorted(
            e["data"]["claim_id"] for e, _ in submitted if e["traceparent"][3:52] == "-".join(hex_ids(server))
        )
        assert mine in [sorted(ids) for ids in claim_ids]
        check_request_trace(finished, server, topic, topic_prefix, [adjudicated[claim_id] for claim_id in mine])
    # Since the requests, no span without a parent but theirs and aiokafka's polls: the relay's
    # claims and marks and the consumer's inbox writes and offsets make none.
    began = min(s.start_time or 0 for s in servers)
    roots = {s.name for s in finished if s.parent is None and (s.start_time or 0) >= began}
    assert roots <= {"POST /claims/batch", f"{topic} receive"}, roots


def check_request_trace(
    finished: Sequence[ReadableSpan],
    server: ReadableSpan,
    topic: str,
    topic_prefix: str,
    decided_on_kafka: Sequence[tuple[dict[str, Any], Any]],
) -> None:
    """One request's trace: its statements, the relay's send, the adjudication, the send of its decisions."""
    assert server.parent is None  # the test's client is not traced: the request begins the trace
    in_trace = [s for s in finished if trace_id(s) == trace_id(server)]
    # The request stored its claims and wrote the outbox inside its own span.
    assert any(s.kind == SpanKind.CLIENT and parent_of(s) == span_id(server) for s in in_trace)
    # The relay's send span continues the request.
    submitted = one(
        in_trace,
        lambda s: s.kind == SpanKind.PRODUCER and s.name == f"{topic} send" and parent_of(s) == span_id(server),
        "the send of ClaimSubmitted",
    )
    assert attribute(submitted, "messaging.batch.message_count") == 2
    # The adjudication's span continues the send, and decides inside the trace.
    adjudication = one(in_trace, of_type("ClaimSubmitted"), "the adjudication")
    assert parent_of(adjudication) == span_id(submitted)
    assert attribute(adjudication, "messaging.consumer.group.name") == topic_prefix + "claims.adjudication"
    assert attribute(adjudication, "messaging.batch.message_count") == 2
    statements = [s for s in in_trace if s.kind == SpanKind.CLIENT and parent_of(s) == span_id(adjudication)]
    assert any("UPDATE claims" in str(attribute(s, "db.statement")) for s in statements), statements
    # ClaimAdjudicated was emitted in the adjudication's span and sent on in the same trace.
    decided = one(
        in_trace,
        lambda s: s.kind == SpanKind.PRODUCER and parent_of(s) == span_id(adjudication),
        "the send of ClaimAdjudicated",
    )
    for envelope, record in decided_on_kafka:
        assert envelope["traceparent"][3:52] == "-".join(hex_ids(adjudication))
        assert dict(record.headers)["traceparent"].decode()[3:52] == "-".join(hex_ids(decided))


async def _sent(spans: InMemorySpanExporter, event_type: str, count: int) -> bool:
    """Whether the sends of ``count`` such events have ended (the consumer spans say which type they carry)."""
    finished = spans.get_finished_spans()
    handlers = {span_id(s) for s in finished if of_type("ClaimSubmitted")(s)}
    sent = [s for s in finished if s.kind == SpanKind.PRODUCER and parent_of(s) in handlers]
    return sum(attribute(s, "messaging.batch.message_count") or 0 for s in sent) >= count


# --- contracting: an e-mail over SMTP -> ContractSigned -> the public listing ------------------


@pytest.fixture
async def eligibility(
    spans: InMemorySpanExporter, make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> AsyncIterator[httpx.AsyncClient]:
    url = make_pg_url()
    upgrade(ELIGIBILITY.migrations, url)
    settings = settings_for(EligibilitySettings, url, kafka, topic_prefix)
    async with running_app(ELIGIBILITY, settings, workers=False) as client:
        await load_demo(client, lambda *scopes, agb=None: issue_token(settings, scopes, agb=agb, subject="demo"))
        yield client


@pytest.fixture
async def publication(
    spans: InMemorySpanExporter, make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> AsyncIterator[Runtime]:
    url = make_pg_url()
    upgrade(PUBLICATION.migrations, url)
    runtime = Runtime(PUBLICATION, settings_for(PublicationSettings, url, kafka, topic_prefix))
    await runtime.start_workers(relay=False)
    try:
        await eventually(lambda: _all_assigned(runtime.consumers), timeout=60)
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture
async def contracting(
    spans: InMemorySpanExporter,
    make_pg_url: Callable[[], str],
    kafka: Kafka,
    topic_prefix: str,
    eligibility: httpx.AsyncClient,
) -> AsyncIterator[harness.Contracting]:
    url = make_pg_url()
    upgrade(CONTRACTING.migrations, url)
    settings = harness.contracting_settings(url, kafka, topic_prefix)
    async with running_app(CONTRACTING, settings) as client:
        pipeline: Pipeline = client.app.state.contracting  # type: ignore[attr-defined]
        await pipeline.eligibility.close()
        # Eligibility answers in process; its client is traced as the real one is (and carries traceparent).
        tracing.instrument_client(eligibility)
        pipeline.eligibility = EligibilityClient(settings, http=eligibility)
        await eventually(lambda: harness.listening(settings.SMTP_PORT), timeout=30)
        try:
            yield harness.Contracting(client, eligibility, settings, kafka)
        finally:
            HTTPXClientInstrumentor.uninstrument_client(eligibility)


async def test_one_trace_from_an_email_to_contract_signed_to_the_listing(
    publication: Runtime, contracting: harness.Contracting, spans: InMemorySpanExporter, topic_prefix: str
) -> None:
    def send() -> None:
        with smtplib.SMTP("127.0.0.1", contracting.settings.SMTP_PORT, timeout=30) as smtp:
            mail = (harness.MAIL / "good_csv_utf8.eml").read_bytes()
            smtp.sendmail("x@zorggroep.example", ["contracten@zorginkoop.example"], mail)

    await asyncio.to_thread(send)
    topic = topic_prefix + TOPIC_CONTRACTS
    [(signed, record)] = await envelopes(contracting.kafka, topic, "ContractSigned", 1)

    def listed() -> Any:
        return [s for s in spans.get_finished_spans() if of_type("ContractSigned")(s)]

    async def listing_changed() -> Any:
        return listed()

    [listing] = await eventually(listing_changed, timeout=45)
    finished = spans.get_finished_spans()
    # The mail arrived over SMTP: a SERVER span begins the trace, and the stored intake kept it.
    arrival = one(finished, lambda s: s.name == "follow-format receive", "the arrival")
    assert arrival.kind == SpanKind.SERVER and arrival.parent is None
    assert attribute(arrival, "zorg.intake.channel") == "smtp"
    in_trace = [s for s in finished if trace_id(s) == trace_id(arrival)]
    # The worker decided it later, in the same trace, asking eligibility over HTTP on the way.
    decision = one(in_trace, lambda s: s.name == "follow-format decide", "the decision")
    assert parent_of(decision) == span_id(arrival)
    calls = [s for s in in_trace if s.kind == SpanKind.CLIENT and parent_of(s) == span_id(decision)]
    http_calls = {span_id(s) for s in calls if attribute(s, "http.method") or attribute(s, "http.request.method")}
    assert http_calls, [s.name for s in calls]
    # Eligibility's request spans continue the calls (INTERNAL here, not SERVER: in process, the client's
    # span is still current when the app runs; over the network they are SERVER spans with a remote parent).
    eligibility_side = {s.name for s in in_trace if parent_of(s) in http_calls}
    assert eligibility_side == {"POST /evaluations", "GET /providers/{agb}"}
    # ContractSigned carries the decision's context; the relay's send continues it.
    assert signed["traceparent"][3:52] == "-".join(hex_ids(decision))
    send_span = one(
        in_trace,
        lambda s: s.kind == SpanKind.PRODUCER and s.name == f"{topic} send" and parent_of(s) == span_id(decision),
        "the send of the contract's events",
    )
    assert dict(record.headers)["traceparent"].decode()[3:52] == "-".join(hex_ids(send_span))
    # Publication's consumer continues the send and changes the listing inside the trace.
    assert trace_id(listing) == trace_id(arrival) and parent_of(listing) == span_id(send_span)
    assert attribute(listing, "messaging.consumer.group.name") == topic_prefix + "publication.listing"
    writes = [s for s in in_trace if s.kind == SpanKind.CLIENT and parent_of(s) == span_id(listing)]
    assert writes, "the listing's statements are in the trace"
