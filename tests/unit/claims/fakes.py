"""An in-memory claims repository and unit, for the use cases' unit tests (cosmicpython's FakeRepository).

It keeps the same state as the SQL repository's tables and answers the same questions; the
integration tests hold the SQL one to the same behaviour on PostgreSQL and SQLite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from zorg_claims.adapters.repository import (
    COUNTS,
    AccessEntry,
    AuthorisationRecord,
    ClaimFilter,
    ClaimsRepository,
    ClaimView,
    DecisionView,
    EarlierClaim,
    Recorded,
    Snapshot,
    StoredClaim,
    claim_view,
    decision_values,
    history_row,
    stored_claim,
)
from zorg_claims.domain.adjudication import ContractTerms
from zorg_claims.domain.authorisation import Authorisation
from zorg_common.events import CloudEvent, Event


def _row(values: Mapping[str, Any]) -> Any:
    return SimpleNamespace(**values)


@dataclass
class FakeClaimsRepository:
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    volume: dict[tuple[str, dt.date], int] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    eligibility: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    bank_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    procurements: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    authorisations: list[AuthorisationRecord] = field(default_factory=list)
    access: list[AccessEntry] = field(default_factory=list)
    locked: list[list[str]] = field(default_factory=list)  # the insured persons each batch locked

    # --- intake ------------------------------------------------------------------------------

    async def first_claims(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        wanted = set(keys)
        return {
            (c["agb"], c["provider_reference"]): i
            for i, c in self.claims.items()
            if (c["agb"], c["provider_reference"]) in wanted
        }

    async def add_claims(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            assert (row["agb"], row["provider_reference"]) not in {
                (c["agb"], c["provider_reference"]) for c in self.claims.values()
            }, "uq_claims_agb_reference"
            self.claims[row["id"]] = dict(row)

    async def count_lines(self, per_agb: Mapping[str, int], month: dt.date) -> None:
        for agb, lines in per_agb.items():
            self.volume[(agb, month)] = self.volume.get((agb, month), 0) + lines

    async def status_of(self, claim_id: str) -> str | None:
        return self.claims[claim_id]["status"] if claim_id in self.claims else None

    # --- adjudication ----------------------------------------------------------------------

    async def open_to_rules(self, ids: Sequence[str]) -> list[StoredClaim]:
        return [stored_claim(_row(self.claims[i])) for i in sorted(set(ids)) if i in self.claims]

    async def lock_insured(self, bsns: Sequence[str]) -> None:
        self.locked.append(list(bsns))

    async def snapshot(self, batch: Sequence[StoredClaim], volume_since: dt.date) -> Snapshot:
        agbs = {c.line.agb for c in batch}
        bsns = {c.line.bsn for c in batch}
        pairs = {(c.line.agb, c.line.bsn) for c in batch}
        ids = {c.id for c in batch}
        found = Snapshot()
        found.providers = {a: p["kind"] for a, p in self.providers.items() if a in agbs}
        found.eligibility = {
            k: (e["eligible"], e["evaluation_id"]) for k, e in self.eligibility.items() if k[0] in agbs
        }
        for c in self.contracts.values():
            if c["agb"] in agbs:
                found.contracts[(c["agb"], c["sector"])].append(
                    ContractTerms(
                        c["contract_id"],
                        c["version"],
                        c["start_date"],
                        c["end_date"],
                        dict(c["tariffs"]),
                        c["status"],
                        c["terminated_from"],
                    )
                )
        found.open_procurements = {
            (p["agb"], p["sector"], year)
            for (_, year), p in self.procurements.items()
            if p["agb"] in agbs and p["status"] == "in_progress"
        }
        for a in self.authorisations:
            if (a.agb, a.bsn) in pairs:
                found.authorisations[(a.agb, a.bsn)].append(
                    Authorisation(a.number, a.care_type, a.requested_on, a.granted_on, a.valid_until, a.status)
                )
        found.earlier = [
            EarlierClaim(
                i,
                c["agb"],
                c["bsn"],
                c["sector"],
                c["prestation_code"],
                c["service_date"],
                c["quantity"],
                c["programme"],
                c["programme_start"],
            )
            for i, c in self.claims.items()
            if c["bsn"] in bsns and c["status"] in COUNTS and i not in ids
        ]
        for (agb, month), lines in self.volume.items():
            if agb in agbs and month >= volume_since:
                found.volume[agb].append((month, lines))
        return found

    async def record(self, decided: Sequence[Recorded], now: dt.datetime) -> None:
        for item in decided:
            self.claims[item.claim_id].update(adjudicated_at=now, **decision_values(item))
            self.decisions.append(history_row(item, now))

    async def held_for_contract(self, agb: str, sector: str) -> list[StoredClaim]:
        return [
            stored_claim(_row(c))
            for _, c in sorted(self.claims.items())
            if c["agb"] == agb and c["sector"] == sector and c["status"] == "pending" and c["hold"] == "contract"
        ]

    # --- a person's review ------------------------------------------------------------------

    async def held_for_review(self, claim_id: str) -> ClaimView | None:
        return claim_view(_row(self.claims[claim_id])) if claim_id in self.claims else None

    async def record_person(self, decided: Recorded, now: dt.datetime, expected_no: int) -> bool:
        claim = self.claims[decided.claim_id]
        if claim["hold"] != "review" or claim["decision_no"] != expected_no:
            return False
        await self.record([decided], now)
        return True

    # --- authorisations, reading, the access log ---------------------------------------------

    async def add_authorisation(self, record: AuthorisationRecord) -> None:
        self.authorisations.append(record)

    async def claim(self, claim_id: str) -> ClaimView | None:
        return claim_view(_row(self.claims[claim_id])) if claim_id in self.claims else None

    async def claims_page(self, where: ClaimFilter, offset: int, limit: int) -> tuple[int, list[ClaimView]]:
        found = [
            c
            for c in self.claims.values()
            if (where.agb is None or c["agb"] == where.agb)
            and (where.status is None or c["status"] == where.status)
            and (where.hold is None or c["hold"] == where.hold)
        ]
        found.sort(key=lambda c: (-c["received_at"].timestamp(), c["id"]))
        return len(found), [claim_view(_row(c)) for c in found[offset : offset + limit]]

    async def decisions_of(self, claim_id: str) -> list[DecisionView]:
        rows = sorted((d for d in self.decisions if d["claim_id"] == claim_id), key=lambda d: d["decision_no"])
        return [
            DecisionView(
                d["decision_no"],
                d["status"],
                tuple(d["reasons"]),
                d["allowed_cents"],
                d["rule_version"],
                d["decided_at"],
                d["decided_by"],
                d["note"],
                d["inputs"],
            )
            for d in rows
        ]

    async def log_access(self, entries: Sequence[AccessEntry]) -> None:
        self.access.extend(entries)

    async def access_page(
        self, bsn: str | None, agb: str | None, since: dt.datetime | None, offset: int, limit: int
    ) -> tuple[int, list[AccessEntry]]:
        found = [
            e
            for e in reversed(self.access)
            if (bsn is None or e.bsn == bsn) and (agb is None or e.agb == agb) and (since is None or e.at >= since)
        ]
        return len(found), found[offset : offset + limit]

    # --- read models ------------------------------------------------------------------------

    async def provider_version(self, agb: str) -> int | None:
        return self.providers[agb]["version"] if agb in self.providers else None

    async def save_provider(self, agb: str, name: str, kind: str, version: int) -> None:
        self.providers[agb] = {"name": name, "kind": kind, "version": version}

    async def save_eligibility(self, values: Mapping[str, Any]) -> None:
        self.eligibility[(values["agb"], values["policy_id"])] = dict(values)

    async def save_bank_account(self, values: Mapping[str, Any]) -> None:
        self.bank_accounts[values["agb"]] = dict(values)

    async def save_procurement(self, procurement_id: str, agb: str, sector: str, year: int, status: str) -> None:
        self.procurements[(procurement_id, year)] = {"agb": agb, "sector": sector, "status": status}

    async def contract_state(self, contract_id: str) -> tuple[int, str] | None:
        c = self.contracts.get(contract_id)
        return (c["version"], c["status"]) if c is not None else None

    async def save_contract(self, values: Mapping[str, Any]) -> None:
        self.contracts[values["contract_id"]] = dict(values)

    async def terminate_contract(self, contract_id: str, effective_on: dt.date) -> None:
        if contract_id in self.contracts:
            self.contracts[contract_id].update(status="terminated", terminated_from=effective_on)


class FakeUnit:
    """The fake repository, and the events a use case emitted (committed or not: the test looks)."""

    def __init__(self, repository: FakeClaimsRepository | None = None) -> None:
        self.repository = repository or FakeClaimsRepository()
        self.events: list[Event] = []

    @property
    def claims(self) -> ClaimsRepository:
        return self.repository

    def emit(self, event: Event) -> CloudEvent | None:
        self.events.append(event)
        return None
