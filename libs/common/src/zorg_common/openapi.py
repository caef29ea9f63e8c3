"""The OpenAPI document as the service really answers: every error a route can give, as problem+json.

A route names the problems of its own rules with ``responses=problem_responses(404, 409)``; what the
shared mechanics add is documented here for every route that has them: 401 for a route that needs a
token (and 403 where a scope is asked, with the scopes that admit it in ``x-scopes``), 413 for a
route with a body, 422 for a route with parameters or a body, 503 for a route that uses the
database. Problems are documented as ``application/problem+json``, the media type they are sent in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

from .problems import TITLES, Problem

PROBLEM_REF = "#/components/schemas/Problem"
_SCOPES = "__zorg_scopes__"
_DATABASE = "__zorg_database__"

#: What each shared mechanic answers, documented on every route that has it.
_MECHANICS = {
    401: "No token, or one that is not valid (expired, wrong signature, claims of the wrong type)",
    403: "The token lacks every scope in `x-scopes`, or a portal token asks for another provider's data",
    413: "The body is larger than this route takes",
    422: "Bad input: every field that is wrong is named in `errors`",
    503: "The database cannot be reached; nothing was changed (try again after Retry-After)",
}
#: FastAPI's own description of a 422, which the problem+json one replaces.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def etag(description: str) -> dict[str, Any]:
    """An ``ETag`` response header, for ``responses={200: {"headers": etag("...")}}``."""
    return {"ETag": {"description": description, "schema": {"type": "string"}}}


def problem(description: str) -> dict[str, Any]:
    """One documented problem response, in the media type it is sent in."""
    return {"description": description, "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}}}


def problem_responses(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own problems: a status, or (status, what it means on this route)."""
    out: dict[int | str, dict[str, Any]] = {}
    for entry in statuses:
        status, description = entry if isinstance(entry, tuple) else (entry, TITLES[entry])
        out[status] = problem(description)
    return out


def mark_scopes(dependency: Any, scopes: tuple[str, ...]) -> None:
    """Called by ``require_scope``: the route admits a token with one of ``scopes`` (403 otherwise)."""
    setattr(dependency, _SCOPES, scopes)


def mark_database(dependency: Any) -> None:
    """A dependency that opens a unit of work: its routes may answer 503 while the database is away."""
    setattr(dependency, _DATABASE, True)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependencies(sub)


def _mechanics(route: APIRoute) -> tuple[list[int], list[str]]:
    """The statuses the shared mechanics give on this route, and the scopes that admit a token to it."""
    dependants = list(_dependencies(route.dependant))
    calls = [d.call for d in dependants if d.call is not None]
    scopes = sorted({scope for call in calls for scope in getattr(call, _SCOPES, ())})
    takes_body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    has_input = takes_body or any(d.path_params or d.query_params or d.header_params for d in dependants)
    statuses = [
        status
        for status, applies in (
            (401, any(isinstance(call, SecurityBase) for call in calls)),
            (403, bool(scopes)),
            (413, takes_body),
            (422, has_input),
            (503, any(getattr(call, _DATABASE, False) for call in calls)),
        )
        if applies
    ]
    return statuses, scopes


def _api_routes(app: FastAPI, routers: Iterable[APIRouter]) -> Iterator[APIRoute]:
    """The app's own routes and those of its routers (included without a prefix), each once."""
    seen: set[tuple[str, frozenset[str]]] = set()
    for route in [*app.routes, *(r for router in routers for r in router.routes)]:
        key = (getattr(route, "path_format", ""), frozenset(getattr(route, "methods", ()) or ()))
        if isinstance(route, APIRoute) and key not in seen:
            seen.add(key)
            yield route


def _document_mechanics(document: dict[str, Any], routes: Iterable[APIRoute]) -> None:
    for route in routes:
        statuses, scopes = _mechanics(route)
        for method in route.methods or ():
            operation = document.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue  # not in the schema
            responses = operation.setdefault("responses", {})
            for status in statuses:
                own = responses.get(str(status))
                if own is None or _FASTAPI_VALIDATION[0] in json.dumps(own):
                    responses[str(status)] = problem(_MECHANICS[status])
            if scopes:
                operation["x-scopes"] = scopes


def _as_problem_json(document: dict[str, Any]) -> None:
    """FastAPI files a response model under application/json; a problem is sent as problem+json."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                schema = content.get("application/json", {}).get("schema")
                if status[:1] in "45" and schema == {"$ref": PROBLEM_REF}:
                    content.pop("application/json")
                    content["application/problem+json"] = {"schema": schema}


def _problem_schemas(document: dict[str, Any]) -> None:
    """The Problem schema (and FieldError) in the components; FastAPI's validation error schemas out."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in problem_schema.pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    schemas.setdefault("Problem", problem_schema)
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)


def install_openapi(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """``app.openapi()`` documents every route's problems; ``routers`` are the ones the app includes."""
    routers = list(routers)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _document_mechanics(document, _api_routes(app, routers))
            _as_problem_json(document)
            _problem_schemas(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
