"""The claims service's queries behind one repository: claims, decisions, authorisations, the access log
and the read models. ``ClaimsRepository`` is what the use cases see; ``SqlClaimsRepository`` speaks
PostgreSQL and SQLite; the unit tests use an in-memory fake of the same shape.

Adjudication stays bulk: a batch's claims are read in one statement, what the rules need in a few
more, and their decisions written in two, whatever the batch's size.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from zorg_common import db
from zorg_common.events import CloudEvent, Event
from zorg_common.uow import UnitOfWork

from ..domain.adjudication import ContractTerms, Decision
from ..domain.authorisation import Authorisation, AuthorisationStatus
from ..domain.claim import StoredLine
from .orm import (
    access_log,
    authorisations,
    bank_accounts,
    claim_volume,
    claims,
    contracts,
    decisions,
    eligibility,
    known_providers,
    procurements,
)

#: Statuses of claims that count: a later line like one of these is a duplicate, and they fill limits.
COUNTS = ("approved", "partially_approved", "pending")


# --- what the repository hands out and takes in ----------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredClaim:
    """A claim as the rules see it: the line, and where it stands."""

    id: str
    line: StoredLine
    received_on: dt.date
    received_at: dt.datetime
    status: str
    hold: str | None
    decided_by: str | None
    decision_no: int


@dataclass(frozen=True, slots=True)
class EarlierClaim:
    """A counting claim of one of a batch's insured persons, outside the batch."""

    id: str
    agb: str
    bsn: str
    sector: str
    prestation_code: str
    service_date: dt.date
    quantity: int
    programme: str | None
    programme_start: dt.date | None


@dataclass
class Snapshot:
    """What the read models and earlier claims say about one batch of claims."""

    providers: dict[str, str | None] = field(default_factory=dict)  # agb -> kind, for known providers
    eligibility: dict[tuple[str, str], tuple[bool, str]] = field(default_factory=dict)  # (agb, policy) -> verdict
    contracts: dict[tuple[str, str], list[ContractTerms]] = field(default_factory=lambda: defaultdict(list))
    open_procurements: set[tuple[str, str, int]] = field(default_factory=set)  # (agb, sector, contract year)
    authorisations: dict[tuple[str, str], list[Authorisation]] = field(default_factory=lambda: defaultdict(list))
    earlier: list[EarlierClaim] = field(default_factory=list)
    volume: dict[str, list[tuple[dt.date, int]]] = field(default_factory=lambda: defaultdict(list))


@dataclass(frozen=True, slots=True)
class Recorded:
    """One decision to record on a claim: it becomes the claim's state and a row of its history."""

    claim_id: str
    decision: Decision
    number: int  # the claim's decision_no after this one
    hold: str | None  # contract, review, or None
    decided_by: str = "rules"
    note: str | None = None


@dataclass(frozen=True)
class ClaimView:
    """A claim as the API shows it (the BSN only for the access log, never in a response)."""

    id: str
    provider_reference: str
    agb: str
    bsn: str
    sector: str
    prestation_code: str
    service_date: dt.date
    status: str
    reasons: tuple[str, ...]
    hold: str | None
    claimed_cents: int
    allowed_cents: int | None
    received_on: dt.date
    adjudicated_at: dt.datetime | None
    decision_no: int
    decided_by: str | None
    rule_version: str | None


@dataclass(frozen=True)
class DecisionView:
    decision_no: int
    status: str
    reasons: tuple[str, ...]
    allowed_cents: int
    rule_version: str
    decided_at: dt.datetime
    decided_by: str
    note: str | None
    inputs: Mapping[str, Any] | None


ActorKind = Literal["staff", "portal"]
ReadVia = Literal["claim", "decisions", "list"]


@dataclass(frozen=True)
class AccessEntry:
    at: dt.datetime
    actor: str
    actor_kind: ActorKind
    via: ReadVia
    claim_id: str
    agb: str
    bsn: str


@dataclass(frozen=True)
class AuthorisationRecord:
    number: str
    bsn: str
    agb: str
    care_type: str
    requested_on: dt.date
    granted_on: dt.date
    valid_until: dt.date
    status: AuthorisationStatus
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True)
class ClaimFilter:
    agb: str | None = None
    status: str | None = None
    hold: str | None = None


