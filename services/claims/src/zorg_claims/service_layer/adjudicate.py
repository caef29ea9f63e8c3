"""Adjudicate claims in bulk: gather what the rules need in a few queries, decide in order, record and emit.

Used by the worker (ClaimSubmitted), by the holds (ContractSigned, ProcurementClosed re-adjudicate
the claims they held) and never over a decision taken by a person.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from zorg_common import clock, db
from zorg_common.events import ClaimAdjudicated, ReasonCode
from zorg_common.policy import Policy, policy_for
from zorg_common.uow import UnitOfWork

from ..adapters.metrics import count_decisions
from ..adapters.orm import (
    authorisations,
    claim_volume,
    claims,
    contracts,
    decisions,
    eligibility,
    known_providers,
    procurements,
)
from ..domain.adjudication import Authorisation, Context, ContractTerms, Decision, adjudicate
from ..domain.calendar import add_months
from ..domain.claim import LineFacts, StoredLine

log = logging.getLogger(__name__)

PAYING = ("approved", "partially_approved")
COUNTS = ("approved", "partially_approved", "pending")  # what makes a later line a duplicate


@dataclass
class Review:
    factor: float
    min_lines: int


class _Statements:
    """The queries of a batch, for one dialect. PostgreSQL gets its lists as arrays (one statement
    text, and one prepared plan, for any batch size) and pairs and bulk writes through ``unnest``;
    SQLite, the embedded default with small volumes, gets plain ``IN`` lists and ``executemany``."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

        def among(column: Any, name: str) -> Any:
            return db.among(column, name, postgres=postgres)

        # What the rules and the bookkeeping read (not the stored reasons, amounts or diagnosis),
        # locked in one order (by id), so two workers on overlapping claims wait, never deadlock.
        claims_for_update = (
            select(
                *(
                    claims.c[name]
                    for name in (
                        "id",
                        "agb",
                        "bsn",
                        "sector",
                        "prestation_code",
                        "service_date",
                        "opening_date",
                        "quantity",
                        "claimed_cents",
                        "programme",
                        "programme_start",
                        "referral",
                        "authorisation_number",
                        "received_on",
                        "received_at",
                        "status",
                        "hold",
                        "decided_by",
                        "decision_no",
                    )
                )
            )
            .where(among(claims.c.id, "ids"))
            .order_by(claims.c.id)
        )
        self.claims = claims_for_update.with_for_update() if postgres else claims_for_update
        self.known = select(known_providers.c.agb).where(among(known_providers.c.agb, "agbs"))
        self.eligibility = select(eligibility.c.agb, eligibility.c.policy_id, eligibility.c.eligible).where(
            among(eligibility.c.agb, "agbs")
        )
        self.contracts = select(contracts).where(among(contracts.c.agb, "agbs"))
        self.in_progress = select(procurements.c.agb, procurements.c.sector, procurements.c.contract_year).where(
            among(procurements.c.agb, "agbs"), procurements.c.status == "in_progress"
        )
        earlier_columns = (
            claims.c.id,
            claims.c.agb,
            claims.c.bsn,
            claims.c.prestation_code,
            claims.c.service_date,
            claims.c.quantity,
            claims.c.programme,
            claims.c.programme_start,
            claims.c.sector,
        )
        if postgres:
            # The (provider, insured person) pairs of the batch, each found through the index; two
            # IN lists would make the index walk every combination of the two.
            pairs = db.unnest("pairs", pair_agbs=String(), pair_bsns=String())
            self.authorisations = select(authorisations).join(
                pairs, (authorisations.c.agb == pairs.c.pair_agbs) & (authorisations.c.bsn == pairs.c.pair_bsns)
            )
            self.earlier = (
                select(*earlier_columns)
                .join(pairs, (claims.c.agb == pairs.c.pair_agbs) & (claims.c.bsn == pairs.c.pair_bsns))
                .where(claims.c.status.in_(COUNTS), ~db.among(claims.c.id, "ids", postgres=True))
            )
        else:
            self.authorisations = select(authorisations).where(
                among(authorisations.c.agb, "agbs"), among(authorisations.c.bsn, "bsns")
            )
            self.earlier = select(*earlier_columns).where(
                among(claims.c.agb, "agbs"),
                among(claims.c.bsn, "bsns"),
                claims.c.status.in_(COUNTS),
                claims.c.id.not_in(bindparam("ids", expanding=True)),
            )
        self.volume = select(claim_volume.c.agb, claim_volume.c.month, claim_volume.c.lines).where(
            among(claim_volume.c.agb, "agbs"), claim_volume.c.month >= bindparam("since")
        )


