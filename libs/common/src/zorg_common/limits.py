"""Request bodies of a bounded size: 413 problem+json before anything is parsed.

Every route takes at most ``HTTP_MAX_BODY_BYTES``; a route that needs more names the setting
holding its own limit with ``@body_limit("SETTING")`` (e.g. the claims batch, a raw e-mail). The
check is made on ``Content-Length`` before the app runs, and again on the bytes actually received,
so a chunked body without a length cannot get past it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem_response
from .settings import ServiceSettings

_ATTRIBUTE = "__zorg_body_limit__"
F = TypeVar("F", bound=Callable[..., Any])


def body_limit(setting: str) -> Callable[[F], F]:
    """Mark a route's endpoint (below its ``@router.post``): its body may be as large as the setting says."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, setting)
        return endpoint

    return mark


class PayloadTooLarge(HTTPException):
    """Raised from ``receive`` while the app reads a body past the limit (FastAPI passes it on as is)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body may be at most {limit:,} bytes")
        self.limit = limit


def too_large(limit: int) -> ASGIApp:
    detail = f"the request body may be at most {limit:,} bytes"
    return problem_response(413, "Payload too large", detail, "payload-too-large")


@dataclass(frozen=True)
class RouteLimit:
    """A route that takes bodies up to the size in ``setting``."""

    methods: frozenset[str]
    path: re.Pattern[str]
    setting: str

    def applies(self, scope: Scope) -> bool:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return scope["method"] in self.methods and self.path.match(path) is not None


def route_limits(routers: Iterable[APIRouter]) -> list[RouteLimit]:
    """The routes marked with ``@body_limit`` among the service's routers (included without a prefix)."""
    return [
        RouteLimit(frozenset(route.methods or ()), route.path_regex, getattr(route.endpoint, _ATTRIBUTE))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and hasattr(route.endpoint, _ATTRIBUTE)
    ]


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None


class BodyLimit:
    """A pure ASGI middleware; the route is looked up only for a body past the default limit."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings, routes: Sequence[RouteLimit] = ()) -> None:
        self.app = app
        self.settings = settings
        self.routes = tuple(routes)

    def limit(self, scope: Scope) -> int:
        """The limit of the route the request goes to: its own setting, else HTTP_MAX_BODY_BYTES."""
        for route in self.routes:
            if route.applies(scope):
                limit: int = getattr(self.settings, route.setting)
                return limit
        return self.settings.HTTP_MAX_BODY_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        default = self.settings.HTTP_MAX_BODY_BYTES
        found: list[int] = []

        def limit() -> int:
            if not found:
                found.append(self.limit(scope))
            return found[0]

        declared = _content_length(scope)
        if declared is not None and declared > default and declared > limit():
            await too_large(limit())(scope, receive, send)
            return

        received = 0
        refused = False
        started = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > default and received > limit():
                    refused = True
                    raise PayloadTooLarge(limit())
            return message

        async def checked_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                started = True
                if refused and message["status"] != 413:
                    # The app caught the refusal and answered otherwise: the answer is still 413.
                    replaced = True
                    await too_large(limit())(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, limited_receive, checked_send)
        except PayloadTooLarge:
            if started:
                raise
            await too_large(limit())(scope, receive, send)