class ClaimsRepository(Protocol):
    """Every query of the claims service's use cases."""

    # intake
    async def first_claims(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]: ...
    async def add_claims(self, rows: Sequence[Mapping[str, Any]]) -> None: ...
    async def count_lines(self, per_agb: Mapping[str, int], month: dt.date) -> None: ...
    async def status_of(self, claim_id: str) -> str | None: ...

    # adjudication
    async def open_to_rules(self, ids: Sequence[str]) -> list[StoredClaim]: ...
    async def lock_insured(self, bsns: Sequence[str]) -> None: ...
    async def snapshot(self, batch: Sequence[StoredClaim], volume_since: dt.date) -> Snapshot: ...
    async def record(self, decided: Sequence[Recorded], now: dt.datetime) -> None: ...
    async def held_for_contract(self, agb: str, sector: str) -> list[StoredClaim]: ...

    # a person's review
    async def held_for_review(self, claim_id: str) -> ClaimView | None: ...
    async def record_person(self, decided: Recorded, now: dt.datetime, expected_no: int) -> bool: ...

    # authorisations
    async def add_authorisation(self, record: AuthorisationRecord) -> None: ...

    # reading, and the access log
    async def claim(self, claim_id: str) -> ClaimView | None: ...
    async def claims_page(self, where: ClaimFilter, offset: int, limit: int) -> tuple[int, list[ClaimView]]: ...
    async def decisions_of(self, claim_id: str) -> list[DecisionView]: ...
    async def log_access(self, entries: Sequence[AccessEntry]) -> None: ...
    async def access_page(
        self, bsn: str | None, agb: str | None, since: dt.datetime | None, offset: int, limit: int
    ) -> tuple[int, list[AccessEntry]]: ...

    # read models from other services' events
    async def provider_version(self, agb: str) -> int | None: ...
    async def save_provider(self, agb: str, name: str, kind: str, version: int) -> None: ...
    async def save_eligibility(self, values: Mapping[str, Any]) -> None: ...
    async def save_bank_account(self, values: Mapping[str, Any]) -> None: ...
    async def save_procurement(self, procurement_id: str, agb: str, sector: str, year: int, status: str) -> None: ...
    async def contract_state(self, contract_id: str) -> tuple[int, str] | None: ...
    async def save_contract(self, values: Mapping[str, Any]) -> None: ...
    async def terminate_contract(self, contract_id: str, effective_on: dt.date) -> None: ...


class ClaimsUnit(Protocol):
    """What a use case works with: the repository, and the events its work causes."""

    @property
    def claims(self) -> ClaimsRepository: ...

    def emit(self, event: Event) -> CloudEvent | None: ...


