"""HTTP routes of policy impact simulations: a draft policy (YAML or JSON, as a policy file) in, the register
under the current policy and the draft side by side out, kept for reading later as JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from zorg_common.app import RuntimeDep, UowDep
from zorg_common.auth import Principal, require_scope
from zorg_common.claims_api import claims_client, closing_claims_client
from zorg_common.limits import body_limit
from zorg_common.openapi import problem_responses
from zorg_common.paging import Page, PageDep
from zorg_common.policy import PolicyInvalid, parse_policy
from zorg_common.problems import BadInput, NotFound, ProblemError

from ..service_layer import simulations as uc
from ..settings import EligibilitySettings

#: The media types a draft may come in, and how each is read.
DRAFT_TYPES = {
    "application/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
}

#: The days a simulation may be taken on: the years a policy may have (its schema), and no further.
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)

# Staff only: a simulation shows every provider's verdicts, the insurer's own findings among them.
Simulate = Annotated[Principal, Depends(require_scope("providers:write"))]
ReadSimulations = Annotated[Principal, Depends(require_scope("providers:read"))]
IdPath = Annotated[str, Path(max_length=36)]


# Its own prefix is /policies (the Ingress routes it there), and it goes before the policies router:
# /policies/simulations is no policy id.
router = APIRouter(prefix="/policies", tags=["policy simulations"], lifespan=closing_claims_client)


class SideOut(BaseModel):
    eligible: bool
    route: str | None
    failing: list[str] = Field(description="the blocking criteria not passed (fail or unknown)")


class AmountsOut(BaseModel):
    claimed_cents: int
    allowed_cents: int


class ProviderOut(BaseModel):
    agb: str
    name: str
    kind: str
    change: Literal["newly_ineligible", "newly_eligible", "route_changed", "unchanged"]
    current: SideOut
    draft: SideOut
    newly_failing: list[str] = Field(description="criteria the draft fails it on that the current policy did not")
    last_year: AmountsOut | None = Field(
        description="newly ineligible only: its claims of claims_year (null otherwise, or when claims is unavailable)"
    )


class SummaryOut(BaseModel):
    providers: int
    eligible: dict[str, int] = Field(description="eligible providers under the current policy and the draft")
    newly_ineligible: int
    newly_eligible: int
    route_changed: int
    newly_ineligible_last_year: AmountsOut | None = Field(description="null when the claims service could not answer")


class CriterionOut(BaseModel):
    code: str
    blocking: dict[str, bool | None] = Field(description="per policy; null: not a criterion of that policy")
    current: dict[str, int] | None = Field(description="providers per verdict (pass, fail, unknown)")
    draft: dict[str, int] | None


class RouteOut(BaseModel):
    route: str = Field(description="follow, restitution, digital, offer, or none")
    current: int
    draft: int


class SimulationListed(BaseModel):
    id: str
    policy_id: str = Field(description="the draft's id")
    current_policy_id: str
    sector: str
    on: dt.date
    claims_year: int = Field(description="the year the amounts are from: the year before `on`")
    claims_available: bool
    created_at: dt.datetime
    created_by: str
    summary: SummaryOut


class SimulationOut(SimulationListed):
    criteria: list[CriterionOut]
    routes: list[RouteOut]
    providers: list[ProviderOut]
    draft: dict[str, Any] = Field(description="the draft policy as validated")


_DRAFT_BODY = {
    "requestBody": {
        "required": True,
        "description": "the draft policy, as a policy file: YAML, or its JSON form",
        "content": {media: {"schema": {"type": "object"}} for media in ("application/yaml", "application/json")},
    }
}


def _syntax(content_type: str | None) -> Literal["yaml", "json"]:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in DRAFT_TYPES:
        raise ProblemError(
            415,
            "Unsupported media type",
            f"send the draft policy as {', '.join(sorted(DRAFT_TYPES))}",
            kind="unsupported-media-type",
        )
    return "json" if DRAFT_TYPES[media] == "json" else "yaml"


@router.post(
    "/simulations",
    status_code=201,
    response_model=SimulationOut,
    openapi_extra=_DRAFT_BODY,
    summary="Simulate a draft policy over the register: who would newly fail, become eligible or change route",
    responses=problem_responses((415, "The draft is neither YAML nor JSON")),
)
@body_limit("SIMULATION_MAX_BYTES")
async def post_simulation(
    request: Request,
    uow: UowDep,
    principal: Simulate,
    runtime: RuntimeDep,
    on: Annotated[dt.date | None, Query(description="the evaluation date; default 1 January of its year")] = None,
    content_type: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """The draft is validated as a policy file is and never published. Every provider of its sector is
    evaluated under the current policy of that sector and year and under the draft, on ``on``; those who
    would newly fail carry what they claimed in the year before ``on`` (the claims service; without it,
    ``claims_available`` is false and the amounts are null)."""
    if on is not None and not EARLIEST <= on <= LATEST:
        raise BadInput([("on", f"a day from {EARLIEST.isoformat()} to {LATEST.isoformat()}")])
    syntax = _syntax(content_type)
    raw = await request.body()
    try:
        draft = parse_policy(raw.decode("utf-8"), syntax=syntax)
    except UnicodeDecodeError:
        raise BadInput([("body", "the draft must be UTF-8 text")]) from None
    except PolicyInvalid as exc:
        raise BadInput([(field if field != "(top)" else "body", message) for field, message in exc.errors]) from None
    settings = runtime.settings
    assert isinstance(settings, EligibilitySettings)
    try:
        record = await uc.run_simulation(
            uow, draft, on, principal.subject, claims_client(runtime), settings.SIMULATIONS_KEPT
        )
    except uc.NoCurrentPolicy as exc:
        raise BadInput([("contract_year", str(exc))]) from None
    await uow.commit()
    return JSONResponse(record, status_code=201, headers={"Location": f"/policies/simulations/{record['id']}"})


@router.get("/simulations", response_model=Page[SimulationListed], summary="The kept simulations, newest first")
async def list_simulations(uow: UowDep, _: ReadSimulations, paging: PageDep) -> Response:
    total, items = await uc.list_simulations(uow.session, paging.offset, paging.page_size)
    return JSONResponse({"items": items, "page": paging.page, "page_size": paging.page_size, "total": total})


@router.get(
    "/simulations/{simulation_id}",
    response_model=SimulationOut,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(404)},
    summary="One simulation, as JSON, or as CSV (one row per provider) with format=csv or Accept: text/csv",
)
async def get_simulation(
    simulation_id: IdPath,
    uow: UowDep,
    _: ReadSimulations,
    fmt: Annotated[Literal["json", "csv"] | None, Query(alias="format")] = None,
    changed: Annotated[bool, Query(description="only the providers whose verdict or route would change")] = False,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    record = await uc.read_simulation(uow.session, simulation_id)
    if record is None:
        raise NotFound(f"no simulation {simulation_id}")
    if changed:
        record["providers"] = [p for p in record["providers"] if p["change"] != "unchanged"]
    if fmt == "csv" or (fmt is None and "text/csv" in (accept or "")):
        name = f"simulatie-{record['policy_id']}-{simulation_id[:8]}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(simulation_csv(record), media_type="text/csv; charset=utf-8", headers=headers)
    return JSONResponse(record)


CSV_COLUMNS = (
    "agb",
    "name",
    "kind",
    "change",
    "current_eligible",
    "current_route",
    "current_failing",
    "draft_eligible",
    "draft_route",
    "draft_failing",
    "newly_failing",
    "last_year_claimed_cents",
    "last_year_allowed_cents",
)


def _cell(value: object) -> str:
    """A value as a spreadsheet shows it, never as a formula: a name may start with = + - @ (CSV injection)."""
    text = "" if value is None else "ja" if value is True else "nee" if value is False else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _rows(record: dict[str, Any]) -> Iterable[list[str]]:
    yield list(CSV_COLUMNS)
    for p in record["providers"]:
        last = p["last_year"] or {}
        values = (
            p["agb"],
            p["name"],
            p["kind"],
            p["change"],
            p["current"]["eligible"],
            p["current"]["route"],
            "|".join(p["current"]["failing"]),
            p["draft"]["eligible"],
            p["draft"]["route"],
            "|".join(p["draft"]["failing"]),
            "|".join(p["newly_failing"]),
            last.get("claimed_cents"),
            last.get("allowed_cents"),
        )
        yield [_cell(v) for v in values]


def simulation_csv(record: dict[str, Any]) -> bytes:
    """One row per provider, ``;``-separated with a byte-order mark: what a Dutch spreadsheet opens as is."""
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(_rows(record))
    return ("\ufeff" + out.getvalue()).encode("utf-8")
