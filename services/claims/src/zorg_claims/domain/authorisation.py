"""Authorisations (*machtigingen*): asked for in advance, granted or refused by the insurer, and which one
covers a claim line for specialised care (DOMAIN.md, Claims, rule 9)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from zorg_common.policy import Policy, Prestation

from .claim import LineFacts

AuthorisationStatus = Literal["granted", "refused"]


@dataclass(frozen=True)
class Authorisation:
    number: str
    care_type: str  # a prestation code or its care type
    requested_on: dt.date
    granted_on: dt.date  # the day the insurer decided, whether it granted or refused
    valid_until: dt.date
    status: AuthorisationStatus = "granted"


def needs_authorisation(prestation: Prestation, line: LineFacts, provider_kind: str | None) -> bool:
    """Specialised care on a referral at an institution. A provider whose kind the claims service
    does not know yet is taken to be an institution: no payment without the check."""
    return prestation.specialised and line.referral and provider_kind in ("institution", None)


def covering(authorisations: Sequence[Authorisation], prestation: Prestation, line: LineFacts) -> Authorisation | None:
    """The authorisation that covers the line: granted (a refused one counts as none) for this
    prestation or its care type, requested before the trajectory opened ("vooraf aangevraagd", seed
    001) and valid on the service date; when the line names a number, that one and no other.

    ``authorisations`` are those of the line's insured person and provider.
    """
    wanted = {prestation.code.casefold()} | ({prestation.care_type.casefold()} if prestation.care_type else set())
    for auth in authorisations:
        if line.authorisation_number and auth.number != line.authorisation_number:
            continue
        if (
            auth.status == "granted"
            and auth.care_type.casefold() in wanted
            and auth.requested_on < line.opened
            and auth.granted_on <= line.service_date <= auth.valid_until
        ):
            return auth
    return None


def known_care_types(policies: Iterable[Policy]) -> set[str]:
    """What an authorisation may name: a prestation code of a policy, or a prestation's care type (casefolded)."""
    found: set[str] = set()
    for policy in policies:
        for prestation in policy.prestations:
            found.add(prestation.code.casefold())
            if prestation.care_type:
                found.add(prestation.care_type.casefold())
    return found


def request_problems(
    care_type: str,
    requested_on: dt.date,
    granted_on: dt.date,
    valid_until: dt.date,
    today: dt.date,
    care_types: set[str],
) -> list[tuple[str, str]]:
    """Every problem with an authorisation as recorded (field, message); none for a sound one."""
    problems: list[tuple[str, str]] = []
    if care_type.casefold() not in care_types:
        problems.append(("care_type", "neither a prestation code of a policy nor a care type of one"))
    if granted_on > today:
        problems.append(("granted_on", f"lies after today ({today.isoformat()}): a decision not yet taken"))
    if requested_on > granted_on:
        problems.append(("requested_on", "lies after granted_on: it was decided before it was asked for"))
    if valid_until < granted_on:
        problems.append(("valid_until", "must not be before granted_on"))
    return problems
