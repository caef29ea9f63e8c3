"""Claim intake: the checks at the door, then store each good line and emit ClaimSubmitted in one transaction."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import String, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from zorg_common import clock
from zorg_common.db import BulkInsert, among, unnest
from zorg_common.events import ClaimSubmitted, new_id
from zorg_common.policy import policy_for
from zorg_common.uow import UnitOfWork

from ..adapters.orm import claim_volume, claims
from ..domain.claim import ClaimLine

#: Vektis COD954 codes that go with refusals at the door.
DOOR_CODES = {"bsn": "0435", "prestation_code": "0582", "service_date": "8176"}

_EXISTING = select(claims.c.id, claims.c.agb, claims.c.provider_reference).where(
    among(claims.c.agb, "agbs", postgres=False), among(claims.c.provider_reference, "references", postgres=False)
)
# PostgreSQL: the batch's (provider, reference) pairs, each looked up in the unique index.
_PAIRS = unnest("pairs", agbs=String(), references=String())
_EXISTING_PAIRS = select(claims.c.id, claims.c.agb, claims.c.provider_reference).join(
    _PAIRS, (claims.c.agb == _PAIRS.c.agbs) & (claims.c.provider_reference == _PAIRS.c.references)
)
_INSERT = BulkInsert(claims, [c.name for c in claims.columns])


@dataclass(frozen=True)
class Refused:
    index: int
    errors: list[tuple[str, str]]


def door_check(raw: Mapping[str, Any], received_on: dt.date) -> ClaimLine | list[tuple[str, str]]:
    """The line, or every problem with it (field, message): bad input is refused and is not a claim."""
    try:
        line = ClaimLine.model_validate(raw)
    except ValidationError as exc:
        return [
            (".".join(str(p) for p in e["loc"]) or "line", e["msg"].removeprefix("Value error, ")) for e in exc.errors()
        ]
    errors: list[tuple[str, str]] = []
    if line.service_date > received_on:
        errors.append(("service_date", f"after the date of receipt {received_on.isoformat()} (Vektis 8176)"))
    policy = policy_for(line.sector, line.service_date.year)
    if policy is None:
        errors.append(("service_date", f"no {line.sector} policy covers {line.service_date.year}"))
    elif policy.prestation(line.prestation_code) is None:
        errors.append(("prestation_code", f"unknown prestation code under {policy.id} (Vektis 0582)"))
    if line.sector == "GLI":
        if not line.programme:
            errors.append(("programme", "a GLI claim names its programme"))
        if line.programme_start is None:
            errors.append(("programme_start", "a GLI claim gives the programme's start date"))
        elif line.programme_start > line.service_date:
            errors.append(("programme_start", "the programme cannot start after the service date"))
    return errors or line


@dataclass
class Submitted:
    ids: list[str]  # per accepted line, in order: its claim (the first one for a repeated reference)
    created: int


def _existing_query(uow: UnitOfWork, lines: Sequence[ClaimLine]) -> tuple[Any, dict[str, list[str]]]:
    if uow.session.get_bind().dialect.name == "postgresql":
        pairs = list({(ln.agb, ln.provider_reference) for ln in lines})
        return _EXISTING_PAIRS, {"agbs": [a for a, _ in pairs], "references": [r for _, r in pairs]}
    return _EXISTING, {
        "agbs": list({ln.agb for ln in lines}),
        "references": list({ln.provider_reference for ln in lines}),
    }


async def submit(uow: UnitOfWork, lines: Sequence[ClaimLine], received_on: dt.date) -> Submitted:
    """Store the lines not seen before (by provider and reference) and emit ClaimSubmitted for each."""
    if not lines:
        return Submitted([], 0)
    existing = {
        (row.agb, row.provider_reference): row.id for row in await uow.session.execute(*_existing_query(uow, lines))
    }
    now = clock.utcnow()
    rows: list[dict[str, Any]] = []
    ids: list[str] = []
    for line in lines:
        key = (line.agb, line.provider_reference)
        if key not in existing:
            claim_id = new_id()
            existing[key] = claim_id
            rows.append(_row(claim_id, line, received_on, now))
            uow.emit(
                ClaimSubmitted(
                    agb=line.agb,
                    claim_id=claim_id,
                    provider_reference=line.provider_reference,
                    bsn=line.bsn,
                    sector=line.sector,
                    prestation_code=line.prestation_code,
                    service_date=line.service_date,
                    opening_date=line.opened,
                    quantity=line.quantity,
                    claimed_cents=line.claimed_cents,
                    received_on=received_on,
                    programme=line.programme,
                    programme_start=line.programme_start,
                    referral=line.referral,
                    authorisation_number=line.authorisation_number,
                    diagnosis_code=line.stored_diagnosis(),
                    privacy_statement=line.privacy_statement,
                )
            )
        ids.append(existing[key])
    if rows:
        await _INSERT.execute(uow.session, rows)
        await _count_volume(uow, Counter(row["agb"] for row in rows), received_on.replace(day=1))
    return Submitted(ids, len(rows))


async def _count_volume(uow: UnitOfWork, per_agb: Counter[str], month: dt.date) -> None:
    """Add the lines to their providers' monthly counts (in AGB order: concurrent batches never deadlock)."""
    dialect = uow.session.get_bind().dialect.name
    insert_or_add = (pg_insert if dialect == "postgresql" else sqlite_insert)(claim_volume)
    statement = insert_or_add.on_conflict_do_update(
        index_elements=["agb", "month"], set_={"lines": claim_volume.c.lines + insert_or_add.excluded.lines}
    )
    await uow.session.execute(
        statement, [{"agb": agb, "month": month, "lines": per_agb[agb]} for agb in sorted(per_agb)]
    )


def _row(claim_id: str, line: ClaimLine, received_on: dt.date, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": claim_id,
        "provider_reference": line.provider_reference,
        "agb": line.agb,
        "bsn": line.bsn,
        "sector": line.sector,
        "prestation_code": line.prestation_code,
        "service_date": line.service_date,
        "opening_date": line.opened,
        "quantity": line.quantity,
        "claimed_cents": line.claimed_cents,
        "programme": line.programme,
        "programme_start": line.programme_start,
        "referral": line.referral,
        "authorisation_number": line.authorisation_number,
        "diagnosis_code": line.stored_diagnosis(),
        "privacy_statement": line.privacy_statement,
        "received_on": received_on,
        "received_at": now,
        "status": "received",
        "reasons": [],
        "allowed_cents": None,
        "adjudicated_at": None,
        "decision_no": 0,
        "rule_version": None,
        "decided_by": None,
        "hold": None,
    }
