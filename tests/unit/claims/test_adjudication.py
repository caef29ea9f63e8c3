"""One test per adjudication rule and reason code of DOMAIN.md ("Claims"), with the boundaries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from zorg_claims.domain.adjudication import VEKTIS, Context, ContractTerms, adjudicate
from zorg_claims.domain.authorisation import Authorisation
from zorg_claims.domain.calendar import add_months, submission_deadline
from zorg_claims.domain.claim import ClaimLine, contract_year
from zorg_claims.domain.programme import ProgrammeClaim
from zorg_common.policy import Policy, policies

D = dt.date


def gli(**changes: Any) -> ClaimLine:
    base: dict[str, Any] = dict(
        provider_reference="R1",
        agb="12345678",
        bsn="111222333",
        sector="GLI",
        prestation_code="GLI-TREATMENT-Q",
        service_date=D(2023, 3, 1),
        quantity=1,
        claimed_cents=19380,
        programme="Cool",
        programme_start=D(2023, 1, 15),
    )
    return ClaimLine(**{**base, **changes})


def ggz(**changes: Any) -> ClaimLine:
    base: dict[str, Any] = dict(
        provider_reference="R2",
        agb="12345678",
        bsn="111222333",
        sector="GGZ",
        prestation_code="CO0107",
        service_date=D(2022, 3, 1),
        quantity=3,
        claimed_cents=3300,
    )
    return ClaimLine(**{**base, **changes})


def ctx(**changes: Any) -> Context:
    base: dict[str, Any] = dict(
        received_on=D(2023, 6, 1), provider_known=True, provider_kind="individual", eligible=True
    )
    return Context(**{**base, **changes})


def earlier(count: int, code: str = "GLI-TREATMENT-Q", start: dt.date = D(2023, 1, 15)) -> tuple[ProgrammeClaim, ...]:
    return tuple(ProgrammeClaim("Cool", start, code, 1) for _ in range(count))


GLI_POLICY: Policy = policies()["GLI-2023"]
GGZ_POLICY: Policy = policies()["GGZ-2021"]


def reasons(line: ClaimLine, policy: Policy, context: Context) -> tuple[str, tuple[str, ...], int]:
    decision = adjudicate(line, policy, context)
    return decision.status, decision.reasons, decision.allowed_cents


# --- rule 2: the submission deadline -----------------------------------------------------


def test_deadline_is_30_april_of_the_second_year_after_opening() -> None:
    assert submission_deadline(D(2020, 5, 20)) == D(2022, 4, 30)


@pytest.mark.parametrize(("received", "status"), [(D(2022, 4, 29), "approved"), (D(2022, 4, 30), "rejected")])
def test_submission_deadline_boundary(received: dt.date, status: str) -> None:
    line = ggz(
        service_date=D(2021, 5, 20),
        opening_date=D(2020, 5, 20),
        prestation_code="DBC-BASIS-KORT",
        claimed_cents=48000,
        quantity=1,
    )
    decision = adjudicate(line, GGZ_POLICY, ctx(received_on=received, contract_year=2020))
    if status == "rejected":
        assert decision.status == "rejected" and decision.reasons == ("SUBMISSION_DEADLINE_PASSED",)
    else:  # handled: judged on, here at the non-contracted rate (the claim is at the maximum tariff)
        assert decision.status == "partially_approved" and decision.reasons == ("NON_CONTRACTED_RATE",)


# --- rules 3 and 4 --------------------------------------------------------------------


def test_duplicate_is_rejected_with_0587() -> None:
    decision = adjudicate(gli(), GLI_POLICY, ctx(duplicate_of="c-1"))
    assert decision.status == "rejected" and decision.reasons == ("DUPLICATE",)
    assert decision.reason_codes() == [{"code": "DUPLICATE", "vektis_code": "0587"}]
    assert decision.inputs["duplicate_of"] == "c-1"


def test_unknown_provider_is_rejected() -> None:
    assert reasons(gli(), GLI_POLICY, ctx(provider_known=False))[:2] == ("rejected", ("PROVIDER_UNKNOWN",))


# --- rule 5: GLI programme, phases and limits -----------------------------------------


def test_programme_outside_the_recognised_four() -> None:
    assert reasons(gli(programme="Eigen programma"), GLI_POLICY, ctx())[1] == ("PROGRAMME_NOT_RECOGNISED",)


@pytest.mark.parametrize("spelling", ["de BeweegKuur", "Beweegkuur", "BeweegKuur", "BEWEEG-KUUR", "De  beweegkuur"])
def test_every_spelling_of_a_recognised_programme_is_that_programme(spelling: str) -> None:
    decision = adjudicate(gli(programme=spelling), GLI_POLICY, ctx())
    assert decision.status == "approved"
    assert decision.inputs["programme_run"]["programme"] == "BeweegKuur"


def test_spellings_of_one_programme_share_its_limits() -> None:
    history = (ProgrammeClaim("de BeweegKuur", D(2023, 1, 15), "GLI-INTAKE", 1),)
    intake = gli(programme="Beweegkuur", prestation_code="GLI-INTAKE", claimed_cents=8193)
    assert reasons(intake, GLI_POLICY, ctx(programme_history=history))[1] == ("PRESTATION_LIMIT_EXCEEDED",)
    other = gli(programme="Cool", prestation_code="GLI-INTAKE", claimed_cents=8193)  # another programme: its own run
    assert reasons(other, GLI_POLICY, ctx(programme_history=history))[0] == "approved"


def test_phase_boundaries_are_calendar_months() -> None:
    start = D(2023, 1, 15)
    assert add_months(start, 12) == D(2024, 1, 15) and add_months(D(2023, 1, 31), 1) == D(2023, 2, 28)
    treatment_last = gli(service_date=D(2024, 1, 14))
    maintenance_first = gli(service_date=D(2024, 1, 15), prestation_code="GLI-MAINTENANCE-Q", claimed_cents=9829)
    assert reasons(treatment_last, GLI_POLICY, ctx(received_on=D(2024, 2, 1)))[0] == "approved"
    assert reasons(maintenance_first, GLI_POLICY, ctx(received_on=D(2024, 2, 1)))[0] == "approved"


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (D(2025, 1, 14), "approved"),  # the last day of the maintenance phase
        (D(2025, 1, 15), "PROGRAMME_DURATION_EXCEEDED"),  # 24 months after the start
    ],
)
def test_24_months_after_the_programme_start(service: dt.date, expected: str) -> None:
    line = gli(service_date=service, prestation_code="GLI-MAINTENANCE-Q", claimed_cents=9829)
    status, why, _ = reasons(line, GLI_POLICY, ctx(received_on=D(2025, 2, 1)))
    assert (status if expected == "approved" else why[0]) == expected


def test_quarter_in_the_wrong_phase() -> None:
    maintenance_in_treatment = gli(prestation_code="GLI-MAINTENANCE-Q", claimed_cents=9829)
    treatment_in_maintenance = gli(service_date=D(2024, 2, 1))
    for line in (maintenance_in_treatment, treatment_in_maintenance):
        assert reasons(line, GLI_POLICY, ctx(received_on=D(2024, 3, 1)))[1] == ("PRESTATION_INVALID_FOR_PHASE",)


@pytest.mark.parametrize(("before", "status"), [(3, "approved"), (4, "rejected")])
def test_the_fifth_quarter_of_a_phase_exceeds_the_limit(before: int, status: str) -> None:
    status_, why, _ = reasons(gli(), GLI_POLICY, ctx(programme_history=earlier(before)))
    assert status_ == status and (status == "approved" or why == ("PRESTATION_LIMIT_EXCEEDED",))


def test_a_quantity_counts_as_that_many_prestations() -> None:
    four = gli(quantity=4, claimed_cents=4 * 19380)
    assert reasons(four, GLI_POLICY, ctx())[0] == "approved"  # four quarters in one line: the whole phase
    assert reasons(four, GLI_POLICY, ctx(programme_history=earlier(1)))[1] == ("PRESTATION_LIMIT_EXCEEDED",)
    after_four = gli()
    history = (ProgrammeClaim("Cool", D(2023, 1, 15), "GLI-TREATMENT-Q", 4),)
    assert reasons(after_four, GLI_POLICY, ctx(programme_history=history))[1] == ("PRESTATION_LIMIT_EXCEEDED",)


def test_intake_once_per_programme() -> None:
    intake = gli(prestation_code="GLI-INTAKE", claimed_cents=8193)
    assert reasons(intake, GLI_POLICY, ctx())[0] == "approved"
    history = earlier(1, "GLI-INTAKE")
    assert reasons(intake, GLI_POLICY, ctx(programme_history=history))[1] == ("PRESTATION_LIMIT_EXCEEDED",)


# --- limits count per person and programme run (DOMAIN.md, Decision) -------------------


@pytest.mark.parametrize("moved_by", [1, -1, 200])
def test_a_programme_start_moved_does_not_reset_the_counts(moved_by: int) -> None:
    history = earlier(1, "GLI-INTAKE", start=D(2023, 1, 15))
    moved = D(2023, 1, 15) + dt.timedelta(days=moved_by)
    intake = gli(prestation_code="GLI-INTAKE", claimed_cents=8193, programme_start=moved, service_date=D(2023, 8, 10))
    assert reasons(intake, GLI_POLICY, ctx(programme_history=history))[1] == ("PRESTATION_LIMIT_EXCEEDED",)


def test_a_start_moved_later_keeps_the_run_its_phases_and_its_24_months() -> None:
    """The run, not the line's own start, sets the phases: a start moved by a year buys no extra year."""
    history = earlier(1, "GLI-INTAKE", start=D(2023, 1, 15))
    late_start = gli(
        prestation_code="GLI-MAINTENANCE-Q",
        claimed_cents=9829,
        programme_start=D(2024, 1, 10),
        service_date=D(2025, 2, 1),
    )
    decision = adjudicate(late_start, GLI_POLICY, ctx(programme_history=history, received_on=D(2025, 3, 1)))
    assert decision.reasons == ("PROGRAMME_DURATION_EXCEEDED",)
    assert decision.inputs["programme_run"]["start"] == "2023-01-15"


