"""One test per adjudication rule and reason code of DOMAIN.md ("Claims"), with the boundaries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from zorg_claims.domain.adjudication import VEKTIS, Authorisation, Context, ContractTerms, adjudicate
from zorg_claims.domain.calendar import add_months, submission_deadline
from zorg_claims.domain.claim import ClaimLine
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
    base: dict[str, Any] = dict(received_on=D(2023, 6, 1), provider_known=True, eligible=True)
    return Context(**{**base, **changes})


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
        service_date=D(2020, 5, 20),
        opening_date=D(2020, 5, 20),
        prestation_code="DBC-BASIS-KORT",
        claimed_cents=48000,
        quantity=1,
    )
    decision = adjudicate(line, GGZ_POLICY, ctx(received_on=received))
    if status == "rejected":
        assert decision.status == "rejected" and decision.reasons == ("SUBMISSION_DEADLINE_PASSED",)
    else:  # handled: judged on, here at the non-contracted rate
        assert decision.status == "partially_approved" and decision.reasons == ("NON_CONTRACTED_RATE", "TARIFF_CAPPED")


# --- rules 3 and 4 --------------------------------------------------------------------


def test_duplicate_is_rejected_with_0587() -> None:
    decision = adjudicate(gli(), GLI_POLICY, ctx(duplicate_of="c-1"))
    assert decision.status == "rejected" and decision.reasons == ("DUPLICATE",)
    assert decision.reason_codes() == [{"code": "DUPLICATE", "vektis_code": "0587"}]


def test_unknown_provider_is_rejected() -> None:
    assert reasons(gli(), GLI_POLICY, ctx(provider_known=False))[:2] == ("rejected", ("PROVIDER_UNKNOWN",))


# --- rule 5: GLI programme, phases and limits -----------------------------------------


def test_programme_outside_the_recognised_four() -> None:
    assert reasons(gli(programme="Eigen programma"), GLI_POLICY, ctx())[1] == ("PROGRAMME_NOT_RECOGNISED",)


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


@pytest.mark.parametrize(("earlier", "status"), [(3, "approved"), (4, "rejected")])
def test_the_fifth_quarter_of_a_phase_exceeds_the_limit(earlier: int, status: str) -> None:
    status_, why, _ = reasons(gli(), GLI_POLICY, ctx(earlier_count=earlier))
    assert status_ == status and (status == "approved" or why == ("PRESTATION_LIMIT_EXCEEDED",))


def test_intake_once_per_programme() -> None:
    intake = gli(prestation_code="GLI-INTAKE", claimed_cents=8193)
    assert reasons(intake, GLI_POLICY, ctx(earlier_count=0))[0] == "approved"
    assert reasons(intake, GLI_POLICY, ctx(earlier_count=1))[1] == ("PRESTATION_LIMIT_EXCEEDED",)


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


# --- rule 8: with a contract ----------------------------------------------------------

CONTRACT = ContractTerms("k1", 1, D(2023, 1, 1), D(2023, 12, 31), {"GLI-TREATMENT-Q": 18000, "GLI-INTAKE": 8193})


def test_contract_tariff_caps_the_allowed_amount() -> None:
    status, why, allowed = reasons(gli(quantity=1, claimed_cents=19380), GLI_POLICY, ctx(contract=CONTRACT))
    assert (status, why, allowed) == ("partially_approved", ("TARIFF_CAPPED",), 18000)
    assert VEKTIS["TARIFF_CAPPED"] == "0611"


def test_contract_claim_within_the_tariff_is_approved() -> None:
    assert reasons(gli(claimed_cents=17000), GLI_POLICY, ctx(contract=CONTRACT)) == ("approved", (), 17000)


def test_prestation_not_in_the_contract() -> None:
    line = gli(prestation_code="GLI-MAINTENANCE-Q", service_date=D(2024, 2, 1), claimed_cents=9829)
    assert reasons(line, GLI_POLICY, ctx(contract=CONTRACT, received_on=D(2024, 3, 1)))[1] == (
        "PRESTATION_NOT_CONTRACTED",
    )


# --- rule 9: without a contract -------------------------------------------------------


def test_gli_restitution_when_eligible_capped_at_the_maximum_tariff() -> None:
    assert reasons(gli(claimed_cents=20000), GLI_POLICY, ctx()) == ("partially_approved", ("TARIFF_CAPPED",), 19380)


@pytest.mark.parametrize("eligible", [False, None])
def test_gli_without_contract_and_not_eligible(eligible: bool | None) -> None:
    assert reasons(gli(), GLI_POLICY, ctx(eligible=eligible))[1] == ("PROVIDER_NOT_ELIGIBLE",)


def test_ggz_non_contracted_rate_is_75_percent_of_the_maximum() -> None:
    line = ggz(quantity=3, claimed_cents=3300)  # CO0107: max 11.00 per unit
    status, why, allowed = reasons(line, GGZ_POLICY, ctx())
    assert (status, allowed) == ("partially_approved", 2475) and why[0] == "NON_CONTRACTED_RATE"


AUTH = Authorisation("M-1", "sggz", granted_on=D(2021, 12, 1), valid_until=D(2022, 12, 31))


@pytest.mark.parametrize(
    ("authorisations", "number", "opening", "ok"),
    [
        ((), None, D(2022, 1, 10), False),
        ((AUTH,), None, D(2022, 1, 10), True),
        ((AUTH,), "M-1", D(2022, 1, 10), True),
        ((AUTH,), "M-2", D(2022, 1, 10), False),  # names one the insurer did not grant
        ((AUTH,), None, D(2021, 12, 1), False),  # granted on the opening day: not before it
        ((AUTH,), None, D(2021, 11, 1), False),  # granted after the trajectory opened
    ],
)
def test_specialised_care_on_referral_needs_an_authorisation(
    authorisations: tuple[Authorisation, ...], number: str | None, opening: dt.date, ok: bool
) -> None:
    line = ggz(referral=True, authorisation_number=number, opening_date=opening)
    _, why, _ = reasons(line, GGZ_POLICY, ctx(authorisations=authorisations, received_on=D(2022, 6, 1)))
    assert (why != ("AUTHORISATION_REQUIRED",)) == ok


def test_referral_rule_does_not_apply_to_contracted_care() -> None:
    contract = ContractTerms("k2", 1, D(2022, 1, 1), D(2022, 12, 31), {"CO0107": 1100})
    assert reasons(ggz(referral=True), GGZ_POLICY, ctx(contract=contract))[0] == "approved"


# --- rule 10 and the door -------------------------------------------------------------


def test_privacy_statement_keeps_the_diagnosis_out() -> None:
    assert ggz(diagnosis_code="F32", privacy_statement=True).stored_diagnosis() is None
    assert ggz(diagnosis_code="F32").stored_diagnosis() == "F32"


def test_opening_date_defaults_to_the_service_date_and_cannot_follow_it() -> None:
    assert ggz().opened == D(2022, 3, 1)
    with pytest.raises(ValueError, match="opening_date"):
        ggz(opening_date=D(2022, 3, 2))
