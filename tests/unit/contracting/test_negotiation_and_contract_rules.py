"""Offer negotiation transitions, the contracting deadline on both sides, prognoses, and intake decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from zorg_common.policy import policies
from zorg_contracting.domain.contract import digital_tariffs, period_for, route_years
from zorg_contracting.domain.follow_format import FollowFormat, Problem, check_format, form_from_text
from zorg_contracting.domain.intake import (
    Decision,
    Evaluation,
    FailedCriterion,
    Known,
    RegisterEntry,
    decide,
    same_name,
)
from zorg_contracting.domain.negotiation import (
    Kpi,
    Negotiation,
    Offer,
    Refused,
    check_offer,
    may_sign,
    needs_renegotiation,
)
from zorg_contracting.domain.procurement import OpenProcurement
from zorg_contracting.domain.questionnaire import check_answers
from zorg_contracting.domain.trust import SenderCheck, check_sender, dmarc_failed, reply_address, results_of
from zorg_contracting.entrypoints.samples import GLI_TARIFFS, body_text, format_fields

GGZ = policies()["GGZ-2021"]
GLI = policies()["GLI-2023"]
INSURER = Offer("insurer", (("CO0042", 1100),), 1_000_000, (Kpi("WACHTTIJD", "Treeknorm", 1.5),), by="inkoper-1")
PROVIDER = Offer("provider", (("CO0042", 1200),), 1_100_000, by="portal-40000032")


def test_offer_counter_offer_and_accepting_the_other_sides_latest() -> None:
    n = Negotiation("open")
    assert n.offer(INSURER) == 1 and n.offer(PROVIDER) == 2
    assert n.accept("insurer", "inkoper-1") == PROVIDER
    assert n.state == "agreed" and len(n.rounds) == 2


def test_accepting_your_own_offer_is_refused() -> None:
    n = Negotiation("open", [INSURER])
    with pytest.raises(Refused, match="your own"):
        n.accept("insurer", "inkoper-2")


def test_nobody_accepts_an_offer_they_recorded_themselves_whichever_side_they_act_for() -> None:
    recorded = Offer("provider", (("CO0042", 1200),), by="inkoper-1")  # staff recorded the provider's offer
    with pytest.raises(Refused, match="yourself"):
        Negotiation("open", [INSURER, recorded]).accept("insurer", "inkoper-1")
    assert Negotiation("open", [INSURER, recorded]).accept("insurer", "inkoper-2") == recorded


def test_accepting_with_no_offer_is_refused() -> None:
    with pytest.raises(Refused, match="no offer"):
        Negotiation("open").accept("provider", "x")


@pytest.mark.parametrize("state", ["agreed", "signed", "closed"])
def test_offering_or_accepting_after_agreement_is_refused(state: str) -> None:
    n = Negotiation(state, [INSURER])  # type: ignore[arg-type]
    with pytest.raises(Refused):
        n.offer(PROVIDER)
    with pytest.raises(Refused):
        n.accept("provider", "x")


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


def test_a_new_institution_may_sign_all_year() -> None:
    assert may_sign(dt.date(2021, 6, 1), GGZ, None, all_year=True) is None


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


def test_the_kpi_incentives_of_one_offer_add_up_to_at_most_the_policys_maximum() -> None:
    assert GGZ.max_kpi_incentive_pct == 2
    two = Offer("insurer", (("CO0042", 1100),), None, (Kpi("A", "a", 1.5), Kpi("B", "b", 0.5)))
    assert check_offer(two, GGZ) == []
    more = Offer("insurer", (("CO0042", 1100),), None, (Kpi("A", "a", 1.5), Kpi("B", "b", 0.6)))
    [problem] = check_offer(more, GGZ)
    assert problem.field == "kpis" and "2.1%" in problem.message and "at most 2%" in problem.message


def test_routes_give_one_or_two_contract_years_and_the_digital_tariffs_are_the_maxima() -> None:
    assert route_years(GGZ, "digital", "individual") == 2
    assert route_years(GGZ, "digital", "institution") == 1
    period = period_for(GGZ, 2)
    assert (period.start, period.end, period.years) == (dt.date(2021, 1, 1), dt.date(2022, 12, 31), [2021, 2022])
    assert dict(digital_tariffs(GGZ))["CO0042"] == 1200


def _fmt(**changes: str) -> FollowFormat | None:
    form = form_from_text(
        body_text(format_fields("40000001", "Zorggroep Leefstijl Noord", "70000001", **changes), GLI_TARIFFS)
    )
    fmt, problems = check_format(form, policies(), "3311", dt.date(2023, 3, 1))
    assert problems == []
    return fmt


REGISTER = RegisterEntry("Zorggroep Leefstijl Noord B.V.", "70000001", "care_group", ("info@zorggroep.example",))
TRUSTED = Known(REGISTER, SenderCheck("info@zorggroep.example", on_file=True, dmarc_failed=False))
ELIGIBLE = Evaluation(True, "follow")
TODAY = dt.date(2022, 10, 15)


def _decide(fmt: FollowFormat | None, evaluation: Evaluation | None = ELIGIBLE, **kw: Any) -> Decision:
    args: dict[str, Any] = dict(
        fmt=fmt,
        format_problems=[],
        agb="40000001",
        known=TRUSTED,
        evaluation=evaluation,
        policy=GLI,
        existing_contract_id=None,
        today=TODAY,
    )
    args.update(kw)
    return decide(**args)


def test_an_eligible_care_group_with_a_good_format_from_a_sender_on_file_is_followed() -> None:
    decision = _decide(_fmt())
    assert (decision.status, decision.reply, decision.procurement) == ("accepted", True, "open")


def test_a_sender_not_on_file_or_failing_dmarc_waits_for_a_person_with_nothing_opened_and_no_reply() -> None:
    for sender in (
        SenderCheck("info@zorggroep-noord.example", on_file=False, dmarc_failed=False),
        SenderCheck("info@zorggroep.example", on_file=True, dmarc_failed=True),
        SenderCheck(None, on_file=False, dmarc_failed=False),
    ):
        decision = _decide(_fmt(), None, known=Known(REGISTER, sender))
        assert (decision.status, decision.reply, decision.procurement) == ("needs_review", False, "none")
        assert decision.review_reasons[0].startswith("sender not verified")


def test_an_agb_code_not_in_the_register_gets_no_reply_and_none_read_is_rejected_unanswered() -> None:
    unknown = _decide(_fmt(), None, known=None)
    assert (unknown.status, unknown.reply, unknown.procurement) == ("needs_review", False, "none")
    unread = _decide(None, None, known=None, agb=None, policy=None)
    assert (unread.status, unread.reply) == ("rejected", False)


def test_not_eligible_lists_the_failed_criteria_but_never_a_confidential_one() -> None:
    failed = (
        FailedCriterion("VECOZO_CERTIFICATE", "fail", "geen VECOZO"),
        FailedCriterion("NOT_IN_FRAUD_REGISTERS", "fail", "fraudeur"),
        FailedCriterion("NO_QUALITY_CONCERNS", "unknown", "zorgen"),
    )
    decision = _decide(_fmt(), Evaluation(False, None, failed))
    assert decision.status == "rejected" and decision.procurement == "close"
    told = " ".join(f"{p.field} {p.message}" for p in decision.problems)
    assert "VECOZO_CERTIFICATE" in told
    assert "NOT_IN_FRAUD_REGISTERS" not in told and "NO_QUALITY_CONCERNS" not in told
    assert "fraudeur" not in told and "zorgen" not in told
    assert "voldoet niet aan de voorwaarden" in told and "088 123 45 00" in told  # whom to call


def test_a_rejected_format_keeps_the_procurement_open_until_the_deadline() -> None:
    problems = [Problem("Naam", "ontbreekt")]
    before = _decide(None, format_problems=problems)
    assert (before.status, before.procurement) == ("rejected", "open")
    after = _decide(None, format_problems=problems, today=dt.date(2022, 11, 2))
    assert after.procurement == "close"


def test_another_route_is_rejected() -> None:
    assert _decide(_fmt(), Evaluation(True, "restitution")).problems[0].field == "Route"


def test_a_format_from_a_contracted_provider_is_a_change_request_that_opens_no_procurement() -> None:
    decision = _decide(_fmt(), existing_contract_id="c-1")
    assert (decision.status, decision.procurement, decision.reply) == ("needs_review", "none", True)
    assert decision.review_reasons[0].startswith("change request")


def test_what_the_rules_cannot_decide_goes_to_review() -> None:
    other = Known(RegisterEntry("Iets Anders", None, "care_group", ()), TRUSTED.sender)
    assert _decide(_fmt(), known=other).status == "needs_review"
    assert _decide(_fmt(signed_on="02-11-2022"), today=dt.date(2023, 1, 1)).status == "needs_review"
    assert _decide(_fmt(), Evaluation(True, None)).status == "needs_review"


def test_authentication_results_only_of_our_own_server_count() -> None:
    assert results_of("mx.zorginkoop.example 1; spf=pass (ok) smtp.mailfrom=a.nl; dmarc=fail (p=reject)") == (
        "mx.zorginkoop.example",
        {"spf": "pass", "dmarc": "fail"},
    )
    ours = "mx.zorginkoop.example"
    assert dmarc_failed(["MX.Zorginkoop.Example; dmarc=fail header.from=a.nl"], ours)
    assert not dmarc_failed(["mx.elders.example; dmarc=fail"], ours)  # another server's word: forgeable
    assert not dmarc_failed(["mx.zorginkoop.example; dmarc=pass"], ours)
    assert not dmarc_failed(["mx.zorginkoop.example; dmarc=fail"], None)  # no server configured: none counts
    assert not dmarc_failed(["mx.zorginkoop.example (dmarc=fail); none"], ours)  # a comment is no result


def test_the_sender_is_compared_ignoring_case_and_replies_go_only_to_addresses_on_file() -> None:
    on_file = ("info@zorggroep.example", "contracten@zorggroep.example")
    assert check_sender("INFO@ZorgGroep.Example", on_file, [], None).trusted
    assert not check_sender("info@zorggroep-noord.example", on_file, [], None).trusted
    assert reply_address("Contracten@zorggroep.example", "info@zorggroep.example", on_file) == on_file[1]
    assert reply_address("boef@elders.example", "info@zorggroep.example", on_file) == on_file[0]
    assert reply_address("boef@elders.example", "boef@elders.example", on_file) == on_file[0]
    assert reply_address("boef@elders.example", None, ()) is None


def test_a_procurement_closes_once_its_deadline_day_is_over() -> None:
    deadline = GLI.calendar.contracting_deadline  # 2022-11-01
    open_since = OpenProcurement(dt.date(2022, 10, 1), all_year=False, policy_deadline=deadline)
    assert not open_since.closed_by_deadline(deadline) and open_since.closed_by_deadline(dt.date(2022, 11, 2))
    extended = OpenProcurement(dt.date(2022, 10, 1), False, deadline, extended_until=dt.date(2022, 11, 20))
    assert extended.closes_on == dt.date(2022, 11, 20) and not extended.closed_by_deadline(dt.date(2022, 11, 20))
    asked_by_a_new_institution = OpenProcurement(dt.date(2022, 10, 1), all_year=True, policy_deadline=deadline)
    assert not asked_by_a_new_institution.closed_by_deadline(dt.date(2023, 6, 1))
    opened_late = OpenProcurement(dt.date(2023, 1, 5), all_year=False, policy_deadline=deadline)
    assert not opened_late.closed_by_deadline(dt.date(2023, 6, 1))  # not open at the deadline: a person ends it


def test_the_questionnaire_answers_are_checked_against_the_policy() -> None:
    kept, problems = check_answers(
        GGZ, [("WACHTTIJDEN_GEPUBLICEERD", "ja"), ("ROM_DEELNAME", False), ("AANTAL_BEHANDELAARS", "4")]
    )
    assert problems == [] and kept == [
        {"question": "WACHTTIJDEN_GEPUBLICEERD", "answer": True},
        {"question": "ROM_DEELNAME", "answer": False},
        {"question": "AANTAL_BEHANDELAARS", "answer": 4},
    ]
    _, problems = check_answers(GGZ, [("WACHTTIJDEN_GEPUBLICEERD", "misschien"), ("SCHOENMAAT", 44)])
    assert [p.field for p in problems] == ["answers[0].answer", "answers[1].question", "answers"]
    assert "ROM_DEELNAME" in problems[2].message and "TOELICHTING" not in problems[2].message  # optional


def test_names_match_ignoring_legal_form_and_punctuation() -> None:
    assert same_name("Stichting Zorggroep Leefstijl-Noord", "Zorggroep Leefstijl Noord B.V.")
    assert not same_name("Zorggroep Zuid", "Zorggroep Noord")
