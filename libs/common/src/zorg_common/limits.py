"""Request bodies of a bounded size: 413 problem+json before anything is parsed.

Every route takes at most ``HTTP_MAX_BODY_BYTES``; a route with a limit of its own names the
setting holding it, or the number, with ``@body_limit("SETTING")`` (more: the claims batch, a raw
e-mail) or ``@body_limit(4096)`` (less: the portal's small forms); ``body_limit(n)(router)`` marks
every route of a router. The check is made on ``Content-Length`` before the app runs, and again on
the bytes actually received, so a chunked body without a length cannot get past it.
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


def body_limit(limit: str | int) -> Callable[[F], F]:
    """Mark a route's endpoint (below its ``@router.post``), or a whole router: its bodies may be as
    large as ``limit`` says (a setting's name, or a number of bytes)."""

    def mark(target: F) -> F:
        setattr(target, _ATTRIBUTE, limit)
        return target

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
    """A route that takes bodies up to ``limit`` (a setting's name, or bytes)."""

    methods: frozenset[str]
    path: re.Pattern[str]
    limit: str | int

    def bytes(self, settings: ServiceSettings) -> int:
        value: int = getattr(settings, self.limit) if isinstance(self.limit, str) else self.limit
        return value

    def applies(self, scope: Scope) -> bool:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return scope["method"] in self.methods and self.path.match(path) is not None


def route_limits(routers: Iterable[APIRouter]) -> list[RouteLimit]:
    """The routes marked with ``@body_limit`` (or of a marked router) among the service's routers
    (included without a prefix); a route's own mark wins over its router's."""
    return [
        RouteLimit(frozenset(route.methods or ()), route.path_regex, getattr(route.endpoint, _ATTRIBUTE, None) or mark)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        and (mark := getattr(route.endpoint, _ATTRIBUTE, None) or getattr(router, _ATTRIBUTE, None)) is not None
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
    """A pure ASGI middleware; the route is looked up only for a body past the smallest limit."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings, routes: Sequence[RouteLimit] = ()) -> None:
        self.app = app
        self.settings = settings
        self.routes = tuple(routes)
        #: Bodies up to this size pass whatever their route (most requests: no lookup at all).
        self.free = min([settings.HTTP_MAX_BODY_BYTES, *(r.bytes(settings) for r in self.routes)])

    def limit(self, scope: Scope) -> int:
        """The limit of the route the request goes to: its own, else HTTP_MAX_BODY_BYTES."""
        for route in self.routes:
            if route.applies(scope):
                return route.bytes(self.settings)
        return self.settings.HTTP_MAX_BODY_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        free = self.free
        found: list[int] = []

        def limit() -> int:
            if not found:
                found.append(self.limit(scope))
            return found[0]

        declared = _content_length(scope)
        if declared is not None and declared > free and declared > limit():
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
                if received > free and received > limit():
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