def test_a_new_run_starts_only_after_the_previous_one_ended() -> None:
    history = earlier(1, "GLI-INTAKE", start=D(2021, 1, 15))  # a run that ended on 2023-01-15
    intake = gli(prestation_code="GLI-INTAKE", claimed_cents=8193, programme_start=D(2023, 1, 15))
    decision = adjudicate(intake, GLI_POLICY, ctx(programme_history=history))
    assert decision.status == "approved"
    assert decision.inputs["programme_run"] == {"programme": "Cool", "start": "2023-01-15", "counted": {}}


# --- rule 6: the DBC/ZPM change -------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "service", "ok"),
    [
        ("DBC-BASIS-KORT", D(2021, 12, 31), True),
        ("DBC-BASIS-KORT", D(2022, 1, 1), False),
        ("CO0107", D(2021, 12, 31), False),
        ("CO0107", D(2022, 1, 1), True),
    ],
)
def test_dbc_until_2021_zpm_from_2022(code: str, service: dt.date, ok: bool) -> None:
    line = ggz(prestation_code=code, service_date=service, quantity=1, claimed_cents=1100)
    status, why, _ = reasons(line, GGZ_POLICY, ctx(received_on=D(2022, 6, 1)))
    assert (status != "rejected") == ok
    if not ok:
        assert why == ("PRESTATION_INVALID_FOR_DATE",)


