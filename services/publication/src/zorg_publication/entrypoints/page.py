"""The public page: a Dutch, server-rendered search of contracted providers that needs no JavaScript."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from zorg_common import clock
from zorg_common.app import UowDep
from zorg_common.openapi import etag
from zorg_common.paging import MAX_PAGE

from ..domain.calendar import SECTORS, SectorPublication, default_year, selectable_years
from .caching import PUBLIC_CACHE, entity_tag, not_modified
from .listing import ListingPage, ListingRequest, listing, listing_tag

page_router = APIRouter(tags=["page"])

PAGE_SIZE = 20
SECTOR_NAMES = {"GLI": "Gecombineerde leefstijlinterventie (GLI)", "GGZ": "Geestelijke gezondheidszorg (GGZ)"}
CARE_FORMS = {"in_person": "op locatie", "digital": "digitaal", "hybrid": "hybride"}
MONTHS = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
]
Text = Annotated[str | None, Query()]  # checked by _parse: the page never answers with JSON


@lru_cache(maxsize=1)
def templates() -> Environment:
    return Environment(
        loader=PackageLoader("zorg_publication", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def template_version() -> str:
    """Part of the page's ETag, so that a new release of the page is not answered with a 304."""
    loader = templates().loader
    assert loader is not None
    sources = [loader.get_source(templates(), name)[0] for name in ("index.html", "style.html", "page.css")]
    return entity_tag(*sources)


@lru_cache(maxsize=1)
def security_headers() -> dict[str, str]:
    """What the browser may do with the page: nothing but its own inline style (by its hash), forms to
    itself, no framing (clickjacking), no MIME sniffing, and no search terms leaking in a Referer."""
    style = templates().get_template("style.html").render()
    inline = style.strip().removeprefix("<style>").removesuffix("</style>")  # what the browser hashes
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    policy = (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def dutch_date(day: dt.date | None) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}" if day else ""


def _parse(
    year: str | None, sector: str | None, q: str | None, city: str | None, page: str | None, today: dt.date
) -> tuple[ListingRequest, list[dict[str, str]]]:
    """Form values as a visitor (or an edited URL) sends them; every problem in plain Dutch."""
    errors: list[dict[str, str]] = []
    given = {"year": year, "sector": sector, "q": q, "city": city, "page": page}
    # The database stores no NUL character, and no one types one: refused here, in Dutch, as HTML.
    unusable = [name for name, value in given.items() if value and "\x00" in value]
    if unusable:
        message = "Dit veld bevat een teken dat niet is toegestaan."
        return ListingRequest(default_year(today), None, None, None, 1, PAGE_SIZE), [
            {"field": name, "message": message} for name in unusable
        ]
    chosen_year = default_year(today)
    if year and year.strip():
        if year.strip().isdigit() and 2000 <= int(year) <= 2100:
            chosen_year = int(year)
        else:
            errors.append({"field": "year", "message": "Kies een contractjaar uit de lijst."})
    chosen_sector = (sector or "").strip() or None
    if chosen_sector is not None and chosen_sector not in SECTORS:
        errors.append({"field": "sector", "message": "Kies een sector uit de lijst."})
        chosen_sector = None
    number = 1
    if page and page.strip():
        if page.strip().isdigit() and 1 <= int(page) <= MAX_PAGE:
            number = int(page)
        else:
            errors.append({"field": "page", "message": "Dat paginanummer bestaat niet."})
    clean = [(v or "").strip()[:100] or None for v in (q, city)]
    return ListingRequest(chosen_year, chosen_sector, clean[0], clean[1], number, PAGE_SIZE), errors


def _link(request: ListingRequest, page: int) -> str:
    values = {"q": request.q, "city": request.city, "sector": request.sector, "year": request.year, "page": page}
    return "/?" + urlencode({k: v for k, v in values.items() if v not in (None, "")})


def _context(
    request: ListingRequest,
    result: ListingPage | None,
    publications: list[SectorPublication],
    errors: list[dict[str, str]],
    today: dt.date,
) -> dict[str, Any]:
    total = result.total if result else 0
    pages = max(1, -(-total // PAGE_SIZE))
    return {
        "request": request,
        "years": sorted(set(selectable_years(today)) | {request.year}),
        "sectors": [(code, SECTOR_NAMES.get(code, code)) for code in SECTORS],
        "sector_names": SECTOR_NAMES,
        "care_forms": CARE_FORMS,
        "errors": errors,
        "result": result,
        "embargoed": [
            {
                "sector": SECTOR_NAMES.get(p.sector, p.sector),
                "date": dutch_date(p.publication_date),
                "policy": p.publication_date is not None,
            }
            for p in publications
            if not p.published
        ],
        "published": any(p.published for p in publications),
        "total": total,
        "pages": pages,
        "previous": _link(request, request.page - 1) if request.page > 1 else None,
        "next": _link(request, request.page + 1) if request.page < pages else None,
        "today": dutch_date(today),
    }


@page_router.get(
    "/",
    response_class=HTMLResponse,
    summary="The public page: search contracted providers",
    responses={
        200: {"headers": etag("changes whenever the page could")},
        304: {"description": "Not modified: If-None-Match holds the ETag", "headers": etag("the same tag")},
        422: {
            "description": "The page again, every problem with the form named in Dutch",
            "content": {"text/html": {}},
        },
    },
)
async def public_page(
    http: Request,
    uow: UowDep,
    year: Text = None,
    sector: Text = None,
    q: Text = None,
    city: Text = None,
    page: Text = None,
) -> Response:
    today = clock.today()
    request, errors = _parse(year, sector, q, city, page, today)
    publications = request.publications(today)
    headers = {"Cache-Control": PUBLIC_CACHE, **security_headers()}
    result = None
    if not errors:
        etag = await listing_tag(uow.session, request, publications, template_version())
        headers["ETag"] = etag
        if not_modified(http.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        result = await listing(uow.session, request, publications)
    html = templates().get_template("index.html").render(_context(request, result, publications, errors, today))
    return HTMLResponse(html, status_code=422 if errors else 200, headers=headers)
