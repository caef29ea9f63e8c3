"""A bound on request bodies per router: a larger body is a 413 problem, read no further."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(413, f"the request body may be at most {max_bytes:,} bytes")


def limited_body(max_bytes: int) -> type[APIRoute]:
    """A route class (``APIRouter(route_class=limited_body(n))``) whose routes refuse a body over
    ``max_bytes``: at once when Content-Length says so, else as soon as the stream passes it."""

    class LimitedBodyRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def limited(request: Request) -> Response:
                declared = request.headers.get("content-length")
                if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
                    raise _too_large(max_bytes)
                receive, seen = request.receive, 0

                async def counted() -> Message:
                    nonlocal seen
                    message = await receive()
                    seen += len(message.get("body", b""))
                    if seen > max_bytes:
                        raise _too_large(max_bytes)
                    return message

                return await handler(Request(request.scope, counted))

            return limited

    return LimitedBodyRoute
