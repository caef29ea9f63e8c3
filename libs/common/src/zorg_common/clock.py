"""The platform clock: ``ZORG_TODAY=YYYY-MM-DD`` fixes the date every rule sees."""

from __future__ import annotations

import datetime as dt
import os
from typing import overload

UTC = dt.UTC


def _fixed_today() -> dt.date | None:
    value = os.environ.get("ZORG_TODAY", "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"ZORG_TODAY must be YYYY-MM-DD, got {value!r}") from exc


def today() -> dt.date:
    """The date the business rules see: ``ZORG_TODAY`` when set, else the real (UTC) date."""
    return _fixed_today() or dt.datetime.now(UTC).date()


def now() -> dt.datetime:
    """An aware timestamp on ``today()``: the real time of day, the date possibly fixed."""
    real = dt.datetime.now(UTC)
    fixed = _fixed_today()
    if fixed is None:
        return real
    return dt.datetime.combine(fixed, real.timetz())


def utcnow() -> dt.datetime:
    """The real wall clock, for technical timestamps (outbox, inbox, logs), never fixed."""
    return dt.datetime.now(UTC)


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp with its offset: SQLite gives them back naive, and they are stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