# --- rule 7: procurement in progress --------------------------------------------------


def test_procurement_in_progress_holds_the_claim() -> None:
    decision = adjudicate(gli(), GLI_POLICY, ctx(procurement_in_progress=True))
    assert (decision.status, decision.reasons, decision.allowed_cents) == ("pending", ("AWAITING_CONTRACT",), 0)


CONTRACT = ContractTerms("k1", 1, D(2023, 1, 1), D(2023, 12, 31), {"GLI-TREATMENT-Q": 18000, "GLI-INTAKE": 8193})


def test_a_signed_contract_wins_over_an_open_procurement() -> None:
    decision = adjudicate(gli(), GLI_POLICY, ctx(procurement_in_progress=True, contracts=(CONTRACT,)))
    assert (decision.status, decision.reasons, decision.allowed_cents) == (
        "partially_approved",
        ("TARIFF_CAPPED",),
        18000,
    )
    # A contract for the year that starts after the service date: the year is contracted, so the claim
    # is not held; without a contract in force it is judged by the rules without one.
    later = ContractTerms("k2", 1, D(2023, 4, 1), D(2023, 12, 31), {"GLI-TREATMENT-Q": 18000})
    decision = adjudicate(gli(), GLI_POLICY, ctx(procurement_in_progress=True, contracts=(later,)))
    assert decision.status == "approved" and "contract_id" not in decision.inputs


