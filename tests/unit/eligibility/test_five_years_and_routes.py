"""The five-year window (DOMAIN.md, Decision) and the route for each kind of provider and size."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.unit.eligibility.test_criteria import GGZ_ALL_PASS, GLI_ALL_PASS
from zorg_common.policy import policies
from zorg_eligibility.domain.evaluation import ProviderProfile, evaluate, years_before


def misconduct_verdict(error_on: dt.date, evaluated_on: dt.date) -> str:
    facts = dict(GLI_ALL_PASS, serious_misconduct_on=error_on)
    outcome = evaluate(policies()["GLI-2023"], ProviderProfile("care_group", ["GLI"], facts), evaluated_on)
    return next(c.verdict for c in outcome.criteria if c.code == "NO_SERIOUS_MISCONDUCT_5Y")


@pytest.mark.parametrize(
    ("error_on", "verdict"),
    [
        (dt.date(2018, 2, 28), "pass"),  # one day outside the window
        (dt.date(2018, 3, 1), "pass"),  # exactly five years before: passes
        (dt.date(2018, 3, 2), "fail"),  # one day inside
        (dt.date(2023, 3, 1), "fail"),  # on the evaluation date itself
    ],
)
def test_five_year_boundary(error_on: dt.date, verdict: str) -> None:
    assert misconduct_verdict(error_on, dt.date(2023, 3, 1)) == verdict


def test_29_february_counts_as_28_february_in_a_common_year() -> None:
    assert years_before(dt.date(2024, 2, 29), 5) == dt.date(2019, 2, 28)
    assert misconduct_verdict(dt.date(2019, 2, 28), dt.date(2024, 2, 29)) == "pass"
    assert misconduct_verdict(dt.date(2019, 3, 1), dt.date(2024, 2, 29)) == "fail"


def route(policy_id: str, kind: str, **facts: Any) -> tuple[str | None, int | None, tuple[str, ...]]:
    policy = policies()[policy_id]
    base = GLI_ALL_PASS if policy.sector == "GLI" else GGZ_ALL_PASS
    outcome = evaluate(policy, ProviderProfile(kind, [policy.sector], {**base, **facts}), dt.date(2020, 9, 1))
    return outcome.route, outcome.contract_years, outcome.warnings


def test_gli_routes_per_kind() -> None:
    assert route("GLI-2023", "care_group")[0] == "follow"
    assert route("GLI-2023", "institution")[0] == "follow"
    assert route("GLI-2023", "individual")[0] == "restitution"


def test_ggz_independent_practitioner_digital_for_two_years() -> None:
    assert route("GGZ-2021", "individual")[:2] == ("digital", 2)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"claims_total_prev_year_cents": 99_999_999, "insured_treated_prev_year": 499}, ("digital", 1)),
        ({"claims_total_prev_year_cents": 100_000_000, "insured_treated_prev_year": 0}, ("offer", 1)),
        ({"claims_total_prev_year_cents": 0, "insured_treated_prev_year": 500}, ("offer", 1)),
        ({"insured_treated_prev_year": 499}, ("digital", 1)),  # one figure on file decides
        ({"claims_total_prev_year_cents": 150_000_000}, ("offer", 1)),
    ],
    ids=[
        "small-just-below-both",
        "large-at-claims-threshold",
        "large-at-insured-threshold",
        "small-one-figure",
        "large-one-figure",
    ],
)
def test_ggz_institution_size_thresholds(facts: dict[str, Any], expected: tuple[str, int]) -> None:
    assert route("GGZ-2021", "institution", **facts)[:2] == expected


def test_ggz_institution_without_figures_has_no_route_and_size_unknown() -> None:
    assert route("GGZ-2021", "institution") == (None, None, ("SIZE_UNKNOWN",))


def test_a_kind_the_policy_does_not_contract_has_no_route() -> None:
    assert route("GGZ-2021", "care_group") == (None, None, ("NO_ROUTE_FOR_KIND",))


def test_not_eligible_means_no_route() -> None:
    assert route("GLI-2023", "care_group", vecozo_certificate=False)[0] is None


def test_a_provider_outside_the_sector_is_not_eligible() -> None:
    outcome = evaluate(
        policies()["GLI-2023"], ProviderProfile("care_group", ["GGZ"], GLI_ALL_PASS), dt.date(2022, 9, 1)
    )
    assert not outcome.eligible and outcome.route is None and "SECTOR_NOT_OFFERED" in outcome.warnings


# --- verdicts that change with time (DOMAIN.md, Decision) ---------------------------------


def changes_on(error_on: dt.date, evaluated_on: dt.date) -> dt.date | None:
    facts = dict(GLI_ALL_PASS, serious_misconduct_on=error_on)
    return evaluate(policies()["GLI-2023"], ProviderProfile("care_group", ["GLI"], facts), evaluated_on).changes_on


@pytest.mark.parametrize(
    "error_on",
    [dt.date(2018, 3, 2), dt.date(2019, 2, 28), dt.date(2019, 3, 1), dt.date(2020, 2, 29), dt.date(2023, 2, 1)],
)
def test_an_evaluation_records_the_first_day_its_verdict_changes(error_on: dt.date) -> None:
    evaluated_on = dt.date(2023, 3, 1)
    changes = changes_on(error_on, evaluated_on)
    assert changes is not None
    assert misconduct_verdict(error_on, evaluated_on) == "fail"
    assert misconduct_verdict(error_on, changes - dt.timedelta(days=1)) == "fail"
    assert misconduct_verdict(error_on, changes) == "pass"  # the first day it passes, no day earlier


def test_the_29th_of_february_leaves_the_window_on_1_march() -> None:
    assert changes_on(dt.date(2020, 2, 29), dt.date(2023, 3, 1)) == dt.date(2025, 3, 1)


@pytest.mark.parametrize("error_on", [None, dt.date(2018, 3, 1), dt.date(2010, 6, 1)])
def test_a_verdict_that_will_not_change_records_no_day(error_on: dt.date | None) -> None:
    facts = dict(GLI_ALL_PASS, serious_misconduct_on=error_on)
    outcome = evaluate(policies()["GLI-2023"], ProviderProfile("care_group", ["GLI"], facts), dt.date(2023, 3, 1))
    assert outcome.changes_on is None
    ggz = evaluate(policies()["GGZ-2021"], ProviderProfile("individual", ["GGZ"], GGZ_ALL_PASS), dt.date(2023, 3, 1))
    assert ggz.changes_on is None


def test_a_misconduct_date_after_the_evaluation_date_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from zorg_eligibility.domain.provider import Facts

    monkeypatch.setenv("ZORG_TODAY", "2023-03-01")
    assert Facts(serious_misconduct_on=dt.date(2023, 3, 1)).serious_misconduct_on == dt.date(2023, 3, 1)
    with pytest.raises(ValidationError, match="after the evaluation date 2023-03-01"):
        Facts(serious_misconduct_on=dt.date(2023, 3, 2))


# --- recognised programmes: one list, one comparison ----------------------------------------


@pytest.mark.parametrize(
    ("programmes", "verdict"),
    [
        (["de BeweegKuur"], "pass"),
        (["Beweegkuur"], "pass"),
        (["BEWEEG-KUUR", "Eigen programma"], "pass"),
        (["samen sportief in beweging"], "pass"),
        (["Eigen programma"], "fail"),
        ([], "fail"),
    ],
)
def test_recognised_programme_in_any_of_its_spellings(programmes: list[str], verdict: str) -> None:
    facts = dict(GLI_ALL_PASS, programmes=programmes)
    outcome = evaluate(policies()["GLI-2023"], ProviderProfile("care_group", ["GLI"], facts), dt.date(2023, 3, 1))
    assert next(c.verdict for c in outcome.criteria if c.code == "RECOGNISED_PROGRAMME") == verdict