class SqlClaimsUnit:
    """The claims repository and event outbox of one unit of work (``zorg_common.uow``)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._claims = SqlClaimsRepository(uow.session)

    @property
    def claims(self) -> ClaimsRepository:
        return self._claims

    def emit(self, event: Event) -> CloudEvent:
        return self._uow.emit(event)


# --- SQL ---------------------------------------------------------------------------------------

_ADJUDICATION_COLUMNS = (
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
_EARLIER_COLUMNS = (
    claims.c.id,
    claims.c.agb,
    claims.c.bsn,
    claims.c.sector,
    claims.c.prestation_code,
    claims.c.service_date,
    claims.c.quantity,
    claims.c.programme,
    claims.c.programme_start,
)


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
        open_claims = (
            select(*(claims.c[name] for name in _ADJUDICATION_COLUMNS))
            .where(among(claims.c.id, "ids"))
            .order_by(claims.c.id)
        )
        self.claims = open_claims.with_for_update() if postgres else open_claims
        self.known = select(known_providers.c.agb, known_providers.c.kind).where(among(known_providers.c.agb, "agbs"))
        self.eligibility = select(
            eligibility.c.agb, eligibility.c.policy_id, eligibility.c.eligible, eligibility.c.evaluation_id
        ).where(among(eligibility.c.agb, "agbs"))
        self.contracts = select(contracts).where(among(contracts.c.agb, "agbs"))
        self.open_procurements = select(procurements.c.agb, procurements.c.sector, procurements.c.contract_year).where(
            among(procurements.c.agb, "agbs"), procurements.c.status == "in_progress"
        )
        # An insured person's counting claims at every provider (programme runs count across
        # providers; the duplicate rule picks the same provider's among them).
        self.earlier = select(*_EARLIER_COLUMNS).where(
            among(claims.c.bsn, "bsns"),
            claims.c.status.in_(COUNTS),
            ~among(claims.c.id, "ids") if postgres else claims.c.id.not_in(bindparam("ids", expanding=True)),
        )
        if postgres:
            # The (provider, insured person) pairs of the batch, each found through the index; two
            # IN lists would make the index walk every combination of the two.
            pairs = db.unnest("pairs", pair_agbs=String(), pair_bsns=String())
            self.authorisations = select(authorisations).join(
                pairs, (authorisations.c.agb == pairs.c.pair_agbs) & (authorisations.c.bsn == pairs.c.pair_bsns)
            )
        else:
            self.authorisations = select(authorisations).where(
                among(authorisations.c.agb, "agbs"), among(authorisations.c.bsn, "bsns")
            )
        self.volume = select(claim_volume.c.agb, claim_volume.c.month, claim_volume.c.lines).where(
            among(claim_volume.c.agb, "agbs"), claim_volume.c.month >= bindparam("since")
        )
        self.held = (
            select(*(claims.c[name] for name in _ADJUDICATION_COLUMNS))
            .where(
                claims.c.agb == bindparam("agb"),
                claims.c.sector == bindparam("sector"),
                claims.c.status == "pending",
                claims.c.hold == "contract",
            )
            .order_by(claims.c.id)
        )


_STATEMENTS = {dialect: _Statements(dialect == "postgresql") for dialect in ("postgresql", "sqlite")}

# PostgreSQL: a transaction lock per insured person, taken in one order (so two batches never deadlock)
# and held until commit. The namespace keeps these apart from any other advisory lock.
_INSURED_LOCKS = 7_331
_LOCK_INSURED = text(
    "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(:namespace, k) FROM"
    " (SELECT DISTINCT hashtext(b) AS k FROM unnest(:bsns) AS b ORDER BY k) AS ordered) AS locked"
).bindparams(bindparam("bsns", type_=ARRAY(Text)), bindparam("namespace", value=_INSURED_LOCKS, type_=Integer))

# PostgreSQL: a batch's decisions in two statements, whatever its size.
_DECIDE_ALL = text(
    "UPDATE claims SET status = d.status, reasons = CAST(d.reasons AS json), allowed_cents = d.allowed_cents,"
    " adjudicated_at = :now, decision_no = d.decision_no, rule_version = d.rule_version, decided_by = d.decided_by,"
    " hold = d.hold"
    " FROM unnest(:ids, :statuses, :reasons, :allowed, :numbers, :rule_versions, :holds, :deciders)"
    " AS d(id, status, reasons, allowed_cents, decision_no, rule_version, hold, decided_by)"
    " WHERE claims.id = d.id"
).bindparams(
    *(
        bindparam(name, type_=ARRAY(Text))
        for name in ("ids", "statuses", "reasons", "rule_versions", "holds", "deciders")
    ),
    *(bindparam(name, type_=ARRAY(Integer)) for name in ("allowed", "numbers")),
    bindparam("now", type_=DateTime(timezone=True)),
)
_RECORD_ALL = text(
    "INSERT INTO decisions (claim_id, decision_no, status, reasons, allowed_cents, rule_version, decided_at,"
    " decided_by, note, inputs)"
    " SELECT d.id, d.decision_no, d.status, CAST(d.reasons AS json), d.allowed_cents, d.rule_version, :now,"
    " d.decided_by, d.note, CAST(d.inputs AS json)"
    " FROM unnest(:ids, :statuses, :reasons, :allowed, :numbers, :rule_versions, :deciders, :notes, :inputs)"
    " AS d(id, status, reasons, allowed_cents, decision_no, rule_version, decided_by, note, inputs)"
).bindparams(
    *(
        bindparam(name, type_=ARRAY(Text))
        for name in ("ids", "statuses", "reasons", "rule_versions", "deciders", "notes", "inputs")
    ),
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
_CLAIMS_INSERT = db.BulkInsert(claims, [c.name for c in claims.columns])
_EXISTING = select(claims.c.id, claims.c.agb, claims.c.provider_reference).where(
    db.among(claims.c.agb, "agbs", postgres=False),
    db.among(claims.c.provider_reference, "references", postgres=False),
)
# PostgreSQL: the batch's (provider, reference) pairs, each looked up in the unique index.
_REFERENCE_PAIRS = db.unnest("pairs", agbs=String(), references=String())
_EXISTING_PAIRS = select(claims.c.id, claims.c.agb, claims.c.provider_reference).join(
    _REFERENCE_PAIRS,
    (claims.c.agb == _REFERENCE_PAIRS.c.agbs) & (claims.c.provider_reference == _REFERENCE_PAIRS.c.references),
)


def stored_claim(row: Any) -> StoredClaim:
    line = StoredLine(
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
    return StoredClaim(
        row.id, line, row.received_on, row.received_at, row.status, row.hold, row.decided_by, row.decision_no
    )


def claim_view(row: Any) -> ClaimView:
    return ClaimView(
        id=row.id,
        provider_reference=row.provider_reference,
        agb=row.agb,
        bsn=row.bsn,
        sector=row.sector,
        prestation_code=row.prestation_code,
        service_date=row.service_date,
        status=row.status,
        reasons=tuple(row.reasons),
        hold=row.hold,
        claimed_cents=row.claimed_cents,
        allowed_cents=row.allowed_cents,
        received_on=row.received_on,
        adjudicated_at=row.adjudicated_at,
        decision_no=row.decision_no,
        decided_by=row.decided_by,
        rule_version=row.rule_version,
    )


def decision_values(item: Recorded) -> dict[str, Any]:
    d = item.decision
    return {
        "status": d.status,
        "reasons": list(d.reasons),
        "allowed_cents": d.allowed_cents,
        "decision_no": item.number,
        "rule_version": d.rule_version,
        "decided_by": item.decided_by,
        "hold": item.hold,
    }


class SqlClaimsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.q = _STATEMENTS[session.get_bind().dialect.name]

    # --- intake ------------------------------------------------------------------------------

    async def first_claims(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        pairs = list(set(keys))
        if self.q.postgres:
            query, params = _EXISTING_PAIRS, {"agbs": [a for a, _ in pairs], "references": [r for _, r in pairs]}
        else:
            query, params = _EXISTING, {"agbs": list({a for a, _ in pairs}), "references": list({r for _, r in pairs})}
        return {(r.agb, r.provider_reference): r.id for r in await self.session.execute(query, params)}

    async def add_claims(self, rows: Sequence[Mapping[str, Any]]) -> None:
        await _CLAIMS_INSERT.execute(self.session, rows)

    async def count_lines(self, per_agb: Mapping[str, int], month: dt.date) -> None:
        """Add the lines to their providers' monthly counts (in AGB order: concurrent batches never deadlock)."""
        insert_or_add = db.dialect_insert(self.session, claim_volume)
        statement = insert_or_add.on_conflict_do_update(
            index_elements=["agb", "month"], set_={"lines": claim_volume.c.lines + insert_or_add.excluded.lines}
        )
        await self.session.execute(
            statement, [{"agb": agb, "month": month, "lines": per_agb[agb]} for agb in sorted(per_agb)]
        )

    async def status_of(self, claim_id: str) -> str | None:
        status: str | None = await self.session.scalar(select(claims.c.status).where(claims.c.id == claim_id))
        return status

    # --- adjudication ----------------------------------------------------------------------

    async def open_to_rules(self, ids: Sequence[str]) -> list[StoredClaim]:
        """The claims among ``ids``, locked (PostgreSQL) so two workers never decide one at a time."""
        return [stored_claim(r) for r in await self.session.execute(self.q.claims, {"ids": list(ids)})]

    async def lock_insured(self, bsns: Sequence[str]) -> None:
        """Decide these insured persons' lines one transaction at a time, across workers: the lines of one
        person at two providers arrive on two partitions, and a programme run's limits count both.
        SQLite has one writer and one worker (`make run`), so it needs no lock."""
        if self.q.postgres and bsns:
            await self.session.execute(_LOCK_INSURED, {"bsns": list(bsns)})

    async def snapshot(self, batch: Sequence[StoredClaim], volume_since: dt.date) -> Snapshot:
        q, session = self.q, self.session
        agbs, ids = list({c.line.agb for c in batch}), [c.id for c in batch]
        bsns = list({c.line.bsn for c in batch})
        pairs = list({(c.line.agb, c.line.bsn) for c in batch})
        by_pair: dict[str, Any] = (
            {"pair_agbs": [a for a, _ in pairs], "pair_bsns": [b for _, b in pairs]}
            if q.postgres
            else {"agbs": agbs, "bsns": bsns}
        )
        found = Snapshot()
        found.providers = {agb: kind for agb, kind in await session.execute(q.known, {"agbs": agbs})}
        found.eligibility = {
            (a, p): (e, evaluation) for a, p, e, evaluation in await session.execute(q.eligibility, {"agbs": agbs})
        }
        for row in await session.execute(q.contracts, {"agbs": agbs}):
            found.contracts[(row.agb, row.sector)].append(
                ContractTerms(
                    row.contract_id,
                    row.version,
                    row.start_date,
                    row.end_date,
                    dict(row.tariffs),
                    row.status,
                    row.terminated_from,
                )
            )
        found.open_procurements = {(a, s, y) for a, s, y in await session.execute(q.open_procurements, {"agbs": agbs})}
        for row in await session.execute(q.authorisations, by_pair):
            found.authorisations[(row.agb, row.bsn)].append(
                Authorisation(row.number, row.care_type, row.requested_on, row.granted_on, row.valid_until, row.status)
            )
        found.earlier = [EarlierClaim(*row) for row in await session.execute(q.earlier, {"bsns": bsns, "ids": ids})]
        for agb, month, lines in await session.execute(q.volume, {"agbs": agbs, "since": volume_since}):
            found.volume[agb].append((month, lines))
        return found

    async def record(self, decided: Sequence[Recorded], now: dt.datetime) -> None:
        if not decided:
            return
        if self.q.postgres:
            columns = {
                "ids": [d.claim_id for d in decided],
                "statuses": [d.decision.status for d in decided],
                "reasons": [json.dumps(list(d.decision.reasons)) for d in decided],
                "allowed": [d.decision.allowed_cents for d in decided],
                "numbers": [d.number for d in decided],
                "rule_versions": [d.decision.rule_version for d in decided],
                "deciders": [d.decided_by for d in decided],
                "now": now,
            }
            await self.session.execute(_DECIDE_ALL, {**columns, "holds": [d.hold for d in decided]})
            notes = {"notes": [d.note for d in decided], "inputs": [json.dumps(d.decision.inputs) for d in decided]}
            await self.session.execute(_RECORD_ALL, {**columns, **notes})
            return
        await self.session.execute(
            _DECIDE, [{"claim_id": d.claim_id, "adjudicated_at": now, **decision_values(d)} for d in decided]
        )
        await self.session.execute(insert(decisions), [history_row(d, now) for d in decided])

    async def held_for_contract(self, agb: str, sector: str) -> list[StoredClaim]:
        return [stored_claim(r) for r in await self.session.execute(self.q.held, {"agb": agb, "sector": sector})]

    # --- a person's review ------------------------------------------------------------------

    async def held_for_review(self, claim_id: str) -> ClaimView | None:
        """The claim, locked until the end of the transaction (PostgreSQL): a second reviewer waits."""
        query = select(claims).where(claims.c.id == claim_id)
        row = (await self.session.execute(query.with_for_update() if self.q.postgres else query)).first()
        return claim_view(row) if row is not None else None

    async def record_person(self, decided: Recorded, now: dt.datetime, expected_no: int) -> bool:
        """Record a person's decision on a claim still held for review at ``expected_no``; False when
        someone else decided it first (the lock makes the second wait, this check refuses it)."""
        values = decision_values(decided)
        result = await self.session.execute(
            update(claims)
            .where(claims.c.id == decided.claim_id, claims.c.hold == "review", claims.c.decision_no == expected_no)
            .values(adjudicated_at=now, **values)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        await self.session.execute(insert(decisions).values(**history_row(decided, now)))
        return True

    # --- authorisations ---------------------------------------------------------------------

    async def add_authorisation(self, record: AuthorisationRecord) -> None:
        await self.session.execute(insert(authorisations).values(**record.__dict__))

    # --- reading, and the access log --------------------------------------------------------

    async def claim(self, claim_id: str) -> ClaimView | None:
        row = (await self.session.execute(select(claims).where(claims.c.id == claim_id))).first()
        return claim_view(row) if row is not None else None

    async def claims_page(self, where: ClaimFilter, offset: int, limit: int) -> tuple[int, list[ClaimView]]:
        conditions = [
            c
            for c in (
                claims.c.agb == where.agb if where.agb else None,
                claims.c.status == where.status if where.status else None,
                claims.c.hold == where.hold if where.hold else None,
                # Every pending claim waits on a hold: this lets the held-claims index find them.
                claims.c.hold.is_not(None) if where.status == "pending" and not where.hold else None,
            )
            if c is not None
        ]
        total = await self.session.scalar(select(func.count()).select_from(claims).where(*conditions))
        rows = await self.session.execute(
            select(claims)
            .where(*conditions)
            .order_by(claims.c.received_at.desc(), claims.c.id)
            .offset(offset)
            .limit(limit)
        )
        return total or 0, [claim_view(r) for r in rows]

    async def decisions_of(self, claim_id: str) -> list[DecisionView]:
        rows = await self.session.execute(
            select(decisions).where(decisions.c.claim_id == claim_id).order_by(decisions.c.decision_no)
        )
        return [
            DecisionView(
                r.decision_no,
                r.status,
                tuple(r.reasons),
                r.allowed_cents,
                r.rule_version,
                r.decided_at,
                r.decided_by,
                r.note,
                r.inputs,
            )
            for r in rows
        ]

    async def log_access(self, entries: Sequence[AccessEntry]) -> None:
        if entries:
            await self.session.execute(insert(access_log), [e.__dict__ for e in entries])

    async def access_page(
        self, bsn: str | None, agb: str | None, since: dt.datetime | None, offset: int, limit: int
    ) -> tuple[int, list[AccessEntry]]:
        conditions = [
            c
            for c in (
                access_log.c.bsn == bsn if bsn else None,
                access_log.c.agb == agb if agb else None,
                access_log.c.at >= since if since else None,
            )
            if c is not None
        ]
        total = await self.session.scalar(select(func.count()).select_from(access_log).where(*conditions))
        rows = await self.session.execute(
            select(access_log)
            .where(*conditions)
            .order_by(access_log.c.at.desc(), access_log.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return total or 0, [AccessEntry(r.at, r.actor, r.actor_kind, r.via, r.claim_id, r.agb, r.bsn) for r in rows]

    # --- read models ------------------------------------------------------------------------

    async def provider_version(self, agb: str) -> int | None:
        version: int | None = await self.session.scalar(
            select(known_providers.c.version).where(known_providers.c.agb == agb)
        )
        return version

    async def save_provider(self, agb: str, name: str, kind: str, version: int) -> None:
        row = {"agb": agb, "name": name, "kind": kind, "version": version}
        await db.upsert(self.session, known_providers, [row], ["agb"])

    async def save_eligibility(self, values: Mapping[str, Any]) -> None:
        await db.upsert(self.session, eligibility, [values], ["agb", "policy_id"])

    async def save_bank_account(self, values: Mapping[str, Any]) -> None:
        await db.upsert(self.session, bank_accounts, [values], ["agb"])

    async def save_procurement(self, procurement_id: str, agb: str, sector: str, year: int, status: str) -> None:
        row = {"procurement_id": procurement_id, "contract_year": year, "agb": agb, "sector": sector, "status": status}
        await db.upsert(self.session, procurements, [row], ["procurement_id", "contract_year"])

    async def contract_state(self, contract_id: str) -> tuple[int, str] | None:
        row = (
            await self.session.execute(
                select(contracts.c.version, contracts.c.status).where(contracts.c.contract_id == contract_id)
            )
        ).first()
        return (row.version, row.status) if row is not None else None

    async def save_contract(self, values: Mapping[str, Any]) -> None:
        await db.upsert(self.session, contracts, [values], ["contract_id"])

    async def terminate_contract(self, contract_id: str, effective_on: dt.date) -> None:
        await self.session.execute(
            update(contracts)
            .where(contracts.c.contract_id == contract_id)
            .values(status="terminated", terminated_from=effective_on)
        )


def history_row(item: Recorded, now: dt.datetime) -> dict[str, Any]:
    d = item.decision
    return {
        "claim_id": item.claim_id,
        "decision_no": item.number,
        "status": d.status,
        "reasons": list(d.reasons),
        "allowed_cents": d.allowed_cents,
        "rule_version": d.rule_version,
        "decided_at": now,
        "decided_by": item.decided_by,
        "note": item.note,
        "inputs": dict(d.inputs),
    }