def test_a_contract_terminated_before_the_year_does_not_stop_the_hold() -> None:
    old = ContractTerms("k0", 1, D(2022, 1, 1), D(2023, 12, 31), {}, status="terminated", terminated_from=D(2022, 6, 1))
    decision = adjudicate(gli(), GLI_POLICY, ctx(procurement_in_progress=True, contracts=(old,)))
    assert decision.reasons == ("AWAITING_CONTRACT",)


# --- the contract year of a DBC is its opening year (seed 001) -------------------------

GGZ_2020 = GGZ_POLICY.model_copy(update={"id": "GGZ-2020", "contract_year": 2020})
WITH_2020 = {"GGZ-2020": GGZ_2020, "GGZ-2021": GGZ_POLICY}


def test_contract_year_is_the_opening_year_for_a_dbc_only() -> None:
    dbc = ggz(prestation_code="DBC-BASIS-KORT", opening_date=D(2020, 10, 1), service_date=D(2021, 2, 1), quantity=1)
    zpm = ggz(opening_date=D(2021, 12, 1), service_date=D(2022, 2, 1))
    assert contract_year(dbc, WITH_2020) == 2020 and contract_year(zpm, WITH_2020) == 2022


def test_a_dbc_opened_in_2020_and_closed_in_2021_meets_the_2020_contract_and_hold() -> None:
    dbc = ggz(
        prestation_code="DBC-BASIS-KORT",
        opening_date=D(2020, 10, 1),
        service_date=D(2021, 2, 1),
        quantity=1,
        claimed_cents=50000,
    )
    of_2020 = ContractTerms("k2020", 3, D(2020, 1, 1), D(2020, 12, 31), {"DBC-BASIS-KORT": 45000})
    of_2021 = ContractTerms("k2021", 1, D(2021, 1, 1), D(2021, 12, 31), {"DBC-BASIS-KORT": 47000})
    at = D(2021, 6, 1)
    decision = adjudicate(dbc, GGZ_2020, ctx(contract_year=2020, contracts=(of_2021, of_2020), received_on=at))
    assert (decision.allowed_cents, decision.inputs["contract_id"], decision.inputs["contract_version"]) == (
        45000,
        "k2020",
        3,
    )
    assert decision.inputs["policy_id"] == "GGZ-2020" and decision.inputs["contract_year"] == 2020
    held = adjudicate(dbc, GGZ_2020, ctx(contract_year=2020, procurement_in_progress=True, received_on=at))
    assert held.reasons == ("AWAITING_CONTRACT",)
    # the 2021 contract alone does not cover a DBC of contract year 2020
    alone = adjudicate(dbc, GGZ_2020, ctx(contract_year=2020, contracts=(of_2021,), received_on=at))
    assert "contract_id" not in alone.inputs and alone.reasons == ("TARIFF_CAPPED", "NON_CONTRACTED_RATE")


# --- rule 8: with a contract ----------------------------------------------------------


def test_contract_tariff_caps_the_allowed_amount() -> None:
    decision = adjudicate(gli(quantity=1, claimed_cents=19380), GLI_POLICY, ctx(contracts=(CONTRACT,)))
    assert (decision.status, decision.reasons, decision.allowed_cents) == (
        "partially_approved",
        ("TARIFF_CAPPED",),
        18000,
    )
    assert VEKTIS["TARIFF_CAPPED"] == "0611"
    assert decision.inputs["contract_id"] == "k1" and decision.inputs["contract_version"] == 1


def test_contract_claim_within_the_tariff_is_approved() -> None:
    assert reasons(gli(claimed_cents=17000), GLI_POLICY, ctx(contracts=(CONTRACT,))) == ("approved", (), 17000)


