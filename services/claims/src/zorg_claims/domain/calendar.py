"""Calendar arithmetic of claims: months that keep the day (clamped to the month's end), deadlines."""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later; the 31st becomes the last day of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def submission_deadline(opening: dt.date) -> dt.date:
    """Claims received on or after 30 April of the second year after the opening year are too late.

    Seed 001: opened 2020-05-20 may be submitted "uiterlijk tot 30 april 2022"; DOMAIN.md decides
    that received 2022-04-29 is handled and 2022-04-30 is not.
    """
    return dt.date(opening.year + 2, 4, 30)
