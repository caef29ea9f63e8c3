"""Prometheus metrics: request counts and latencies, consumer lag, outbox backlog."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Match

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


def _route_template(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return getattr(route, "path", request.url.path)
    return "unmatched"


def install_metrics(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            LATENCY.labels(service, request.method, route).observe(time.perf_counter() - start)
            REQUESTS.labels(service, request.method, route, str(status)).inc()

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