def test_prestation_not_in_the_contract() -> None:
    line = gli(prestation_code="GLI-MAINTENANCE-Q", service_date=D(2024, 2, 1), claimed_cents=9829)
    contract = ContractTerms("k3", 2, D(2024, 1, 1), D(2024, 12, 31), {"GLI-TREATMENT-Q": 18000})
    assert reasons(line, GLI_POLICY, ctx(contracts=(contract,), received_on=D(2024, 3, 1)))[1] == (
        "PRESTATION_NOT_CONTRACTED",
    )


# --- rule 9: without a contract -------------------------------------------------------


def test_gli_restitution_for_an_eligible_individual_capped_at_the_maximum_tariff() -> None:
    decision = adjudicate(gli(claimed_cents=20000), GLI_POLICY, ctx(evaluation_id="ev-1"))
    assert (decision.status, decision.reasons, decision.allowed_cents) == (
        "partially_approved",
        ("TARIFF_CAPPED",),
        19380,
    )
    assert decision.inputs["evaluation_id"] == "ev-1"


@pytest.mark.parametrize("kind", ["care_group", "institution", None])
def test_gli_care_group_or_institution_without_contract_gets_the_non_contracted_rate(kind: str | None) -> None:
    decision = adjudicate(gli(), GLI_POLICY, ctx(provider_kind=kind))
    assert GLI_POLICY.non_contracted_reimbursement_pct == 75
    assert (decision.status, decision.reasons, decision.allowed_cents) == (
        "partially_approved",
        ("NON_CONTRACTED_RATE",),
        19380 * 75 // 100,
    )


@pytest.mark.parametrize("kind", ["individual", "care_group"])
@pytest.mark.parametrize("eligible", [False, None])
def test_gli_without_contract_and_not_eligible(eligible: bool | None, kind: str) -> None:
    assert reasons(gli(), GLI_POLICY, ctx(eligible=eligible, provider_kind=kind))[1] == ("PROVIDER_NOT_ELIGIBLE",)


def test_ggz_non_contracted_rate_is_75_percent_of_the_maximum() -> None:
    line = ggz(quantity=3, claimed_cents=3300)  # CO0107: max 11.00 per unit
    assert reasons(line, GGZ_POLICY, ctx()) == ("partially_approved", ("NON_CONTRACTED_RATE",), 2475)


@pytest.mark.parametrize(
    ("claimed", "expected"),
    [
        (2000, ("approved", (), 2000)),  # below the rate: the rate lowered nothing
        (2475, ("approved", (), 2475)),  # exactly the rate
        (2476, ("partially_approved", ("NON_CONTRACTED_RATE",), 2475)),
        (3400, ("partially_approved", ("TARIFF_CAPPED", "NON_CONTRACTED_RATE"), 2475)),  # above the maximum too
    ],
)
def test_non_contracted_rate_is_reported_only_when_it_lowered_the_amount(
    claimed: int, expected: tuple[str, tuple[str, ...], int]
) -> None:
    assert reasons(ggz(quantity=3, claimed_cents=claimed), GGZ_POLICY, ctx()) == expected


# --- authorisations (DOMAIN.md rule 9, seed 001 "vooraf aangevraagd") ------------------


def sggz(**changes: Any) -> ClaimLine:
    base: dict[str, Any] = dict(
        prestation_code="DBC-SGGZ-TRAJECT",
        opening_date=D(2021, 3, 1),
        service_date=D(2021, 9, 1),
        quantity=1,
        claimed_cents=250000,
        referral=True,
    )
    return ggz(**{**base, **changes})


AUTH = Authorisation("M-1", "sggz", requested_on=D(2021, 2, 1), granted_on=D(2021, 2, 15), valid_until=D(2021, 12, 31))
AT_INSTITUTION = dict(provider_kind="institution", received_on=D(2021, 10, 1))


