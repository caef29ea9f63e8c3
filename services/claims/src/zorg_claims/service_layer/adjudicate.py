"""Adjudicate claims in bulk: gather what the rules need in a few queries, decide in order, record and emit.

Used by the worker (ClaimSubmitted), by the holds (ContractSigned, ProcurementClosed re-adjudicate
the claims they held) and never over a decision taken by a person.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from zorg_common import clock
from zorg_common.events import ClaimAdjudicated, ReasonCode
from zorg_common.policy import policy_for
from zorg_common.uow import UnitOfWork

from ..adapters.orm import authorisations, claims, contracts, decisions, eligibility, known_providers, procurements
from ..domain.adjudication import Authorisation, Context, ContractTerms, Decision, adjudicate
from ..domain.calendar import add_months
from ..domain.claim import ClaimLine

log = logging.getLogger(__name__)

PAYING = ("approved", "partially_approved")
COUNTS = ("approved", "partially_approved", "pending")  # what makes a later line a duplicate


@dataclass
class Review:
    factor: float
    min_lines: int


def _ids(name: str = "ids") -> Any:
    return bindparam(name, expanding=True)


_CLAIMS_FOR_UPDATE = select(claims).where(claims.c.id.in_(_ids())).order_by(claims.c.received_at, claims.c.id)
_KNOWN = select(known_providers.c.agb).where(known_providers.c.agb.in_(_ids("agbs")))
_ELIGIBILITY = select(eligibility.c.agb, eligibility.c.policy_id, eligibility.c.eligible).where(
    eligibility.c.agb.in_(_ids("agbs"))
)
_CONTRACTS = select(contracts).where(contracts.c.agb.in_(_ids("agbs")))
_IN_PROGRESS = select(procurements.c.agb, procurements.c.sector, procurements.c.contract_year).where(
    procurements.c.agb.in_(_ids("agbs")), procurements.c.status == "in_progress"
)
_AUTHORISATIONS = select(authorisations).where(
    authorisations.c.agb.in_(_ids("agbs")), authorisations.c.bsn.in_(_ids("bsns"))
)
_EARLIER = select(
    claims.c.id,
    claims.c.agb,
    claims.c.bsn,
    claims.c.prestation_code,
    claims.c.service_date,
    claims.c.quantity,
    claims.c.programme,
    claims.c.programme_start,
    claims.c.sector,
).where(
    claims.c.agb.in_(_ids("agbs")),
    claims.c.bsn.in_(_ids("bsns")),
    claims.c.status.in_(COUNTS),
    claims.c.id.not_in(_ids()),
)
_VOLUME = (
    select(claims.c.agb, claims.c.received_on, func.count())
    .where(claims.c.agb.in_(_ids("agbs")), claims.c.received_on >= bindparam("since"))
    .group_by(claims.c.agb, claims.c.received_on)
)
_DECIDE = (
    update(claims)
    .where(claims.c.id == bindparam("claim_id"))
    .values(
        status=bindparam("status"),
        reasons=bindparam("reasons"),
        allowed_cents=bindparam("allowed_cents"),
        adjudicated_at=bindparam("adjudicated_at"),
        decision_no=bindparam("decision_no"),
        rule_version=bindparam("rule_version"),
        decided_by=bindparam("decided_by"),
        hold=bindparam("hold"),
    )
)
_RECORD = insert(decisions)


@dataclass
class _Known:
    providers: set[str] = field(default_factory=set)
    eligible: dict[tuple[str, str], bool] = field(default_factory=dict)
    contracts: dict[tuple[str, str], list[Any]] = field(default_factory=lambda: defaultdict(list))
    in_progress: set[tuple[str, str, int]] = field(default_factory=set)
    authorisations: dict[tuple[str, str], list[Authorisation]] = field(default_factory=lambda: defaultdict(list))
    same_service: dict[tuple[str, str, str, dt.date], str] = field(default_factory=dict)
    programme_counts: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    volume: dict[str, tuple[int, float]] = field(default_factory=dict)  # agb -> (this month, monthly average)


def _line(row: Any) -> ClaimLine:
    return ClaimLine.model_construct(
        provider_reference=row.provider_reference,
        agb=row.agb,
        bsn=row.bsn,
        sector=row.sector,
        prestation_code=row.prestation_code,
        service_date=row.service_date,
        opening_date=row.opening_date,
        quantity=row.quantity,
        claimed_cents=row.claimed_cents,
        programme=row.programme,
        programme_start=row.programme_start,
        referral=row.referral,
        authorisation_number=row.authorisation_number,
        diagnosis_code=row.diagnosis_code,
        privacy_statement=row.privacy_statement,
    )


def _programme_key(row: Any) -> tuple[Any, ...]:
    return (row.agb, row.bsn, row.programme, row.programme_start, row.prestation_code)


async def _gather(uow: UnitOfWork, rows: Sequence[Any], today: dt.date) -> _Known:
    session = uow.session
    agbs, bsns, ids = list({r.agb for r in rows}), list({r.bsn for r in rows}), [r.id for r in rows]
    known = _Known()
    known.providers = set((await session.execute(_KNOWN, {"agbs": agbs})).scalars())
    known.eligible = {(a, p): e for a, p, e in await session.execute(_ELIGIBILITY, {"agbs": agbs})}
    for row in await session.execute(_CONTRACTS, {"agbs": agbs}):
        known.contracts[(row.agb, row.sector)].append(row)
    known.in_progress = {(a, s, y) for a, s, y in await session.execute(_IN_PROGRESS, {"agbs": agbs})}
    for row in await session.execute(_AUTHORISATIONS, {"agbs": agbs, "bsns": bsns}):
        known.authorisations[(row.agb, row.bsn)].append(
            Authorisation(row.number, row.care_type, row.granted_on, row.valid_until)
        )
    for row in await session.execute(_EARLIER, {"agbs": agbs, "bsns": bsns, "ids": ids}):
        known.same_service.setdefault((row.agb, row.bsn, row.prestation_code, row.service_date), row.id)
        if row.sector == "GLI":
            known.programme_counts[_programme_key(row)] += row.quantity
    month_start = today.replace(day=1)
    since = add_months(month_start, -3)
    per_agb: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
    for agb, day, count in await session.execute(_VOLUME, {"agbs": agbs, "since": since}):
        per_agb[agb].append((day, count))
    for agb in agbs:
        days = per_agb.get(agb, [])
        this_month = sum(c for d, c in days if d >= month_start)
        known.volume[agb] = (this_month, sum(c for d, c in days if d < month_start) / 3)
    return known


def _contract_for(known: _Known, line: ClaimLine) -> ContractTerms | None:
    for row in known.contracts.get((line.agb, line.sector), []):
        if not row.start_date <= line.service_date <= row.end_date:
            continue
        if row.status == "terminated" and (row.terminated_from is None or line.service_date >= row.terminated_from):
            continue
        return ContractTerms(row.contract_id, row.version, row.start_date, row.end_date, dict(row.tariffs))
    return None


def _context(known: _Known, row: Any, line: ClaimLine) -> Context:
    policy = policy_for(line.sector, line.service_date.year)
    assert policy is not None
    return Context(
        received_on=row.received_on,
        provider_known=line.agb in known.providers,
        duplicate_of=known.same_service.get((line.agb, line.bsn, line.prestation_code, line.service_date)),
        procurement_in_progress=(line.agb, line.sector, line.service_date.year) in known.in_progress,
        contract=_contract_for(known, line),
        eligible=known.eligible.get((line.agb, policy.id)),
        authorisations=known.authorisations.get((line.agb, line.bsn), ()),
        earlier_count=known.programme_counts[_programme_key(row)] if line.sector == "GLI" else 0,
    )


def _flagged(known: _Known, agb: str, review: Review) -> bool:
    this_month, usual = known.volume.get(agb, (0, 0.0))
    return this_month >= review.min_lines and usual > 0 and this_month > review.factor * usual


async def adjudicate_claims(
    uow: UnitOfWork, claim_ids: Sequence[str], review: Review, *, holds: Sequence[str | None] = (None,)
) -> list[Decision]:
    """Decide the claims among ``claim_ids`` that are still open to the rules, in order of receipt.

    Open: not yet decided (``received``), or pending on one of ``holds`` (a rerun after a contract
    or a closed procurement). A decision by a person is never touched. Locks the rows, so two
    workers never decide one claim at the same time.
    """
    if not claim_ids:
        return []
    statement = _CLAIMS_FOR_UPDATE
    if uow.session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    rows = [
        r
        for r in await uow.session.execute(statement, {"ids": list(claim_ids)})
        if (r.status == "received" or (r.status == "pending" and r.hold in holds and r.hold is not None))
        and (r.decided_by in (None, "rules"))
    ]
    if not rows:
        return []
    today = clock.today()
    known = await _gather(uow, rows, today)
    now = clock.utcnow()
    made: list[Decision] = []
    updates: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for row in rows:
        line = _line(row)
        policy = policy_for(line.sector, line.service_date.year)
        assert policy is not None
        decision = adjudicate(line, policy, _context(known, row, line))
        hold = "contract" if decision.reasons == ("AWAITING_CONTRACT",) else None
        if decision.status in PAYING and _flagged(known, line.agb, review):
            decision = Decision("pending", ("REVIEW_VOLUME",), line.claimed_cents, 0)
            hold = "review"
        if decision.status in COUNTS:  # later lines of this batch see this one
            known.same_service.setdefault((line.agb, line.bsn, line.prestation_code, line.service_date), row.id)
            if line.sector == "GLI":
                known.programme_counts[_programme_key(row)] += line.quantity
        number = row.decision_no + 1
        updates.append(
            {
                "claim_id": row.id,
                "status": decision.status,
                "reasons": list(decision.reasons),
                "allowed_cents": decision.allowed_cents,
                "adjudicated_at": now,
                "decision_no": number,
                "rule_version": decision.rule_version,
                "decided_by": "rules",
                "hold": hold,
            }
        )
        records.append(
            {
                "claim_id": row.id,
                "decision_no": number,
                "status": decision.status,
                "reasons": list(decision.reasons),
                "allowed_cents": decision.allowed_cents,
                "rule_version": decision.rule_version,
                "decided_at": now,
                "decided_by": "rules",
            }
        )
        uow.emit(
            ClaimAdjudicated(
                agb=line.agb,
                claim_id=row.id,
                status=decision.status,
                reasons=[ReasonCode(**r) for r in decision.reason_codes()],
                claimed_cents=decision.claimed_cents,
                allowed_cents=decision.allowed_cents,
                rule_version=decision.rule_version,
                decision_no=number,
                adjudicated_at=now,
            )
        )
        made.append(decision)
    await uow.session.execute(_DECIDE, updates)
    await uow.session.execute(_RECORD, records)
    log.debug("adjudicated %d claim(s)", len(made))
    return made


_HELD = select(claims.c.id, claims.c.service_date).where(
    claims.c.agb == bindparam("agb"),
    claims.c.sector == bindparam("sector"),
    claims.c.status == "pending",
    claims.c.hold == "contract",
)


async def release_holds(uow: UnitOfWork, agb: str, sector: str, years: Sequence[int], review: Review) -> int:
    """Re-adjudicate the claims held for a procurement of these contract years (contract signed or closed)."""
    wanted = set(years)
    held = [
        row.id
        for row in await uow.session.execute(_HELD, {"agb": agb, "sector": sector})
        if row.service_date.year in wanted
    ]
    decided = await adjudicate_claims(uow, held, review, holds=("contract",))
    if decided:
        log.info("released %d held claim(s) of %s %s %s", len(decided), agb, sector, sorted(wanted))
    return len(decided)
