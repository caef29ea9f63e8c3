"""What the routes share: auth aliases, the pipeline, and turning domain refusals into problem responses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from zorg_common.auth import Forbidden, Principal, require_scope
from zorg_common.policy import Policy, policies
from zorg_common.problems import BadInput, Conflict, NotFound, ProblemError

from ..adapters.eligibility import EligibilityUnavailable
from ..domain.negotiation import Refused
from ..service_layer.pipeline import Pipeline
from ..service_layer.records import NotFoundError

ReadContracts = Annotated[Principal, Depends(require_scope("contracts:read", portal=True))]
WriteContracts = Annotated[Principal, Depends(require_scope("contracts:write"))]
WriteOrPortal = Annotated[Principal, Depends(require_scope("contracts:write", portal=True))]

log = logging.getLogger(__name__)


def get_pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.contracting
    return pipeline


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]


def own_only(principal: Principal, agb: str | None) -> None:
    if agb is None or not principal.may_see_provider(agb):
        raise NotFound("not found (or not yours to see)") if principal.is_portal else Forbidden("not allowed")


def policy_or_bad_input(policy_id: str, field: str = "policy_id") -> Policy:
    policy = policies().get(policy_id)
    if policy is None:
        raise BadInput([(field, f"unknown policy; known: {', '.join(policies())}")])
    return policy


@contextmanager
def as_problems(field: str = "body") -> Iterator[None]:
    """Refused -> 409, not found -> 404, a bad value -> 422 on ``field``."""
    try:
        yield
    except Refused as exc:
        raise Conflict(str(exc)) from None
    except NotFoundError as exc:
        raise NotFound(str(exc)) from None
    except ValueError as exc:
        raise BadInput([(field, str(exc))]) from None


@contextmanager
def eligibility_unavailable() -> Iterator[None]:
    """The eligibility service cannot answer now: 503, nothing changed, try again later."""
    try:
        yield
    except EligibilityUnavailable as exc:
        log.warning("eligibility unavailable: %s", exc)  # the detail for us, not for the client
        raise ProblemError(
            503,
            "Service unavailable",
            "the eligibility service cannot be reached; nothing was changed, try again later",
            kind="unavailable",
            headers={"Retry-After": "5"},
        ) from None
