"""Every criterion of both policies: pass, fail and unknown (DOMAIN.md, "Eligibility criteria")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from zorg_common.policy import policies
from zorg_eligibility.domain.evaluation import ProviderProfile, evaluate

ON = dt.date(2022, 9, 1)

#: Facts under which every GLI-2023 criterion passes.
GLI_ALL_PASS: dict[str, Any] = {
    "kvk_registered": True,
    "wtza_admitted": True,
    "ubo_known": True,
    "ubo_sanctioned": False,
    "blcn_registered": True,
    "vektis_lifestyle_coach": False,
    "programmes": ["Cool"],
    "in_fraud_register": False,
    "fraud_investigation": False,
    "enhanced_supervision": False,
    "sound_administration": True,
    "vecozo_certificate": True,
    "refuses_care": False,
    "serious_misconduct_on": None,
    "quality_concerns": False,
    "professional_standards": True,
    "co2_roadmap": True,
    "hybrid_care_published": True,
}
GGZ_ALL_PASS: dict[str, Any] = {"quality_statute_ii_approved": True, "vecozo_certificate": True}

# code: (facts that pass, facts that fail, facts that leave it unknown): changes to the all-pass facts;
# a value of ... removes that fact (unknown).
GLI_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "KVK_REGISTERED": ({}, {"kvk_registered": False}, {"kvk_registered": ...}),
    "WTZA_ADMITTED": ({}, {"wtza_admitted": False}, {"wtza_admitted": ...}),
    "UBO_KNOWN_NOT_SANCTIONED": ({}, {"ubo_sanctioned": True}, {"ubo_sanctioned": ...}),
    "LIFESTYLE_COACH_REGISTERED": (
        {"blcn_registered": False, "vektis_lifestyle_coach": True},
        {"blcn_registered": False, "vektis_lifestyle_coach": False},
        {"blcn_registered": False, "vektis_lifestyle_coach": ...},
    ),
    "RECOGNISED_PROGRAMME": (
        {"programmes": ["Samen Sportief in Beweging", "Eigen programma"]},
        {"programmes": ["Eigen programma"]},
        {"programmes": ...},
    ),
    "NOT_IN_FRAUD_REGISTERS": ({}, {"fraud_investigation": True}, {"in_fraud_register": ...}),
    "NOT_UNDER_ENHANCED_SUPERVISION": ({}, {"enhanced_supervision": True}, {"enhanced_supervision": ...}),
    "SOUND_ADMINISTRATION": ({}, {"sound_administration": False}, {"sound_administration": ...}),
    "VECOZO_CERTIFICATE": ({}, {"vecozo_certificate": False}, {"vecozo_certificate": ...}),
    "NO_REFUSAL_OF_CARE": ({}, {"refuses_care": True}, {"refuses_care": ...}),
    "NO_SERIOUS_MISCONDUCT_5Y": (
        {"serious_misconduct_on": dt.date(2016, 1, 1)},
        {"serious_misconduct_on": dt.date(2021, 6, 1)},
        {"serious_misconduct_on": ...},
    ),
    "NO_QUALITY_CONCERNS": ({}, {"quality_concerns": True}, {"quality_concerns": ...}),
    "PROFESSIONAL_STANDARDS": ({}, {"professional_standards": False}, {"professional_standards": ...}),
    "CO2_ROADMAP": ({}, {"co2_roadmap": False}, {"co2_roadmap": ...}),
    "HYBRID_CARE_TRANSPARENT": ({}, {"hybrid_care_published": False}, {"hybrid_care_published": ...}),
}
GGZ_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "QUALITY_STATUTE_II_APPROVED": ({}, {"quality_statute_ii_approved": False}, {"quality_statute_ii_approved": ...}),
    "VECOZO_CERTIFICATE": ({}, {"vecozo_certificate": False}, {"vecozo_certificate": ...}),
}
EXPECTATIONS = {"CO2_ROADMAP", "HYBRID_CARE_TRANSPARENT"}


def facts_with(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    facts = dict(base)
    for key, value in change.items():
        if value is ...:
            facts.pop(key, None)
        else:
            facts[key] = value
    return facts


def test_the_cases_cover_every_criterion_of_the_policies() -> None:
    assert [c.code for c in policies()["GLI-2023"].criteria] == list(GLI_CASES)
    assert [c.code for c in policies()["GGZ-2021"].criteria] == list(GGZ_CASES)


CASES = [("GLI-2023", code, i, case) for code, cases in GLI_CASES.items() for i, case in enumerate(cases)] + [
    ("GGZ-2021", code, i, case) for code, cases in GGZ_CASES.items() for i, case in enumerate(cases)
]


@pytest.mark.parametrize(
    ("policy_id", "code", "index", "change"),
    CASES,
    ids=[f"{p}-{code}-{('pass', 'fail', 'unknown')[i]}" for p, code, i, _ in CASES],
)
def test_criterion(policy_id: str, code: str, index: int, change: dict[str, Any]) -> None:
    policy = policies()[policy_id]
    base = GLI_ALL_PASS if policy.sector == "GLI" else GGZ_ALL_PASS
    kind = "care_group" if policy.sector == "GLI" else "individual"
    outcome = evaluate(policy, ProviderProfile(kind, [policy.sector], facts_with(base, change)), ON)
    verdicts = {c.code: c for c in outcome.criteria}
    expected = ("pass", "fail", "unknown")[index]
    assert verdicts[code].verdict == expected
    assert verdicts[code].text_nl and verdicts[code].text_en
    others = [c.verdict for c in outcome.criteria if c.code != code]
    assert set(others) == {"pass"}, "the change must touch this criterion only"
    if code in EXPECTATIONS:
        assert not verdicts[code].blocking
        assert outcome.eligible  # an expectation never blocks ...
        assert (code in outcome.warnings) == (expected != "pass")  # ... it warns
    else:
        assert verdicts[code].blocking
        assert outcome.eligible == (expected == "pass")
        assert (outcome.route is not None) == outcome.eligible


def test_an_empty_file_is_unknown_everywhere_never_false() -> None:
    outcome = evaluate(policies()["GLI-2023"], ProviderProfile("care_group", ["GLI"], {}), ON)
    assert {c.verdict for c in outcome.criteria} == {"unknown"}
    assert not outcome.eligible and outcome.route is None


def test_null_yes_no_facts_are_unknown_but_a_null_date_means_none_on_file() -> None:
    facts = {"kvk_registered": None, "serious_misconduct_on": None}
    outcome = evaluate(policies()["GLI-2023"], ProviderProfile("care_group", ["GLI"], facts), ON)
    verdicts = {c.code: c.verdict for c in outcome.criteria}
    assert verdicts["KVK_REGISTERED"] == "unknown"
    assert verdicts["NO_SERIOUS_MISCONDUCT_5Y"] == "pass"
