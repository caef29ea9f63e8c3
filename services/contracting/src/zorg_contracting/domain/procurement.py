"""When a procurement ends by itself: at the policy's contracting deadline, or at the end of an extension.

DOMAIN.md (procurement ends by itself): a procurement still open at the policy's contracting
deadline closes on that day, with reason ``deadline``; a negotiation with an extended deadline
closes at the end of its extension; a procurement opened by a new institution's contract request
(which may come all year) is not closed by the deadline. Signing on the deadline day itself is in
time, so a procurement closes once that day is over.

A procurement opened after its deadline (a format that waits for a person, a negotiation that
still needs its extension) was not open at the deadline: a person's decision ends it, not the
calendar.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEADLINE = "deadline"


@dataclass(frozen=True)
class OpenProcurement:
    started_on: dt.date
    all_year: bool
    policy_deadline: dt.date
    extended_until: dt.date | None = None  # a negotiation's extension

    @property
    def closes_on(self) -> dt.date | None:
        """The last day it is open (None: it stays open until signed or closed by a person)."""
        if self.all_year:
            return None
        if self.extended_until is not None and self.extended_until > self.policy_deadline:
            return self.extended_until
        return self.policy_deadline

    def closed_by_deadline(self, today: dt.date) -> bool:
        """Open at its deadline, and that day is over."""
        closes_on = self.closes_on
        return closes_on is not None and self.started_on <= closes_on < today
