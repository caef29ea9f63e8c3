"""RFC 9457 problem responses for every error; bad input names every field that is wrong."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .db import describe_error, describe_traceback, is_transient, is_unstorable_text
from .logs import REQUEST_ID_HEADER, SCOPE_KEY

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "https://zorginkoop.example/problems/"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of an error response (documented in OpenAPI)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise from a route or handler to answer with a problem response."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        kind: str | None = None,
        errors: Sequence[FieldError | tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.errors = [e if isinstance(e, FieldError) else FieldError(field=e[0], message=e[1]) for e in errors or ()]
        self.headers = headers


class BadInput(ProblemError):
    def __init__(self, errors: Sequence[FieldError | tuple[str, str]], detail: str | None = None) -> None:
        errs = list(errors)
        super().__init__(
            422,
            "Invalid input",
            detail or f"{len(errs)} field(s) are not valid",
            kind="invalid-input",
            errors=errs,
        )


class NotFound(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(404, "Not found", detail, kind="not-found")


class Conflict(ProblemError):
    def __init__(self, detail: str, errors: Sequence[FieldError | tuple[str, str]] | None = None) -> None:
        super().__init__(409, "Conflict", detail, kind="conflict", errors=errors)


def problem_response(
    status: int,
    title: str,
    detail: str,
    kind: str,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": _TYPE_BASE + kind, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = [e.model_dump() for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_name(loc: Sequence[int | str]) -> str:
    """``("body", "address", "postcode")`` -> ``address.postcode``; list indexes as ``[i]``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def validation_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # its loc is ("body", offset): the body is what is wrong
            error = err.get("ctx", {}).get("error", "JSON decode error")
            errors.append(FieldError(field="body", message=f"is not valid JSON: {error}"))
            continue
        message = str(err.get("msg", "is not valid"))
        # pydantic prefixes custom validator messages with "Value error, "; the field says enough.
        message = message.removeprefix("Value error, ")
        errors.append(FieldError(field=_field_name(err.get("loc", ())), message=message))
    return errors


def invalid_input(errors: Sequence[FieldError]) -> JSONResponse:
    return problem_response(422, "Invalid input", f"{len(errors)} field(s) are not valid", "invalid-input", errors)


#: What FastAPI and Starlette mean by a 400 of their own: a body they could not read at all (JSON
#: that is not UTF-8, a form that cannot be parsed). It is bad input like any other: a 422 naming it.
UNREADABLE_BODY = "could not be read: send it in the media type and encoding the route documents"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    503: "Service unavailable",
}


#: Any text may carry any character but one: PostgreSQL stores no NUL, and no field of ours needs it.
NUL_REFUSED = "must not contain the NUL character (U+0000)"


def _with_nul(request: Request) -> list[str]:
    """The parameters holding a NUL character; else it was in the body."""
    names = [name for name, value in request.query_params.multi_items() if "\x00" in value]
    names += [name for name, value in request.path_params.items() if "\x00" in str(value)]
    return sorted(set(names)) or ["body"]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.kind, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_input(validation_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # only ever the framework's "could not parse the body"
            return invalid_input([FieldError(field="body", message=UNREADABLE_BODY)])
        title = TITLES.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            exc.status_code, title, detail, title.lower().replace(" ", "-"), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_unstorable_text(exc):
            return invalid_input([FieldError(field=name, message=NUL_REFUSED) for name in _with_nul(request)])
        # This handler answers outside the request-id middleware: the id comes from the scope.
        request_id = request.scope.get(SCOPE_KEY)
        ids = {REQUEST_ID_HEADER: request_id} if request_id else {}
        extra = {"request_id": request_id} if request_id else {}
        if is_transient(exc):  # the database is away: say so, and when to come back
            log.warning(
                "%s %s: database unavailable: %s", request.method, request.url.path, describe_error(exc), extra=extra
            )
            return problem_response(
                503,
                "Service unavailable",
                "The service cannot reach its database; nothing was changed. Try again shortly.",
                "unavailable",
                headers={"Retry-After": "5", **ids},
            )
        # The client learns nothing internal; the log has where it happened and what, but not the
        # values a database error would quote (its DETAIL: a BSN, an IBAN).
        log.error(
            "unhandled error on %s %s: %s\n%s",
            request.method,
            request.url.path,
            describe_error(exc),
            describe_traceback(exc),
            extra=extra,
        )
        return problem_response(
            500, "Internal error", "An unexpected error occurred; it has been logged.", "internal-error", headers=ids
        )