_STATEMENTS = {dialect: _Statements(dialect == "postgresql") for dialect in ("postgresql", "sqlite")}

# PostgreSQL: a batch's decisions in two statements, whatever its size.
_DECIDE_ALL = text(
    "UPDATE claims SET status = d.status, reasons = CAST(d.reasons AS json), allowed_cents = d.allowed_cents,"
    " adjudicated_at = :now, decision_no = d.decision_no, rule_version = d.rule_version, decided_by = 'rules',"
    " hold = d.hold"
    " FROM unnest(:ids, :statuses, :reasons, :allowed, :numbers, :rule_versions, :holds)"
    " AS d(id, status, reasons, allowed_cents, decision_no, rule_version, hold)"
    " WHERE claims.id = d.id"
).bindparams(
    *(bindparam(name, type_=ARRAY(Text)) for name in ("ids", "statuses", "reasons", "rule_versions", "holds")),
    *(bindparam(name, type_=ARRAY(Integer)) for name in ("allowed", "numbers")),
    bindparam("now", type_=DateTime(timezone=True)),
)
_RECORD_ALL = text(
    "INSERT INTO decisions (claim_id, decision_no, status, reasons, allowed_cents, rule_version, decided_at,"
    " decided_by)"
    " SELECT d.id, d.decision_no, d.status, CAST(d.reasons AS json), d.allowed_cents, d.rule_version, :now, 'rules'"
    " FROM unnest(:ids, :statuses, :reasons, :allowed, :numbers, :rule_versions)"
    " AS d(id, status, reasons, allowed_cents, decision_no, rule_version)"
).bindparams(
    *(bindparam(name, type_=ARRAY(Text)) for name in ("ids", "statuses", "reasons", "rule_versions")),
    *(bindparam(name, type_=ARRAY(Integer)) for name in ("allowed", "numbers")),
    bindparam("now", type_=DateTime(timezone=True)),
)
# SQLite: one row at a time.
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


def _line(row: Any) -> StoredLine:
    return StoredLine(
        row.agb,
        row.bsn,
        row.sector,
        row.prestation_code,
        row.service_date,
        row.opening_date,
        row.quantity,
        row.claimed_cents,
        row.programme,
        row.programme_start,
        row.referral,
        row.authorisation_number,
    )


def _programme_key(row: Any) -> tuple[Any, ...]:
    return (row.agb, row.bsn, row.programme, row.programme_start, row.prestation_code)


