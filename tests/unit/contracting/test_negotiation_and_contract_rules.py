"""Offer negotiation transitions, the contracting deadline on both sides, prognoses, and intake decisions."""

from __future__ import annotations

import datetime as dt

import pytest

from zorg_common.policy import policies
from zorg_contracting.domain.contract import digital_tariffs, period_for, route_years
from zorg_contracting.domain.follow_format import check_format, form_from_text
from zorg_contracting.domain.intake import EligibilityAnswer, FailedCriterion, decide, same_name
from zorg_contracting.domain.negotiation import (
    Kpi,
    Negotiation,
    Offer,
    Refused,
    check_offer,
    may_sign,
    needs_renegotiation,
)
from zorg_contracting.entrypoints.samples import GLI_TARIFFS, body_text, format_fields

GGZ = policies()["GGZ-2021"]
GLI = policies()["GLI-2023"]
INSURER = Offer("insurer", (("CO0042", 1100),), 1_000_000, (Kpi("WACHTTIJD", "Treeknorm", 1.5),))
PROVIDER = Offer("provider", (("CO0042", 1200),), 1_100_000)


def test_offer_counter_offer_and_accepting_the_other_sides_latest() -> None:
    n = Negotiation("open")
    assert n.offer(INSURER) == 1 and n.offer(PROVIDER) == 2
    assert n.accept("insurer") == PROVIDER
    assert n.state == "agreed" and len(n.rounds) == 2


def test_accepting_your_own_offer_is_refused() -> None:
    n = Negotiation("open", [INSURER])
    with pytest.raises(Refused, match="your own"):
        n.accept("insurer")


def test_accepting_with_no_offer_is_refused() -> None:
    with pytest.raises(Refused, match="no offer"):
        Negotiation("open").accept("provider")


@pytest.mark.parametrize("state", ["agreed", "signed", "closed"])
def test_offering_or_accepting_after_agreement_is_refused(state: str) -> None:
    n = Negotiation(state, [INSURER])  # type: ignore[arg-type]
    with pytest.raises(Refused):
        n.offer(PROVIDER)
    with pytest.raises(Refused):
        n.accept("provider")


def test_deadline_extension_must_lie_after_the_deadline() -> None:
    n = Negotiation("agreed")
    with pytest.raises(ValueError):
        n.extend(dt.date(2020, 11, 1), GGZ)
    n.extend(dt.date(2020, 12, 1), GGZ)
    assert n.deadline_extended_until == dt.date(2020, 12, 1)
    with pytest.raises(Refused):
        Negotiation("signed").extend(dt.date(2020, 12, 1), GGZ)


def test_signing_on_the_deadline_is_allowed_the_day_after_is_not_unless_extended() -> None:
    assert may_sign(dt.date(2020, 11, 1), GGZ, None) is None
    assert "deadline" in (may_sign(dt.date(2020, 11, 2), GGZ, None) or "")
    assert may_sign(dt.date(2020, 11, 2), GGZ, dt.date(2020, 11, 15)) is None
    assert "extended deadline" in (may_sign(dt.date(2020, 11, 16), GGZ, dt.date(2020, 11, 15)) or "")


def test_a_prognosis_more_than_ten_percent_above_the_ceiling_flags_renegotiation() -> None:
    assert not needs_renegotiation(1_100_000, 1_000_000)  # exactly 10% above
    assert needs_renegotiation(1_100_001, 1_000_000)
    assert not needs_renegotiation(5_000_000, None)


def test_offers_are_checked_against_the_policy() -> None:
    bad = Offer("insurer", (("CO0042", 1300), ("XX", 10), ("CO0042", 100)), None, (Kpi("A", "a", 1), Kpi("A", "b", 1)))
    fields = [p.field for p in check_offer(bad, GGZ)]
    assert fields == [
        "tariffs[0].amount_cents",
        "tariffs[1].prestation_code",
        "tariffs[2].prestation_code",
        "kpis[0].code",
        "kpis[1].code",
    ]
    assert check_offer(INSURER, GGZ) == []


def test_routes_give_one_or_two_contract_years_and_the_digital_tariffs_are_the_maxima() -> None:
    assert route_years(GGZ, "digital", "individual") == 2
    assert route_years(GGZ, "digital", "institution") == 1
    period = period_for(GGZ, 2)
    assert (period.start, period.end, period.years) == (dt.date(2021, 1, 1), dt.date(2022, 12, 31), [2021, 2022])
    assert dict(digital_tariffs(GGZ))["CO0042"] == 1200


def _fmt(**changes: str) -> object:
    form = form_from_text(
        body_text(format_fields("40000001", "Zorggroep Leefstijl Noord", "70000001", **changes), GLI_TARIFFS)
    )
    fmt, problems = check_format(form, policies(), "3311", dt.date(2023, 3, 1))
    assert problems == []
    return fmt


ELIGIBLE = EligibilityAnswer(
    True, True, "follow", register_name="Zorggroep Leefstijl Noord B.V.", register_kvk="70000001"
)


def test_an_eligible_care_group_with_a_good_format_is_followed() -> None:
    assert decide(_fmt(), [], ELIGIBLE, GLI).status == "accepted"  # type: ignore[arg-type]


def test_not_eligible_lists_the_failed_criteria() -> None:
    answer = EligibilityAnswer(True, False, None, (FailedCriterion("VECOZO_CERTIFICATE", "fail", "geen VECOZO"),))
    decision = decide(_fmt(), [], answer, GLI)  # type: ignore[arg-type]
    assert decision.status == "rejected" and decision.problems[0].field == "criterium VECOZO_CERTIFICATE"


def test_unknown_provider_and_another_route_are_rejected() -> None:
    assert decide(_fmt(), [], EligibilityAnswer(False), GLI).problems[0].field == "AGB-code"  # type: ignore[arg-type]
    restitution = EligibilityAnswer(True, True, "restitution")
    assert decide(_fmt(), [], restitution, GLI).problems[0].field == "Route"  # type: ignore[arg-type]


def test_what_the_rules_cannot_decide_goes_to_review() -> None:
    other_name = EligibilityAnswer(True, True, "follow", register_name="Iets Anders")
    assert decide(_fmt(), [], other_name, GLI).status == "needs_review"  # type: ignore[arg-type]
    assert decide(_fmt(signed_on="02-11-2022"), [], ELIGIBLE, GLI).status == "needs_review"  # type: ignore[arg-type]
    assert decide(_fmt(), [], ELIGIBLE, GLI, "c-1").status == "needs_review"  # type: ignore[arg-type]
    assert decide(_fmt(), [], EligibilityAnswer(True, True, None), GLI).status == "needs_review"  # type: ignore[arg-type]


def test_names_match_ignoring_legal_form_and_punctuation() -> None:
    assert same_name("Stichting Zorggroep Leefstijl-Noord", "Zorggroep Leefstijl Noord B.V.")
    assert not same_name("Zorggroep Zuid", "Zorggroep Noord")
