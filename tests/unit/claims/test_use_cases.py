"""The claims use cases (intake, adjudicate, release holds, review, reading, authorisations) with the fake."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.unit.claims.builders import contract_signed, eligible, procurement_closed, procurement_started
from tests.unit.claims.fakes import FakeUnit
from zorg_claims.adapters.repository import ClaimFilter
from zorg_claims.domain.claim import ClaimLine
from zorg_claims.service_layer import read_models
from zorg_claims.service_layer.adjudicate import Review, adjudicate_claims, release_holds
from zorg_claims.service_layer.authorisations import record_authorisation
from zorg_claims.service_layer.intake import door_check, submit
from zorg_claims.service_layer.reading import list_claims, read_access_log, read_claim, read_decisions
from zorg_claims.service_layer.review import review_claim
from zorg_common.auth import Forbidden, Principal
from zorg_common.events import (
    ClaimAdjudicated,
    ClaimSubmitted,
    ContractSigned,
    EligibilityDetermined,
    ProcurementClosed,
    ProcurementStarted,
    ProviderRegistered,
    ProviderUpdated,
)
from zorg_common.problems import BadInput, Conflict, NotFound

D = dt.date
TODAY = D(2023, 6, 1)
COACH, GROUP, OTHER_COACH = "40000003", "40000001", "40000004"
RULES = Review(factor=3.0, min_lines=50)
STAFF = Principal("staff-1", frozenset({"claims:read", "claims:write"}))


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZORG_TODAY", TODAY.isoformat())


def gli(reference: str, agb: str = COACH, **changes: Any) -> ClaimLine:
    raw = {
        "provider_reference": reference,
        "agb": agb,
        "bsn": "111222333",
        "sector": "GLI",
        "prestation_code": "GLI-TREATMENT-Q",
        "service_date": "2023-03-01",
        "quantity": 1,
        "claimed_cents": 19380,
        "programme": "Cool",
        "programme_start": "2023-01-15",
        "diagnosis_code": "E66",
        **changes,
    }
    checked = door_check(raw, TODAY)
    assert isinstance(checked, ClaimLine), checked
    return checked


async def world(*providers: tuple[str, str]) -> FakeUnit:
    """A fake unit whose read models know these (agb, kind) providers, eligible under GLI-2023."""
    unit = FakeUnit()
    handle = read_models.handlers(lambda: RULES)
    for agb, kind in providers:
        await handle[ProviderRegistered.TYPE](
            unit,
            ProviderRegistered(agb=agb, name=f"Aanbieder {agb}", kind=kind, sectors=["GLI"]),  # type: ignore[arg-type]
        )
        await handle[EligibilityDetermined.TYPE](unit, eligible(agb))
    return unit


async def take(unit: FakeUnit, *lines: ClaimLine) -> list[str]:
    submitted = await submit(unit, list(lines), TODAY)
    await adjudicate_claims(unit, submitted.ids, RULES)
    return submitted.ids


def claim(unit: FakeUnit, claim_id: str) -> dict[str, Any]:
    return unit.repository.claims[claim_id]


# --- intake ----------------------------------------------------------------------------------


async def test_intake_stores_each_new_line_and_its_event_carries_no_personal_data() -> None:
    unit = FakeUnit()
    first = await submit(unit, [gli("A-1"), gli("A-2", bsn="123456782")], TODAY)
    again = await submit(unit, [gli("A-1", claimed_cents=1)], TODAY)  # the same reference: the first claim
    assert first.created == 2 and again.created == 0 and again.ids == first.ids[:1]
    submitted = [e for e in unit.events if isinstance(e, ClaimSubmitted)]
    assert len(submitted) == 2
    for event in submitted:
        data = event.model_dump(mode="json")
        assert set(data) == {"agb", "claim_id", "sector", "received_on"}
        assert "111222333" not in str(data) and "E66" not in str(data)
    assert ClaimSubmitted.DATAVERSION == "2"
    assert claim(unit, first.ids[0])["bsn"] == "111222333"  # the line itself stays in the claims database
    assert unit.repository.volume == {(COACH, TODAY.replace(day=1)): 2}


def test_door_refusals_carry_their_vektis_code_as_a_field() -> None:
    refused = door_check(
        {
            **gli("X").model_dump(mode="json"),
            "bsn": "123456789",
            "prestation_code": "NOPE",
            "service_date": "2023-06-02",
        },
        TODAY,
    )
    assert isinstance(refused, list)
    assert {e.field: e.vektis_code for e in refused} == {"bsn": "0435"}  # the line itself must be sound first
    sound_but_late = door_check({**gli("X").model_dump(mode="json"), "service_date": "2023-06-02"}, TODAY)
    unknown = door_check({**gli("X").model_dump(mode="json"), "prestation_code": "NOPE"}, TODAY)
    assert isinstance(sound_but_late, list) and isinstance(unknown, list)
    assert [(e.field, e.vektis_code) for e in sound_but_late] == [("service_date", "8176")]
    assert [(e.field, e.vektis_code) for e in unknown] == [("prestation_code", "0582")]
    no_programme = door_check({**gli("X").model_dump(mode="json"), "programme": None}, TODAY)
    assert isinstance(no_programme, list) and [e.vektis_code for e in no_programme] == [None]


# --- adjudication ------------------------------------------------------------------------------


async def test_adjudication_records_each_decision_with_its_inputs_and_event() -> None:
    unit = await world((COACH, "individual"))
    [claim_id] = await take(unit, gli("A-1", claimed_cents=20000))
    stored = claim(unit, claim_id)
    assert (stored["status"], stored["reasons"], stored["allowed_cents"]) == (
        "partially_approved",
        ["TARIFF_CAPPED"],
        19380,
    )
    [history] = unit.repository.decisions
    assert history["inputs"]["evaluation_id"] == f"e-{COACH}-True" and history["inputs"]["policy_id"] == "GLI-2023"
    [event] = [e for e in unit.events if isinstance(e, ClaimAdjudicated)]
    assert (event.claim_id, event.allowed_cents, event.decision_no) == (claim_id, 19380, 1)


async def test_a_claim_is_decided_once_by_the_rules() -> None:
    unit = await world((COACH, "individual"))
    [claim_id] = await take(unit, gli("A-1"))
    assert await adjudicate_claims(unit, [claim_id], RULES) == []  # a redelivered ClaimSubmitted
    assert len(unit.repository.decisions) == 1


async def test_a_care_group_without_contract_is_paid_the_non_contracted_rate() -> None:
    unit = await world((GROUP, "care_group"))
    [claim_id] = await take(unit, gli("G-1", agb=GROUP))
    stored = claim(unit, claim_id)
    assert (stored["reasons"], stored["allowed_cents"]) == (["NON_CONTRACTED_RATE"], 14535)


async def test_limits_count_per_person_and_run_whichever_provider_claims() -> None:
    unit = await world((COACH, "individual"), (OTHER_COACH, "individual"))
    intake: dict[str, Any] = {"prestation_code": "GLI-INTAKE", "claimed_cents": 8193}
    first = await take(unit, gli("I-1", **intake, service_date="2023-02-01"))
    # the same person, another provider, the programme start moved by a day, in a later batch
    moved = await take(
        unit, gli("I-2", agb=OTHER_COACH, **intake, programme_start="2023-01-16", service_date="2023-03-01")
    )
    assert claim(unit, first[0])["status"] == "approved"
    assert claim(unit, moved[0])["reasons"] == ["PRESTATION_LIMIT_EXCEEDED"]
    assert unit.repository.decisions[-1]["inputs"]["programme_run"]["start"] == "2023-01-15"


async def test_lines_of_one_batch_see_each_other_in_the_order_sent() -> None:
    unit = await world((COACH, "individual"))
    lines = [
        gli(f"O-{n}", prestation_code="GLI-INTAKE", claimed_cents=8193, service_date=f"2023-02-0{n + 1}")
        for n in range(3)
    ]
    ids = await take(unit, *lines)
    assert [claim(unit, i)["status"] for i in ids] == ["approved", "rejected", "rejected"]


# --- holds: procurements and contracts ---------------------------------------------------------


def started(procurement_id: str) -> ProcurementStarted:
    return procurement_started(procurement_id, GROUP)


def signed() -> ContractSigned:
    return contract_signed("k-1", "p-1", GROUP, GLI_TREATMENT_Q=18000)


def closed(procurement_id: str) -> ProcurementClosed:
    return procurement_closed(procurement_id, GROUP)


async def test_a_held_claim_is_released_by_the_contract_and_paid_its_tariff() -> None:
    unit = await world((GROUP, "care_group"))
    handle = read_models.handlers(lambda: RULES)
    await handle[ProcurementStarted.TYPE](unit, started("p-1"))
    [held] = await take(unit, gli("H-1", agb=GROUP))
    assert (claim(unit, held)["status"], claim(unit, held)["hold"]) == ("pending", "contract")
    await handle[ContractSigned.TYPE](unit, signed())
    released = claim(unit, held)
    assert (released["status"], released["allowed_cents"], released["hold"], released["decision_no"]) == (
        "partially_approved",
        18000,
        None,
        2,
    )
    assert unit.repository.decisions[-1]["inputs"]["contract_id"] == "k-1"


async def test_closing_one_of_two_open_procurements_keeps_the_hold_and_records_nothing_new() -> None:
    unit = await world((GROUP, "care_group"))
    handle = read_models.handlers(lambda: RULES)
    await handle[ProcurementStarted.TYPE](unit, started("p-1"))
    await handle[ProcurementStarted.TYPE](unit, started("p-2"))
    [held] = await take(unit, gli("H-1", agb=GROUP))
    await handle[ProcurementClosed.TYPE](unit, closed("p-1"))
    assert claim(unit, held)["hold"] == "contract" and claim(unit, held)["decision_no"] == 1
    await handle[ProcurementClosed.TYPE](unit, closed("p-2"))  # the last one: judged without a contract
    assert claim(unit, held)["reasons"] == ["NON_CONTRACTED_RATE"] and claim(unit, held)["decision_no"] == 2


async def test_a_signed_contract_wins_while_another_procurement_is_open() -> None:
    unit = await world((GROUP, "care_group"))
    handle = read_models.handlers(lambda: RULES)
    await handle[ProcurementStarted.TYPE](unit, started("p-1"))
    await handle[ContractSigned.TYPE](unit, signed())
    await handle[ProcurementStarted.TYPE](unit, started("p-2"))  # e.g. a change request opened later
    [claim_id] = await take(unit, gli("S-1", agb=GROUP))
    assert (claim(unit, claim_id)["status"], claim(unit, claim_id)["allowed_cents"]) == ("partially_approved", 18000)


async def test_release_holds_takes_only_the_contract_years_asked_for() -> None:
    unit = await world((GROUP, "care_group"))
    handle = read_models.handlers(lambda: RULES)
    await handle[ProcurementStarted.TYPE](unit, started("p-1"))
    [held] = await take(unit, gli("H-1", agb=GROUP))
    assert await release_holds(unit, GROUP, "GLI", [2024], RULES) == 0
    assert claim(unit, held)["decision_no"] == 1


# --- a person's review -------------------------------------------------------------------------


async def review_world() -> tuple[FakeUnit, str]:
    """A capped claim of a provider far above its usual volume: held for review."""
    unit = await world((COACH, "individual"))
    for month in (D(2023, 3, 1), D(2023, 4, 1), D(2023, 5, 1)):
        unit.repository.volume[(COACH, month)] = 1
    unit.repository.volume[(COACH, TODAY.replace(day=1))] = RULES.min_lines  # this month: far above usual
    [claim_id] = await take(unit, gli("V-1", claimed_cents=25000))
    return unit, claim_id


async def test_a_hold_for_review_keeps_the_rules_decision() -> None:
    unit, claim_id = await review_world()
    held = claim(unit, claim_id)
    assert (held["status"], held["hold"], held["reasons"], held["allowed_cents"]) == (
        "pending",
        "review",
        ["REVIEW_VOLUME", "TARIFF_CAPPED"],
        19380,
    )


async def test_approving_a_capped_claim_pays_the_rules_amount_never_the_claimed_one() -> None:
    unit, claim_id = await review_world()
    decided = await review_claim(unit, claim_id, "approve", "bekend patroon", "reviewer-1")
    assert (decided.status, decided.allowed_cents, decided.reasons, decided.decided_by) == (
        "partially_approved",
        19380,
        ("TARIFF_CAPPED", "REVIEW_APPROVED"),
        "reviewer-1",
    )
    last = unit.repository.decisions[-1]
    assert (last["note"], last["inputs"]) == ("bekend patroon", {"reviewed_decision_no": 1})
    event = unit.events[-1]
    assert isinstance(event, ClaimAdjudicated) and event.allowed_cents == 19380 and event.decision_no == 2


async def test_rejecting_pays_nothing_and_a_second_decision_is_refused() -> None:
    unit, claim_id = await review_world()
    decided = await review_claim(unit, claim_id, "reject", None, "reviewer-1")
    assert (decided.status, decided.allowed_cents, decided.reasons) == ("rejected", 0, ("REVIEW_REJECTED",))
    with pytest.raises(Conflict):
        await review_claim(unit, claim_id, "approve", None, "reviewer-2")
    assert await adjudicate_claims(unit, [claim_id], RULES, holds=("review", "contract")) == []  # rules never redo it
    with pytest.raises(NotFound):
        await review_claim(unit, "no-such-claim", "approve", None, "reviewer-1")


# --- reading: the access log ---------------------------------------------------------------------


async def test_every_read_of_a_claim_by_a_person_is_logged_with_the_bsn() -> None:
    unit = await world((COACH, "individual"))
    [one, two] = await take(unit, gli("L-1"), gli("L-2", bsn="123456782"))
    await read_claim(unit, one, STAFF)
    await read_decisions(unit, one, STAFF)
    total, page = await list_claims(unit, STAFF, ClaimFilter(agb=COACH), 0, 50)
    assert total == 2 and len(page) == 2
    log = unit.repository.access
    assert [(e.via, e.claim_id, e.bsn, e.actor, e.actor_kind) for e in log[:2]] == [
        ("claim", one, "111222333", "staff-1", "staff"),
        ("decisions", one, "111222333", "staff-1", "staff"),
    ]
    assert {(e.via, e.claim_id, e.bsn) for e in log[2:]} == {("list", one, "111222333"), ("list", two, "123456782")}
    total, mine = await read_access_log(unit, "123456782", None, None, 0, 50)
    assert total == 1 and mine[0].claim_id == two


async def test_a_portal_reads_only_its_own_claims_and_those_reads_are_logged_too() -> None:
    unit = await world((COACH, "individual"), (OTHER_COACH, "individual"))
    [mine] = await take(unit, gli("P-1"))
    portal = Principal("account-7", frozenset({"portal"}), agb=OTHER_COACH)
    with pytest.raises(NotFound):
        await read_claim(unit, mine, portal)
    with pytest.raises(Forbidden):
        await list_claims(unit, portal, ClaimFilter(agb=COACH), 0, 50)
    assert unit.repository.access == []  # nothing shown, nothing logged
    own = Principal("account-8", frozenset({"portal"}), agb=COACH)
    await read_claim(unit, mine, own)
    assert [(e.actor, e.actor_kind) for e in unit.repository.access] == [("account-8", "portal")]


# --- authorisations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"granted_on": D(2023, 6, 2)}, "granted_on"),  # a decision in the future
        ({"requested_on": D(2023, 5, 2)}, "requested_on"),  # asked for after it was decided
        ({"care_type": "yoga"}, "care_type"),
        ({"valid_until": D(2023, 4, 30)}, "valid_until"),
    ],
)
async def test_an_authorisation_that_cannot_be_is_bad_input(changes: dict[str, Any], field: str) -> None:
    unit = FakeUnit()
    values: dict[str, Any] = {
        "bsn": "111222333",
        "agb": GROUP,
        "care_type": "sggz",
        "requested_on": None,
        "granted_on": D(2023, 5, 1),
        "valid_until": D(2023, 12, 31),
        "status": "granted",
        "actor": "staff-1",
    }
    with pytest.raises(BadInput) as refused:
        await record_authorisation(unit, **{**values, **changes})
    assert [e.field for e in refused.value.errors] == [field]
    number = await record_authorisation(unit, **values)
    [stored] = unit.repository.authorisations
    assert stored.number == number and stored.requested_on == D(2023, 5, 1) and stored.status == "granted"


# --- read models ---------------------------------------------------------------------------------


async def test_the_provider_read_model_keeps_the_kind_and_ignores_older_versions() -> None:
    unit = FakeUnit()
    handle = read_models.handlers(lambda: RULES)
    await handle[ProviderUpdated.TYPE](
        unit, ProviderUpdated(agb=GROUP, name="Nieuw", kind="institution", sectors=["GGZ"], version=3)
    )
    await handle[ProviderUpdated.TYPE](
        unit, ProviderUpdated(agb=GROUP, name="Oud", kind="care_group", sectors=["GGZ"], version=2)
    )
    assert unit.repository.providers[GROUP] == {"name": "Nieuw", "kind": "institution", "version": 3}
