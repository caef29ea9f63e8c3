"""The policy impact simulation as a pure function: both sides are eligibility's own evaluate(), and each
provider's move is named (issue 15)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.eligibility.test_criteria import GLI_ALL_PASS
from zorg_common.policy import Policy, policies
from zorg_eligibility.domain.evaluation import ProviderProfile, evaluate
from zorg_eligibility.domain.simulation import Candidate, Side, change_of, simulate
from zorg_eligibility.entrypoints.simulations import simulation_csv

ON = dt.date(2024, 1, 1)


def candidate(agb: str, kind: str = "care_group", **facts: Any) -> Candidate:
    return Candidate(agb, f"Aanbieder {agb}", kind, ProviderProfile(kind, ["GLI"], {**GLI_ALL_PASS, **facts}))


def draft() -> Policy:
    """GLI-2023 with the CO2 roadmap required, as a draft would have it."""
    current = policies()["GLI-2023"]
    criteria = [c.model_copy(update={"blocking": True}) if c.code == "CO2_ROADMAP" else c for c in current.criteria]
    return current.model_copy(update={"criteria": criteria})


def test_each_side_is_evaluate_itself() -> None:
    current, proposed = policies()["GLI-2023"], draft()
    provider = candidate("1", co2_roadmap=False)
    [compared] = simulate(current, proposed, [provider], ON).providers
    assert compared.current == Side.of(evaluate(current, provider.profile, ON))
    assert compared.draft == Side.of(evaluate(proposed, provider.profile, ON))
    assert (compared.change, compared.newly_failing) == ("newly_ineligible", ("CO2_ROADMAP",))


def test_the_moves_and_the_totals() -> None:
    result = simulate(
        policies()["GLI-2023"],
        draft(),
        [
            candidate("1"),  # passes both
            candidate("2", co2_roadmap=False),  # newly fails
            candidate("3", co2_roadmap=None),  # unknown is not a pass: newly fails too
            candidate("4", kvk_registered=False, co2_roadmap=False),  # failed already: no move
        ],
        ON,
    )
    assert [p.change for p in result.providers] == ["unchanged", "newly_ineligible", "newly_ineligible", "unchanged"]
    assert result.providers[3].newly_failing == ("CO2_ROADMAP",)  # fails on one more, but was not eligible
    co2 = next(c for c in result.criteria if c.code == "CO2_ROADMAP")
    assert (co2.blocking_current, co2.blocking_draft) == (False, True)
    assert co2.current == co2.draft == {"pass": 1, "fail": 2, "unknown": 1}
    follow = next(r for r in result.routes if r.route == "follow")
    assert (follow.current, follow.draft) == (3, 1)


def test_a_change_of_route_counts_only_for_a_provider_eligible_under_both() -> None:
    follow, offer, out = Side(True, "follow", ()), Side(True, "offer", ()), Side(False, None, ("KVK_REGISTERED",))
    assert change_of(follow, offer) == "route_changed"
    assert change_of(out, out) == "unchanged"
    assert change_of(out, offer) == "newly_eligible"
    assert change_of(follow, follow) == "unchanged"


def test_the_csv_never_hands_a_spreadsheet_a_formula() -> None:
    record = {
        "providers": [
            {
                "agb": "40000001",
                "name": '=HYPERLINK("http://evil.example","klik")',
                "kind": "care_group",
                "change": "newly_ineligible",
                "current": {"eligible": True, "route": "follow", "failing": []},
                "draft": {"eligible": False, "route": None, "failing": ["CO2_ROADMAP", "WTZA_ADMITTED"]},
                "newly_failing": ["CO2_ROADMAP", "WTZA_ADMITTED"],
                "last_year": {"claimed_cents": 1200, "allowed_cents": 900},
            }
        ]
    }
    text = simulation_csv(record).decode("utf-8")
    assert text.startswith("\ufeffagb;name;")
    row = text.splitlines()[1]
    assert row.startswith("40000001;\"'=HYPERLINK(") and ";ja;follow;;nee;;CO2_ROADMAP|WTZA_ADMITTED;" in row
    assert row.endswith(";1200;900")
