"""Claim intake: the checks at the door, then store each good line and emit ClaimSubmitted in one transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, insert, select

from zorg_common import clock
from zorg_common.events import ClaimSubmitted
from zorg_common.policy import policy_for
from zorg_common.uow import UnitOfWork

from ..adapters.orm import claims
from ..domain.claim import ClaimLine

#: Vektis COD954 codes that go with refusals at the door.
DOOR_CODES = {"bsn": "0435", "prestation_code": "0582", "service_date": "8176"}

_EXISTING = select(claims.c.id, claims.c.agb, claims.c.provider_reference).where(
    claims.c.agb.in_(bindparam("agbs", expanding=True)),
    claims.c.provider_reference.in_(bindparam("references", expanding=True)),
)
_INSERT = insert(claims)


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


async def submit(uow: UnitOfWork, lines: Sequence[ClaimLine], received_on: dt.date) -> Submitted:
    """Store the lines not seen before (by provider and reference) and emit ClaimSubmitted for each."""
    if not lines:
        return Submitted([], 0)
    existing = {
        (row.agb, row.provider_reference): row.id
        for row in await uow.session.execute(
            _EXISTING,
            {"agbs": list({ln.agb for ln in lines}), "references": list({ln.provider_reference for ln in lines})},
        )
    }
    now = clock.utcnow()
    rows: list[dict[str, Any]] = []
    ids: list[str] = []
    for line in lines:
        key = (line.agb, line.provider_reference)
        if key not in existing:
            claim_id = str(uuid.uuid4())
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
        await uow.session.execute(_INSERT, rows)
    return Submitted(ids, len(rows))


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
