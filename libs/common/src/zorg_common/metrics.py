"""Prometheus metrics: request counts and latencies, consumer lag, outbox backlog, background loops."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("zorg_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "zorg_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_BACKLOG = Gauge("zorg_outbox_backlog", "Outbox events not yet sent", ["service"])
OUTBOX_SENT = Counter("zorg_outbox_sent_total", "Outbox events sent and acknowledged", ["service", "topic"])
CONSUMER_LAG = Gauge("zorg_consumer_lag", "Messages behind the partition's end", ["group", "topic", "partition"])
CONSUMED = Counter("zorg_consumer_events_total", "Events consumed", ["group", "type", "outcome"])
DEAD_LETTERS = Counter("zorg_consumer_dead_letters_total", "Messages sent to a DLQ", ["group", "topic"])
CONSUMER_UP = Gauge("zorg_consumer_up", "1 while the consumer loop runs, 0 while it waits to restart", ["group"])
INBOX_PRUNED = Counter("zorg_inbox_pruned_total", "Inbox rows deleted after INBOX_KEEP_HOURS", ["group"])
LOOP_UP = Gauge("zorg_loop_up", "1 while a background loop runs, 0 while it waits to restart", ["kind", "loop"])
LOOP_HEALTHY = Gauge(
    "zorg_loop_healthy", "0 when a background loop keeps failing or is stuck (/readyz answers 503)", ["kind", "loop"]
)
LOOP_RESTARTS = Counter("zorg_loop_restarts_total", "Background loops started again after a failure", ["kind", "loop"])


class _MetricsMiddleware:
    """Counts and times every request by route template (a pure ASGI middleware: no per-request task)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router put the matched route in the scope; unmatched paths share one label.
            route = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(self.service, scope["method"], route).observe(time.perf_counter() - start)
            REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()


def metrics_response() -> Response:
    """Every metric of this process, in Prometheus' text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI, service: str) -> None:
    app.add_middleware(_MetricsMiddleware, service=service)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()
