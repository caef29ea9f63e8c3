"""Paged lists: ``?page=&page_size=`` in, ``{items, page, page_size, total}`` out."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")

MAX_PAGE_SIZE = 200
#: Past any real page (20 million rows at the largest page size), and far below where the OFFSET
#: would overflow: a larger page number is bad input (422), never a database error.
MAX_PAGE = 100_000
#: The largest cursor a feed hands out (a PostgreSQL bigint): a larger one is bad input, not an overflow.
MAX_CURSOR = 2**63 - 1


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def _page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1 for the first page")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


PageDep = Annotated[PageParams, Depends(_page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int