async def _gather(uow: UnitOfWork, q: _Statements, rows: Sequence[Any], today: dt.date) -> _Known:
    session = uow.session
    agbs, ids = list({r.agb for r in rows}), [r.id for r in rows]
    pairs = list({(r.agb, r.bsn) for r in rows})
    by_pair: dict[str, Any] = (
        {"pair_agbs": [a for a, _ in pairs], "pair_bsns": [b for _, b in pairs]}
        if q.postgres
        else {"agbs": agbs, "bsns": list({b for _, b in pairs})}
    )
    known = _Known()
    known.providers = set((await session.execute(q.known, {"agbs": agbs})).scalars())
    known.eligible = {(a, p): e for a, p, e in await session.execute(q.eligibility, {"agbs": agbs})}
    for row in await session.execute(q.contracts, {"agbs": agbs}):
        known.contracts[(row.agb, row.sector)].append(row)
    known.in_progress = {(a, s, y) for a, s, y in await session.execute(q.in_progress, {"agbs": agbs})}
    for row in await session.execute(q.authorisations, by_pair):
        known.authorisations[(row.agb, row.bsn)].append(
            Authorisation(row.number, row.care_type, row.granted_on, row.valid_until)
        )
    for row in await session.execute(q.earlier, {**by_pair, "ids": ids}):
        known.same_service.setdefault((row.agb, row.bsn, row.prestation_code, row.service_date), row.id)
        if row.sector == "GLI":
            known.programme_counts[_programme_key(row)] += row.quantity
    month_start = today.replace(day=1)
    since = add_months(month_start, -3)
    per_agb: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
    for agb, month, lines in await session.execute(q.volume, {"agbs": agbs, "since": since}):
        per_agb[agb].append((month, lines))
    for agb in agbs:
        months = per_agb.get(agb, [])
        this_month = sum(n for m, n in months if m >= month_start)
        known.volume[agb] = (this_month, sum(n for m, n in months if m < month_start) / 3)
    return known


def _contract_for(known: _Known, line: LineFacts) -> ContractTerms | None:
    for row in known.contracts.get((line.agb, line.sector), []):
        if not row.start_date <= line.service_date <= row.end_date:
            continue
        if row.status == "terminated" and (row.terminated_from is None or line.service_date >= row.terminated_from):
            continue
        return ContractTerms(row.contract_id, row.version, row.start_date, row.end_date, dict(row.tariffs))
    return None


def _context(known: _Known, row: Any, line: LineFacts, policy: Policy) -> Context:
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
    q = _STATEMENTS[uow.session.get_bind().dialect.name]
    rows = [
        r
        for r in await uow.session.execute(q.claims, {"ids": list(claim_ids)})
        if (r.status == "received" or (r.status == "pending" and r.hold in holds and r.hold is not None))
        and (r.decided_by in (None, "rules"))
    ]
    if not rows:
        return []
    # In order of receipt; the lines of one batch share their moment of receipt and keep the
    # order they were sent in (their events' order), so "the second intake" is the second line.
    position = {claim_id: n for n, claim_id in enumerate(claim_ids)}
    rows.sort(key=lambda r: (r.received_at, position.get(r.id, 0)))
    today = clock.today()
    known = await _gather(uow, q, rows, today)
    now = clock.utcnow()
    made: list[Decision] = []
    updates: list[dict[str, Any]] = []
    for row in rows:
        line = _line(row)
        policy = policy_for(line.sector, line.service_date.year)
        assert policy is not None
        decision = adjudicate(line, policy, _context(known, row, line, policy))
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
    if q.postgres:
        columns = {
            "ids": [u["claim_id"] for u in updates],
            "statuses": [u["status"] for u in updates],
            "reasons": [json.dumps(u["reasons"]) for u in updates],
            "allowed": [u["allowed_cents"] for u in updates],
            "numbers": [u["decision_no"] for u in updates],
            "rule_versions": [u["rule_version"] for u in updates],
            "now": now,
        }
        await uow.session.execute(_DECIDE_ALL, {**columns, "holds": [u["hold"] for u in updates]})
        await uow.session.execute(_RECORD_ALL, columns)
    else:
        await uow.session.execute(_DECIDE, updates)
        recorded = ("claim_id", "decision_no", "status", "reasons", "allowed_cents", "rule_version", "decided_by")
        await uow.session.execute(
            _RECORD, [{**{k: u[k] for k in recorded}, "decided_at": u["adjudicated_at"]} for u in updates]
        )
    log.debug("adjudicated %d claim(s)", len(made))
    count_decisions(made)  # zorg_claims_decided_total{outcome}: dashboards and alerts
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
