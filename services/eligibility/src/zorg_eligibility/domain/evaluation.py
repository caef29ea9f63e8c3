"""Eligibility: a pure function from (policy, provider, date) to a verdict per criterion and a route.

Three-valued: a criterion is ``pass``, ``fail`` or ``unknown`` (the fact is not on file). A
provider is eligible when no blocking criterion is ``fail`` or ``unknown``; expectations never
block and are reported as warnings. An outcome also says when a time-bound verdict would change
(an error leaving the five-year window), so that the provider is evaluated again on that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from zorg_common.policy import (
    AllOf,
    AnyOf,
    Criterion,
    FactIncludesAny,
    FactIs,
    IncludesRecognisedProgramme,
    NoDateWithinYears,
    Policy,
    RouteRule,
    Rule,
)

Verdict = Literal["pass", "fail", "unknown"]
PASS: Verdict = "pass"
FAIL: Verdict = "fail"
UNKNOWN: Verdict = "unknown"

SIZE_UNKNOWN = "SIZE_UNKNOWN"
SECTOR_NOT_OFFERED = "SECTOR_NOT_OFFERED"
NO_ROUTE_FOR_KIND = "NO_ROUTE_FOR_KIND"


@dataclass(frozen=True)
class ProviderProfile:
    """What an evaluation reads of a provider. ``facts`` lacks a key when that fact is unknown."""

    kind: str
    sectors: Sequence[str]
    facts: Mapping[str, Any]


@dataclass(frozen=True)
class CriterionVerdict:
    code: str
    verdict: Verdict
    blocking: bool
    text_nl: str
    text_en: str


@dataclass(frozen=True)
class Outcome:
    policy_id: str
    evaluated_on: dt.date
    eligible: bool
    route: str | None
    contract_years: int | None
    criteria: tuple[CriterionVerdict, ...]
    warnings: tuple[str, ...]
    #: The first day on which a time-bound verdict would change; None when none will.
    changes_on: dt.date | None = None


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def years_after(day: dt.date, years: int) -> dt.date:
    """The first day on which ``day`` lies ``years`` or more before it (see ``years_before``): the same
    calendar day ``years`` later; 29 February gives 1 March in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


def _all(verdicts: Sequence[Verdict]) -> Verdict:
    if FAIL in verdicts:
        return FAIL
    return UNKNOWN if UNKNOWN in verdicts else PASS


def _any(verdicts: Sequence[Verdict]) -> Verdict:
    if PASS in verdicts:
        return PASS
    return UNKNOWN if UNKNOWN in verdicts else FAIL


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def check(rule: Rule, facts: Mapping[str, Any], on: dt.date, policy: Policy) -> Verdict:
    """The verdict of one rule of ``policy`` on the facts, as of ``on``."""
    if isinstance(rule, AllOf):
        return _all([check(r, facts, on, policy) for r in rule.all_of])
    if isinstance(rule, AnyOf):
        return _any([check(r, facts, on, policy) for r in rule.any_of])
    if rule.fact not in facts:
        return UNKNOWN
    value = facts[rule.fact]
    if isinstance(rule, FactIs):
        if value is None:
            return UNKNOWN
        return PASS if bool(value) is rule.equals else FAIL
    if isinstance(rule, FactIncludesAny):
        if value is None:
            return UNKNOWN
        return PASS if set(value) & set(rule.includes_any) else FAIL
    if isinstance(rule, IncludesRecognisedProgramme):
        if value is None:
            return UNKNOWN
        # The policy's one list and one comparison, as the follow format and claims use them.
        return PASS if any(policy.recognised_programme(name) for name in value) else FAIL
    if isinstance(rule, NoDateWithinYears):
        if value is None:  # null: no such date on file
            return PASS
        # An error on the boundary day itself lies outside the window (DOMAIN.md, Decision).
        return PASS if _date(value) <= years_before(on, rule.no_date_within_years) else FAIL
    raise TypeError(f"unknown rule {rule!r}")  # pragma: no cover - the schema admits no other


def changes_on(rule: Rule, facts: Mapping[str, Any], on: dt.date) -> dt.date | None:
    """The first day after ``on`` on which a time-bound part of ``rule`` gives another verdict.

    Only a date inside a window changes with time: it leaves the window ``years`` after it. A
    date outside it stays outside, and facts without a date never change by themselves.
    """
    if isinstance(rule, AllOf | AnyOf):
        found = [changes_on(r, facts, on) for r in (rule.all_of if isinstance(rule, AllOf) else rule.any_of)]
        return min((d for d in found if d is not None), default=None)
    if not isinstance(rule, NoDateWithinYears) or facts.get(rule.fact) is None:
        return None
    leaves = years_after(_date(facts[rule.fact]), rule.no_date_within_years)
    return leaves if leaves > on else None


def _verdict(criterion: Criterion, facts: Mapping[str, Any], on: dt.date, policy: Policy) -> CriterionVerdict:
    return CriterionVerdict(
        criterion.code,
        check(criterion.rule, facts, on, policy),
        criterion.blocking,
        criterion.text_nl,
        criterion.text_en,
    )


def institution_size(policy: Policy, facts: Mapping[str, Any]) -> Literal["small", "large"] | None:
    """Large when either previous-year figure reaches its threshold; None when neither is on file."""
    limits = policy.large_institution
    if limits is None:
        return None
    claims = facts.get("claims_total_prev_year_cents")
    treated = facts.get("insured_treated_prev_year")
    if claims is None and treated is None:
        return None
    if (claims is not None and claims >= limits.claims_total_prev_year_cents) or (
        treated is not None and treated >= limits.insured_treated_prev_year
    ):
        return "large"
    return "small"


def route_for(policy: Policy, provider: ProviderProfile) -> tuple[RouteRule | None, list[str]]:
    rules = [r for r in policy.routes if provider.kind in r.kinds]
    if not rules:
        return None, [NO_ROUTE_FOR_KIND]
    if all(r.size is None for r in rules):
        return rules[0], []
    size = institution_size(policy, provider.facts)
    if size is None:
        return None, [SIZE_UNKNOWN]
    chosen = next((r for r in rules if r.size in (None, size)), None)
    return chosen, ([] if chosen else [NO_ROUTE_FOR_KIND])


def evaluate(policy: Policy, provider: ProviderProfile, on: dt.date) -> Outcome:
    verdicts = tuple(_verdict(c, provider.facts, on, policy) for c in policy.criteria)
    warnings = [v.code for v in verdicts if not v.blocking and v.verdict != PASS]
    eligible = all(v.verdict == PASS for v in verdicts if v.blocking)
    if policy.sector not in provider.sectors:
        eligible = False
        warnings.append(SECTOR_NOT_OFFERED)
    route, route_warnings = route_for(policy, provider)
    warnings += route_warnings
    chosen = route if eligible else None
    return Outcome(
        policy_id=policy.id,
        evaluated_on=on,
        eligible=eligible,
        route=chosen.route if chosen else None,
        contract_years=chosen.contract_years if chosen else None,
        criteria=verdicts,
        warnings=tuple(warnings),
        changes_on=min(
            (d for c in policy.criteria if (d := changes_on(c.rule, provider.facts, on)) is not None), default=None
        ),
    )
