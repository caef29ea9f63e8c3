"""The year at a glance (issue 15): a Dutch page for procurement staff, per policy, drawn on the server (HTML and
SVG, no script) under a strict Content-Security-Policy, with the figures of `GET /procurements/overview`.

**How staff sign in.** A browser cannot add an Authorization header by itself, so the page takes either:
- the header, when an auth proxy in front of the ingress adds it (`Authorization: Bearer <token>`); or
- its own sign-in form (`/overzicht/inloggen`): the staff token (scope ``contracts:read``) is checked and
  kept in a cookie that is HttpOnly (no script reads it), SameSite=Strict (no other site's request
  carries it), Secure in production, scoped to ``/overzicht`` (no other route of the service reads it)
  and lives as long as the token, at most 12 hours. ``/overzicht/uitloggen`` forgets it.
Only the page's own routes read the cookie; the API still takes the header only. A form posted from
another origin is refused.
"""

from __future__ import annotations

import datetime as dt
import time
from functools import lru_cache
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from zorg_common.app import RuntimeDep, UowDep
from zorg_common.auth import Principal, Unauthorized, decode_token
from zorg_common.claims_api import claims_client
from zorg_common.limits import body_limit
from zorg_common.policy import Policy, policies

from ..domain.notation import euros
from ..domain.overview import STATES
from ..service_layer.overview import policy_overview
from ..service_layer.records import NotFoundError
from .charts import Bar, Series, grouped_bars, stacked_bars
from .negotiations import NegotiationOut, negotiation_out
from .overview import OverviewOut, overview_out

router = APIRouter(prefix="/overzicht", tags=["year page"])

COOKIE = "zorg_jaaroverzicht"
#: A token longer than this is no token (a JWT of the identity provider is well under it).
MAX_TOKEN = 4096
MAX_COOKIE_S = 12 * 3600
STATE_NAMES = {
    "signed": "Ondertekend",
    "negotiating": "In onderhandeling",
    "invited": "Uitgenodigd",
    "in_progress": "Lopend",
    "closed": "Gesloten zonder contract",
}
#: Each state its own pattern: the chart reads without colour.
STATE_PATTERNS = {
    "signed": "solid",
    "negotiating": "hatch",
    "invited": "dots",
    "in_progress": "lines",
    "closed": "cross",
}
ROUTE_NAMES = {
    "follow": "Volgen (volgformat)",
    "digital": "Digitaal contracteren",
    "offer": "Offerte",
    "restitution": "Restitutie",
}
HOLD_NAMES = {"AWAITING_CONTRACT": "Wacht op contract", "REVIEW_VOLUME": "Beoordeling (volume)"}
NEGOTIATION_STATES = {
    "open": "in onderhandeling",
    "agreed": "akkoord, te tekenen",
    "signed": "ondertekend",
    "closed": "gesloten",
}
PARTIES = {"insurer": "de zorgverzekeraar", "provider": "de zorgaanbieder"}
SIDES = {"insurer": "verzekeraar", "provider": "aanbieder"}


@lru_cache(maxsize=1)
def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("zorg_contracting", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        euros=euros,
        amount=lambda cents: "geen" if cents is None else euros(cents),
        pct=lambda v: "n.v.t." if v is None else f"{v:+.1f}%".replace(".", ","),
        route_names=ROUTE_NAMES,
        hold_names=HOLD_NAMES,
        negotiation_states=NEGOTIATION_STATES,
        parties=PARTIES,
        states=[(s, STATE_NAMES[s]) for s in STATES],
        max_token=MAX_TOKEN,
    )
    return env


@lru_cache(maxsize=1)
def stylesheet() -> bytes:
    return files("zorg_contracting").joinpath("templates", "jaaroverzicht.css").read_bytes()


HEADERS = {
    # Nothing runs on the page and nothing comes from elsewhere: its own style sheet, forms to itself.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # Nothing leaves for another site; a form sent to itself keeps its Origin (no-referrer makes it "null").
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # the insurer's own figures: never kept by a browser or a proxy
}


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")) + router.prefix


