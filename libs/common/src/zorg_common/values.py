"""Value types for what comes in as JSON: a value is taken in the form JSON writes it, and no other."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_text(value: object) -> object:
    """A date arrives as its ISO text; pydantic would also read a number as seconds since 1970."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


#: A date in a request: ``"2023-11-01"``, never ``0`` (1 January 1970) or ``"1700000000"``.
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]


_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?")


def _iso_datetime_text(value: object) -> object:
    """A moment arrives as its ISO 8601 text; pydantic would also read ``0.5`` as seconds since 1970."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.fullmatch(value):
        raise ValueError("a moment is written as ISO 8601, e.g. 2023-06-01T09:30:00+02:00 or 2023-06-01")
    return value


#: A moment in a request (body or query): ISO 8601 text, never a number.
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_datetime_text)]


def _without_nul(value: str) -> str:
    if "\x00" in value:
        from .problems import NUL_REFUSED

        raise ValueError(NUL_REFUSED)
    return value


#: Text taken from a request that is stored or searched: the NUL character is refused at the door,
#: whatever path the request takes afterwards (PostgreSQL could not store or compare it anyway).
Text = Annotated[str, AfterValidator(_without_nul)]
