"""Logging set-up: readable lines in development, one JSON object per line elsewhere; request ids and access logs.

Every line written while a span is current carries ``trace_id`` and ``span_id``, and every line
written for an HTTP request its ``request_id`` (the caller's ``X-Request-ID`` when well-formed and
short, else one made here; the response returns it). Each request ends with one access line
(logger ``zorg.access``): method, path, status and duration, never the query string, which can
hold a BSN (``/access-log?bsn=``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .events import new_id

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "color_message"}

#: The id of the HTTP request being handled, for the log lines written while handling it.
REQUEST_ID: ContextVar[str | None] = ContextVar("zorg_request_id", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
#: A caller's id is taken when it is this: short, and nothing a log reader could be fooled by.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
#: Where the id also goes in the ASGI scope, for the error handler outside this middleware.
SCOPE_KEY = "zorg.request_id"
_MAX_LOGGED_PATH = 200

access_log = logging.getLogger("zorg.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return line


class CorrelationFilter(logging.Filter):
    """Adds ``request_id``, ``trace_id`` and ``span_id`` to a record when there are such."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = f"{span_context.trace_id:032x}"
            record.span_id = f"{span_context.span_id:016x}"
        return True


def configure_logging(level: str = "INFO", fmt: str = "auto", development: bool = True) -> None:
    use_json = fmt == "json" or (fmt == "auto" and not development)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(CorrelationFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect attempt at ERROR; keep its noise at WARNING and above.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # uvicorn's access line has the query string and no request id: RequestContext writes ours.
    # httpx writes every outgoing URL, query string and all, at INFO (a trace has the calls instead).
    for chatty in ("uvicorn.access", "httpx"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


def request_id_from(header: bytes | None) -> str:
    """The caller's request id when it is well-formed and short, else a new one."""
    if header:
        candidate = header.decode("latin-1")
        if _WELL_FORMED.fullmatch(candidate):
            return candidate
    return new_id()


def _printable(path: str) -> str:
    """The path as it may go in a log line: bounded, and no control characters to forge lines with."""
    short = path[:_MAX_LOGGED_PATH]
    return short if short.isprintable() else "".join(c if c.isprintable() else "?" for c in short)


class RequestContext:
    """Gives every HTTP request its id (returned as ``X-Request-ID``) and writes its access line.

    A pure ASGI middleware (no task per request); it runs inside the tracing middleware, so the
    access line carries the request's trace and span ids too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((value for name, value in scope["headers"] if name == b"x-request-id"), None)
        request_id = request_id_from(header)
        scope[SCOPE_KEY] = request_id
        token = REQUEST_ID.set(request_id)
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            duration_ms = round((time.perf_counter() - start) * 1000, 1)
            path = _printable(scope["path"])
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                path,
                status,
                duration_ms,
                extra={"method": scope["method"], "path": path, "status": status, "duration_ms": duration_ms},
            )
            REQUEST_ID.reset(token)