def _page(request: Request, template: str, status: int = 200, signed_in: bool = True, **context: Any) -> HTMLResponse:
    html = (
        templates()
        .get_template(template)
        .render(
            base=_base(request),
            signed_in=signed_in,
            policy_ids=list(policies()),
            current_policy=policy.id if isinstance(policy := context.get("policy"), Policy) else None,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _staff(request: Request, token: str | None) -> Principal | None:
    """The staff member a token says, when it is valid and may read contracts; None otherwise."""
    if not token or len(token) > MAX_TOKEN:
        return None
    try:
        principal = decode_token(request.app.state.settings, token)
    except Unauthorized:
        return None
    return principal if principal.has("contracts:read") and not principal.is_portal else None


def _signed_in(request: Request) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return _staff(request, header[7:].strip())
    return _staff(request, request.cookies.get(COOKIE))


def _to_sign_in(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_base(request)}/inloggen", status_code=303, headers={"Cache-Control": "no-store"})


def _same_origin(request: Request) -> bool:
    """A form posted from this page, not from another site: the browser's Sec-Fetch-Site says so, and an
    Origin header, when sent, is this host (a client without either, such as curl, is no browser to trick)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


@router.get("", include_in_schema=False)
async def year_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_base(request)}/", status_code=308)


@router.get("/", response_class=HTMLResponse, summary="The year page: the policies to choose from (Dutch, staff)")
async def index(request: Request) -> Response:
    if _signed_in(request) is None:
        return _to_sign_in(request)
    return _page(request, "policies.html", policies=list(policies().values()))


@router.get("/inloggen", response_class=HTMLResponse, include_in_schema=False)
async def sign_in_form(request: Request) -> Response:
    return _page(request, "signin.html", signed_in=False, error=None)


@router.post("/inloggen", response_class=HTMLResponse, include_in_schema=False)
@body_limit(8192)
async def sign_in(request: Request, runtime: RuntimeDep) -> Response:
    if not _same_origin(request):
        return _page(request, "signin.html", 403, signed_in=False, error="Dit formulier komt niet van deze pagina.")
    try:
        fields = parse_qs((await request.body()).decode("utf-8", errors="replace"), max_num_fields=5)
    except ValueError:  # more fields than the form has: no sign-in of ours
        fields = {}
    token = (fields.get("token") or [""])[0].strip()
    principal = _staff(request, token)
    if principal is None:
        error = "Dit token is niet geldig, verlopen, of geeft geen inzage in contracten (contracts:read)."
        return _page(request, "signin.html", 401, signed_in=False, error=error)
    expires = principal.claims.get("exp")
    lifetime = int(min(MAX_COOKIE_S, max(0, (expires or 0) - time.time()))) if expires else MAX_COOKIE_S
    response = RedirectResponse(f"{_base(request)}/", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=lifetime,
        path=_base(request),
        secure=runtime.settings.ZORG_ENV == "production",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/uitloggen", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    if not _same_origin(request):
        return _page(request, "signin.html", 403, signed_in=False, error="Dit formulier komt niet van deze pagina.")
    response = _to_sign_in(request)
    response.delete_cookie(COOKIE, path=_base(request), httponly=True, samesite="strict")
    return response


@router.get("/jaaroverzicht.css", include_in_schema=False)
async def style() -> Response:
    headers = {**HEADERS, "Cache-Control": "no-cache"}
    return Response(stylesheet(), media_type="text/css; charset=utf-8", headers=headers)


def _date(day: dt.date) -> str:
    return day.strftime("%d-%m-%Y")


def _deadline_text(days: int) -> str:
    if days > 0:
        return f"nog {days} dag{'en' if days != 1 else ''}"
    if days == 0:
        return "vandaag"
    return f"{-days} dag{'en' if days != -1 else ''} verstreken"


def routes_chart(o: OverviewOut) -> Markup:
    series = [Series(s, STATE_NAMES[s], STATE_PATTERNS[s]) for s in STATES]
    bars = [
        Bar(ROUTE_NAMES.get(r.route, r.route), [(s, getattr(r, s), f"{getattr(r, s)}") for s in STATES])
        for r in o.routes
    ]
    description = "; ".join(
        f"{ROUTE_NAMES.get(r.route, r.route)}: "
        + ", ".join(f"{STATE_NAMES[s].lower()} {getattr(r, s)}" for s in STATES)
        + f", totaal {r.total}"
        for r in o.routes
    )
    return stacked_bars("routes", "Zorgaanbieders per route en status", description, series, bars)


def holds_chart(o: OverviewOut) -> Markup:
    assert o.held_claims is not None
    series = [Series("claims", "Vastgehouden declaraties", "hatch")]
    bars = [
        Bar(
            HOLD_NAMES.get(h.reason, h.reason),
            [("claims", h.claims, f"{h.claims} ({euros(h.claimed_cents)})")],
        )
        for h in o.held_claims.holds
    ]
    description = "; ".join(
        f"{HOLD_NAMES.get(h.reason, h.reason)}: {h.claims} declaraties, {euros(h.claimed_cents)}"
        for h in o.held_claims.holds
    )
    return grouped_bars("holds", "Vastgehouden declaraties per reden", description, series, bars)


def rounds_chart(n: NegotiationOut) -> Markup:
    series = [
        Series("projected", "Projectie", "solid"),
        Series("ceiling", "Plafond", "hatch"),
        Series("cost", "Kosten vorig jaar", "dots"),
    ]
    names = {s.key: s.name.lower() for s in series}
    bars, said = [], []
    for r in n.rounds:
        p = r.projection
        if p is None or p.status != "computed":
            continue
        figures = {"projected": p.projected_cents, "ceiling": p.ceiling_cents, "cost": p.last_year_allowed_cents}
        values = [(key, cents, euros(cents)) for key, cents in figures.items() if cents is not None]
        bars.append(Bar(f"Ronde {r.n} ({SIDES[r.party]})", values))
        said.append(f"ronde {r.n}: " + ", ".join(f"{names[key]} {text}" for key, _, text in values))
    title = "Projectie, plafond en kosten vorig jaar per ronde"
    return grouped_bars("rounds", title, "; ".join(said) or "geen ronde geprijsd", series, bars)


#: What the pages answer besides 200: no such policy or negotiation (a Dutch page), or the sign-in.
_PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "Not signed in: to the sign-in form", "headers": {"Location": {"schema": {"type": "string"}}}},
    404: {"description": "No such policy or negotiation (a Dutch page)", "content": {"text/html": {}}},
}


@router.get(
    "/{policy_id}",
    response_class=HTMLResponse,
    summary="The year page of one policy (Dutch, staff)",
    responses=_PAGE_RESPONSES,
)
async def year(
    request: Request, uow: UowDep, runtime: RuntimeDep, policy_id: Annotated[str, Path(max_length=20)]
) -> Response:
    if _signed_in(request) is None:
        return _to_sign_in(request)
    policy = policies().get(policy_id)
    if policy is None:
        return _page(request, "policies.html", 404, policies=list(policies().values()))
    o = overview_out(await policy_overview(uow, policy, claims_client(runtime)))
    return _page(
        request,
        "year.html",
        policy=policy,
        o=o,
        today=_date(o.today),
        deadline=_date(o.contracting_deadline),
        deadline_text=_deadline_text(o.days_to_deadline),
        routes_chart=routes_chart(o),
        holds_chart=holds_chart(o) if o.held_claims is not None else Markup(""),
    )


@router.get(
    "/{policy_id}/onderhandelingen/{negotiation_id}",
    response_class=HTMLResponse,
    summary="A negotiation's rounds and their projections (Dutch, staff)",
    responses=_PAGE_RESPONSES,
)
async def negotiation(
    request: Request,
    uow: UowDep,
    policy_id: Annotated[str, Path(max_length=20)],
    negotiation_id: Annotated[str, Path(max_length=36)],
) -> Response:
    staff = _signed_in(request)
    if staff is None:
        return _to_sign_in(request)
    try:
        n = await negotiation_out(uow, negotiation_id, staff)
    except NotFoundError:
        n = None
    if n is None or n.policy_id != policy_id:
        return _page(request, "policies.html", 404, policies=list(policies().values()))
    return _page(
        request,
        "negotiation.html",
        policy=policies()[n.policy_id],
        n=n,
        deadline=_date(n.deadline),
        extended=_date(n.deadline_extended_until) if n.deadline_extended_until else "",
        rounds_chart=rounds_chart(n),
    )
