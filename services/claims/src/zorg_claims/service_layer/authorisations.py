"""Recording an authorisation (*machtiging*): granted or refused, asked for in advance, checked at the door."""

from __future__ import annotations

import datetime as dt
import uuid

from zorg_common import clock
from zorg_common.policy import policies
from zorg_common.problems import BadInput

from ..adapters.repository import AuthorisationRecord, ClaimsUnit
from ..domain.authorisation import AuthorisationStatus, known_care_types, request_problems


async def record_authorisation(
    unit: ClaimsUnit,
    *,
    bsn: str,
    agb: str,
    care_type: str,
    requested_on: dt.date | None,
    granted_on: dt.date,
    valid_until: dt.date,
    status: AuthorisationStatus,
    actor: str,
) -> str:
    """Store the authorisation and return its number; every problem with it is bad input."""
    requested = requested_on or granted_on
    problems = request_problems(
        care_type, requested, granted_on, valid_until, clock.today(), known_care_types(policies().values())
    )
    if problems:
        raise BadInput(problems)
    number = "M-" + uuid.uuid4().hex[:12].upper()
    await unit.claims.add_authorisation(
        AuthorisationRecord(
            number=number,
            bsn=bsn,
            agb=agb,
            care_type=care_type,
            requested_on=requested,
            granted_on=granted_on,
            valid_until=valid_until,
            status=status,
            created_at=clock.utcnow(),
            created_by=actor,
        )
    )
    return number
