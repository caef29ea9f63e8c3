"""Claim totals per contract year, provider and prestation (issue 15): what counts, and a new decision moving
a claim's contribution; the summaries the API serves from them."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.unit.claims.builders import contract_signed, procurement_started
from tests.unit.claims.test_use_cases import COACH, GROUP, RULES, TODAY, claim, gli, review_world, take, world
from zorg_claims.domain.claim import DatedPrestation
from zorg_claims.domain.volume import NOTHING, Contribution, VolumeKey, contribution, tally, volume_key
from zorg_claims.service_layer import read_models
from zorg_claims.service_layer.review import review_claim
from zorg_claims.service_layer.summaries import held_claims, provider_volumes
from zorg_common.events import ContractSigned, ProcurementStarted

D = dt.date


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", TODAY.isoformat())


@pytest.mark.parametrize(
    ("status", "reasons", "counts"),
    [
        ("approved", (), Contribution(1, 2, 500, 1, 2, 500)),
        ("partially_approved", ("TARIFF_CAPPED",), Contribution(1, 2, 500, 1, 2, 400)),
        ("rejected", ("PRESTATION_NOT_CONTRACTED",), Contribution(1, 2, 500)),  # delivered, not paid
        ("rejected", ("SUBMISSION_DEADLINE_PASSED",), Contribution(1, 2, 500)),
        ("rejected", ("DUPLICATE",), NOTHING),  # the same care claimed twice
        ("rejected", ("REVIEW_REJECTED",), NOTHING),  # a person found it not delivered
        ("pending", ("AWAITING_CONTRACT",), NOTHING),  # not decided yet
        ("received", (), NOTHING),
    ],
)
def test_what_a_decided_claim_counts(status: str, reasons: tuple[str, ...], counts: Contribution) -> None:
    allowed = {"approved": 500, "partially_approved": 400}.get(status, 0)
    assert contribution(status, reasons, 2, 500, allowed) == counts


def test_a_new_decision_moves_the_contribution_and_nothing_is_left_for_a_change_of_nothing() -> None:
    key, other = VolumeKey(2023, COACH, "GLI-INTAKE", "GLI"), VolumeKey(2023, GROUP, "GLI-INTAKE", "GLI")
    paid, refused = Contribution(1, 1, 900, 1, 1, 800), Contribution(1, 1, 900)
    moves = [(key, NOTHING, paid), (key, paid, refused), (other, refused, refused), (key, NOTHING, paid)]
    assert tally(moves) == {key: Contribution(2, 2, 1800, 1, 1, 800)}


async def test_adjudication_adds_each_batch_to_its_contract_year_and_leaves_duplicates_out() -> None:
    unit = await world((COACH, "individual"))
    await take(
        unit,
        gli("T-1"),  # restitution: paid 19380
        gli("T-2", bsn="123456782", claimed_cents=25000),  # capped: paid 19380 of 25000
        gli("T-3"),  # a duplicate of T-1: no care of its own
        gli("T-4", bsn="100000009", prestation_code="GLI-MAINTENANCE-Q", claimed_cents=9829),  # wrong phase
    )
    assert unit.repository.totals == {
        VolumeKey(2023, COACH, "GLI-TREATMENT-Q", "GLI"): Contribution(2, 2, 19380 + 25000, 2, 2, 2 * 19380),
        VolumeKey(2023, COACH, "GLI-MAINTENANCE-Q", "GLI"): Contribution(1, 1, 9829),
    }
    total, [volumes] = await provider_volumes(unit, 2023, [COACH], None, 0, 50)
    assert total == 1 and (volumes.lines, volumes.paid_lines, volumes.allowed_cents) == (3, 2, 2 * 19380)
    assert [p.prestation_code for p in volumes.prestations] == ["GLI-MAINTENANCE-Q", "GLI-TREATMENT-Q"]
    assert await provider_volumes(unit, 2022, None, None, 0, 50) == (0, [])


async def test_a_claim_held_for_a_contract_counts_once_when_the_contract_releases_it() -> None:
    unit = await world((GROUP, "care_group"))
    handle = read_models.handlers(lambda: RULES)
    await handle[ProcurementStarted.TYPE](unit, procurement_started("p-1", GROUP))
    [held] = await take(unit, gli("H-1", agb=GROUP))
    assert claim(unit, held)["status"] == "pending" and unit.repository.totals == {}
    held_now = await held_claims(unit, "GLI", 2023)
    assert [(h.hold, h.reason, h.claims, h.providers) for h in held_now.holds] == [
        ("contract", "AWAITING_CONTRACT", 1, 1),
        ("review", "REVIEW_VOLUME", 0, 0),
    ]
    await handle[ContractSigned.TYPE](unit, contract_signed("k-1", "p-1", GROUP, GLI_TREATMENT_Q=18000))
    assert unit.repository.totals == {
        VolumeKey(2023, GROUP, "GLI-TREATMENT-Q", "GLI"): Contribution(1, 1, 19380, 1, 1, 18000)
    }
    assert (await held_claims(unit, "GLI", 2023)).claims == 0


async def test_a_persons_review_moves_the_held_claim_into_the_totals_or_out_of_them() -> None:
    approved_unit, approved = await review_world()
    assert approved_unit.repository.totals == {}  # held for review: pending, counted nowhere
    assert (await held_claims(approved_unit, "GLI", 2023)).holds[1].claims == 1
    await review_claim(approved_unit, approved, "approve", None, "reviewer-1")
    assert approved_unit.repository.totals == {
        VolumeKey(2023, COACH, "GLI-TREATMENT-Q", "GLI"): Contribution(1, 1, 25000, 1, 1, 19380)
    }
    rejected_unit, rejected = await review_world()
    await review_claim(rejected_unit, rejected, "reject", None, "reviewer-1")
    assert rejected_unit.repository.totals == {}  # not shown to have been delivered


def test_a_dbc_counts_in_its_opening_year_any_other_prestation_in_its_service_year() -> None:
    dbc = DatedPrestation("GGZ", "DBC-BASIS-KORT", D(2022, 2, 1), D(2021, 11, 15))
    zpm = DatedPrestation("GGZ", "CO0042", D(2022, 2, 1), D(2021, 11, 15))
    assert volume_key("40000031", dbc) == VolumeKey(2021, "40000031", "DBC-BASIS-KORT", "GGZ")
    assert volume_key("40000031", zpm).year == 2022
