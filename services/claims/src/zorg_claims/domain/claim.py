"""A claim line (*declaratieregel*) as it arrives, with the checks at the door (bad input is no claim)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zorg_common.identifiers import Agb, Bsn
from zorg_common.policy import Policy, policy_for

SectorCode = Literal["GLI", "GGZ"]


class ClaimLine(BaseModel):
    """One line of a claim file. Field names are the outside contract (CONTRACT.md, Claims)."""

    model_config = ConfigDict(extra="forbid")

    provider_reference: str = Field(min_length=1, max_length=64)
    agb: Agb
    bsn: Bsn
    sector: SectorCode
    prestation_code: str = Field(min_length=1, max_length=32)
    service_date: dt.date
    opening_date: dt.date | None = None  # the start of the treatment trajectory; the service date if left out
    quantity: int = Field(gt=0, le=10_000)
    claimed_cents: int = Field(gt=0, le=100_000_000)
    programme: str | None = Field(default=None, max_length=100)
    programme_start: dt.date | None = None
    referral: bool = False
    authorisation_number: str | None = Field(default=None, max_length=64)
    diagnosis_code: str | None = Field(default=None, max_length=32)
    privacy_statement: bool = False

    @model_validator(mode="after")
    def _dates(self) -> ClaimLine:
        if self.opening_date is None:
            self.opening_date = self.service_date
        if self.opening_date > self.service_date:
            raise ValueError("opening_date: the trajectory cannot open after the service date")
        return self

    @property
    def opened(self) -> dt.date:
        assert self.opening_date is not None
        return self.opening_date

    def stored_diagnosis(self) -> str | None:
        """The diagnosis as it may be kept: never when the insured person made a privacy statement."""
        return None if self.privacy_statement else self.diagnosis_code


class LineFacts(Protocol):
    """What the rules read of a line: a ``ClaimLine`` at the door, a ``StoredLine`` in the worker."""

    @property
    def agb(self) -> str: ...
    @property
    def bsn(self) -> str: ...
    @property
    def sector(self) -> str: ...
    @property
    def prestation_code(self) -> str: ...
    @property
    def service_date(self) -> dt.date: ...
    @property
    def opened(self) -> dt.date: ...
    @property
    def quantity(self) -> int: ...
    @property
    def claimed_cents(self) -> int: ...
    @property
    def programme(self) -> str | None: ...
    @property
    def programme_start(self) -> dt.date | None: ...
    @property
    def referral(self) -> bool: ...
    @property
    def authorisation_number(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class StoredLine:
    """A line as stored, checked at the door already: for the worker, which reads thousands a second."""

    agb: str
    bsn: str
    sector: str
    prestation_code: str
    service_date: dt.date
    opened: dt.date
    quantity: int
    claimed_cents: int
    programme: str | None
    programme_start: dt.date | None
    referral: bool
    authorisation_number: str | None


def contract_year(line: LineFacts, available: dict[str, Policy] | None = None) -> int:
    """The contract year a line is judged in (DOMAIN.md rule 7, seed 001 "dbc's geopend ... in 2021"):
    for a DBC the year of its opening date, for every other prestation the year of its service date."""
    latest = policy_for(line.sector, line.service_date.year, available)
    prestation = latest.prestation(line.prestation_code) if latest is not None else None
    return line.opened.year if prestation is not None and prestation.kind == "DBC" else line.service_date.year


def judging_policy(line: LineFacts, available: dict[str, Policy] | None = None) -> Policy | None:
    """The policy of the line's sector and contract year, else the latest earlier one of the sector."""
    return policy_for(line.sector, contract_year(line, available), available)
