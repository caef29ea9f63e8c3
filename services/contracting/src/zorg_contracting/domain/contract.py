"""Contracts: the period a route gives, the standard tariffs of the digital route, and the lifecycle rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from zorg_common.policy import Policy

from .negotiation import Refused

ContractStatus = Literal["draft", "signed", "terminated"]


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def years(self) -> list[int]:
        return list(range(self.start.year, self.end.year + 1))


def route_years(policy: Policy, route: str, kind: str | None = None) -> int:
    """How many contract years the policy's route gives (for this kind of provider, if it matters)."""
    rules = [r for r in policy.routes if r.route == route and (kind is None or kind in r.kinds)]
    return rules[0].contract_years if rules else 1


def period_for(policy: Policy, years: int) -> Period:
    """From 1 January of the contract year, for one or more whole years."""
    return Period(dt.date(policy.contract_year, 1, 1), dt.date(policy.contract_year + years - 1, 12, 31))


def digital_tariffs(policy: Policy) -> list[tuple[str, int]]:
    """The digital route's standard tariffs (policy data; today the maximum tariff of each prestation)."""
    if policy.digital_route_tariffs == "max_tariff":
        return [(p.code, p.max_tariff_cents) for p in policy.prestations]
    raise ValueError(f"unknown digital_route_tariffs {policy.digital_route_tariffs}")


def check_sign(status: str) -> None:
    if status != "draft":
        raise Refused(f"the contract is {status}: only a draft can be signed")


def check_terminate(status: str, start: dt.date, end: dt.date, effective_on: dt.date) -> None:
    if status != "signed":
        raise Refused(f"the contract is {status}: only a signed contract can be terminated")
    if not start <= effective_on <= end + dt.timedelta(days=1):
        raise ValueError(f"must lie within the contract period {start.isoformat()} - {end.isoformat()}")
