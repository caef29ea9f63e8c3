"""HTTP routes of the feed for the website: the listing, its changes, and the staff preview."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from zorg_common import clock
from zorg_common.app import RuntimeDep, UowDep
from zorg_common.auth import Principal, require_scope
from zorg_common.openapi import etag, problem_responses
from zorg_common.paging import MAX_CURSOR, PageDep
from zorg_common.problems import BadInput
from zorg_common.values import Text

from ..domain.calendar import default_year
from ..domain.listing import ListingItem
from ..service_layer import feed
from .caching import CACHE_CONTROL, PRIVATE_CACHE, PUBLIC_CACHE, not_modified
from .listing import ListingPage, ListingRequest, listing, listing_tag

listings_router = APIRouter(prefix="/listings", tags=["listings"])

Year = Annotated[
    int | None,
    Query(ge=2000, le=2100, description="contract year; default: next year once it is published, else this year"),
]
SectorFilter = Annotated[Literal["GLI", "GGZ"] | None, Query(description="only this sector")]
NameFilter = Annotated[Text | None, Query(max_length=100, description="part of the name (case and accents ignored)")]
CityFilter = Annotated[Text | None, Query(max_length=100, description="part of the city (case and accents ignored)")]
StaffReader = Annotated[Principal, Depends(require_scope("contracts:read"))]


#: A listing answers with its entity tag, and 304 to a client that has it already.
CACHED: dict[int | str, dict[str, Any]] = {
    200: {"headers": {**etag("changes whenever the answer could"), "Cache-Control": CACHE_CONTROL}},
    304: {"description": "Not modified: If-None-Match holds the ETag", "headers": etag("the same tag")},
}


class ChangeOut(BaseModel):
    cursor: int
    op: Literal["upsert", "remove"]
    year: int  # the contract year whose listing changed
    item: ListingItem  # for a removal: the entry as it was


class ChangesPage(BaseModel):
    changes: list[ChangeOut]
    next_cursor: int
    has_more: bool


async def _answer(http: Request, uow: UowDep, request: ListingRequest, cache_control: str) -> Response:
    publications = request.publications(clock.today())
    etag = await listing_tag(uow.session, request, publications)
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if not_modified(http.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    page = await listing(uow.session, request, publications)
    return Response(page.model_dump_json(), media_type="application/json", headers=headers)


@listings_router.get(
    "",
    summary="The contracted providers of a contract year (public; nothing before the publication date)",
    response_model=ListingPage,
    responses=CACHED,
)
async def get_listings(
    http: Request,
    uow: UowDep,
    paging: PageDep,
    year: Year = None,
    sector: SectorFilter = None,
    q: NameFilter = None,
    city: CityFilter = None,
) -> Response:
    request = ListingRequest(year or default_year(clock.today()), sector, q, city, paging.page, paging.page_size)
    return await _answer(http, uow, request, PUBLIC_CACHE)


@listings_router.get(
    "/changes",
    summary="The changes to every published listing after a cursor, removals included, in commit order",
    response_model=ChangesPage,
    responses=problem_responses((503, "The database cannot be reached (try again after Retry-After)")),
)
async def get_changes(
    runtime: RuntimeDep,
    since: Annotated[
        int, Query(ge=0, le=MAX_CURSOR, description="the next_cursor of the previous answer; 0 from the start")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    today = clock.today()
    await feed.ensure_releases(runtime.sessions, today)
    async with runtime.sessions() as session:
        try:
            page = await feed.read_changes(session, since, limit, today)
        except feed.CursorAhead as exc:
            raise BadInput(
                [("since", f"cursor {since} is beyond the last change ({exc.last_cursor}); sync again from 0")]
            ) from None
    return Response(feed.changes_json(page), media_type="application/json", headers={"Cache-Control": "no-cache"})


@listings_router.get(
    "/preview",
    summary="Staff: the listing of a contract year regardless of its publication date",
    response_model=ListingPage,
    responses=CACHED,
)
async def get_preview(
    http: Request,
    uow: UowDep,
    paging: PageDep,
    _: StaffReader,
    year: Year = None,
    sector: SectorFilter = None,
    q: NameFilter = None,
    city: CityFilter = None,
) -> Response:
    request = ListingRequest(
        year or clock.today().year + 1, sector, q, city, paging.page, paging.page_size, preview=True
    )
    return await _answer(http, uow, request, PRIVATE_CACHE)