@pytest.mark.parametrize(
    ("authorisations", "changes", "ok"),
    [
        ((), {}, False),
        ((AUTH,), {}, True),
        ((AUTH,), {"authorisation_number": "M-1"}, True),
        ((AUTH,), {"authorisation_number": "M-2"}, False),  # names one the insurer did not grant
        ((AUTH.__class__(**{**AUTH.__dict__, "care_type": "DBC-SGGZ-TRAJECT"}),), {}, True),  # by prestation code
        ((AUTH.__class__(**{**AUTH.__dict__, "care_type": "DBC-BASIS-KORT"}),), {}, False),  # another prestation
        ((AUTH.__class__(**{**AUTH.__dict__, "care_type": "bggz"}),), {}, False),  # another care type
        ((AUTH.__class__(**{**AUTH.__dict__, "requested_on": D(2021, 3, 1)}),), {}, False),  # on the opening date
        ((AUTH.__class__(**{**AUTH.__dict__, "status": "refused"}),), {}, False),  # refused counts as none
        ((AUTH.__class__(**{**AUTH.__dict__, "valid_until": D(2021, 8, 31)}),), {}, False),  # expired by then
        ((AUTH.__class__(**{**AUTH.__dict__, "granted_on": D(2021, 9, 2)}),), {}, False),  # not yet valid
    ],
)
def test_specialised_care_on_referral_at_an_institution_needs_its_authorisation(
    authorisations: tuple[Authorisation, ...], changes: dict[str, Any], ok: bool
) -> None:
    decision = adjudicate(sggz(**changes), GGZ_POLICY, ctx(authorisations=authorisations, **AT_INSTITUTION))
    assert (decision.reasons != ("AUTHORISATION_REQUIRED",)) == ok
    if ok:
        assert decision.allowed_cents == 187500 and decision.inputs["authorisation_number"] == "M-1"


def test_when_the_line_names_a_number_that_authorisation_must_be_the_matching_one() -> None:
    other = Authorisation("M-9", "bggz", D(2021, 2, 1), D(2021, 2, 15), D(2021, 12, 31))
    line = sggz(authorisation_number="M-9")  # a real number, but not for this prestation
    decision = adjudicate(line, GGZ_POLICY, ctx(authorisations=(other, AUTH), **AT_INSTITUTION))
    assert decision.reasons == ("AUTHORISATION_REQUIRED",)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (sggz(referral=False), "institution"),  # no referral
        (sggz(), "individual"),  # not at an institution
        (sggz(prestation_code="DBC-BASIS-KORT", claimed_cents=48000), "institution"),  # basic GGZ: not specialised
    ],
)
def test_no_authorisation_needed_outside_specialised_care_on_referral_at_an_institution(
    line: ClaimLine, kind: str
) -> None:
    decision = adjudicate(line, GGZ_POLICY, ctx(provider_kind=kind, received_on=D(2021, 10, 1)))
    assert decision.status == "partially_approved" and decision.reasons == ("NON_CONTRACTED_RATE",)


def test_referral_rule_does_not_apply_to_contracted_care() -> None:
    contract = ContractTerms("k2", 1, D(2021, 1, 1), D(2021, 12, 31), {"DBC-SGGZ-TRAJECT": 240000})
    decision = adjudicate(sggz(), GGZ_POLICY, ctx(contracts=(contract,), **AT_INSTITUTION))
    assert decision.status == "partially_approved" and decision.reasons == ("TARIFF_CAPPED",)


# --- every decision says what it used ---------------------------------------------------


def test_a_decision_names_its_policy_rule_version_and_inputs() -> None:
    decision = adjudicate(gli(), GLI_POLICY, ctx(evaluation_id="ev-7", programme_history=earlier(2)))
    assert decision.rule_version and decision.inputs == {
        "policy_id": "GLI-2023",
        "contract_year": 2023,
        "programme_run": {"programme": "Cool", "start": "2023-01-15", "counted": {"GLI-TREATMENT-Q": 2}},
        "evaluation_id": "ev-7",
    }


# --- rule 10 and the door -------------------------------------------------------------


def test_privacy_statement_keeps_the_diagnosis_out() -> None:
    assert ggz(diagnosis_code="F32", privacy_statement=True).stored_diagnosis() is None
    assert ggz(diagnosis_code="F32").stored_diagnosis() == "F32"


def test_opening_date_defaults_to_the_service_date_and_cannot_follow_it() -> None:
    assert ggz().opened == D(2022, 3, 1)
    with pytest.raises(ValueError, match="opening_date"):
        ggz(opening_date=D(2022, 3, 2))
