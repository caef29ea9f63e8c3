"""Claim intake: the checks at the door, then store each good line and emit ClaimSubmitted in one transaction."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from zorg_common import clock
from zorg_common.events import ClaimSubmitted, new_id
from zorg_common.problems import FieldError

from ..adapters.repository import ClaimsUnit
from ..domain.claim import ClaimLine, contract_year, judging_policy

#: Vektis COD954 codes of refusals at the door (DOMAIN.md, Vektis codes).
BSN_INVALID, PRESTATION_UNKNOWN, SERVICE_AFTER_RECEIPT = "0435", "0582", "8176"


class DoorError(FieldError):
    """A problem with a line at the door: the field, what is wrong, and its Vektis code where one fits."""

    vektis_code: str | None = None


def door_check(raw: Mapping[str, Any], received_on: dt.date) -> ClaimLine | list[DoorError]:
    """The line, or every problem with it: bad input is refused and is not a claim."""
    try:
        line = ClaimLine.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "line"
            code = BSN_INVALID if where == "bsn" else None  # a BSN that is no BSN fails the elfproef
            errors.append(DoorError(field=where, message=e["msg"].removeprefix("Value error, "), vektis_code=code))
        return errors
    errors = []
    if line.service_date > received_on:
        message = f"after the date of receipt {received_on.isoformat()} (Vektis {SERVICE_AFTER_RECEIPT})"
        errors.append(DoorError(field="service_date", message=message, vektis_code=SERVICE_AFTER_RECEIPT))
    policy = judging_policy(line)
    if policy is None:
        message = f"no {line.sector} policy covers contract year {contract_year(line)}"
        errors.append(DoorError(field="service_date", message=message))
    elif policy.prestation(line.prestation_code) is None:
        message = f"unknown prestation code under {policy.id} (Vektis {PRESTATION_UNKNOWN})"
        errors.append(DoorError(field="prestation_code", message=message, vektis_code=PRESTATION_UNKNOWN))
    if line.sector == "GLI":
        if not line.programme:
            errors.append(DoorError(field="programme", message="a GLI claim names its programme"))
        if line.programme_start is None:
            errors.append(DoorError(field="programme_start", message="a GLI claim gives the programme's start date"))
        elif line.programme_start > line.service_date:
            message = "the programme cannot start after the service date"
            errors.append(DoorError(field="programme_start", message=message))
    return errors or line


@dataclass
class Submitted:
    ids: list[str]  # per accepted line, in order: its claim (the first one for a repeated reference)
    created: int


async def submit(unit: ClaimsUnit, lines: Sequence[ClaimLine], received_on: dt.date) -> Submitted:
    """Store the lines not seen before (by provider and reference) and emit ClaimSubmitted for each.

    The event carries the claim's id and keys only: the adjudication reads the line (BSN,
    diagnosis) from this service's database, so neither ever reaches the outbox or a topic.
    """
    if not lines:
        return Submitted([], 0)
    existing = await unit.claims.first_claims([(ln.agb, ln.provider_reference) for ln in lines])
    now = clock.utcnow()
    rows: list[dict[str, Any]] = []
    ids: list[str] = []
    for line in lines:
        key = (line.agb, line.provider_reference)
        if key not in existing:
            claim_id = new_id()
            existing[key] = claim_id
            rows.append(_row(claim_id, line, received_on, now))
            unit.emit(ClaimSubmitted(agb=line.agb, claim_id=claim_id, sector=line.sector, received_on=received_on))
        ids.append(existing[key])
    if rows:
        await unit.claims.add_claims(rows)
        await unit.claims.count_lines(Counter(row["agb"] for row in rows), received_on.replace(day=1))
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
