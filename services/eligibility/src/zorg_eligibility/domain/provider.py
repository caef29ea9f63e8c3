"""A provider in the register (*zorgaanbieder*): identity, address, care forms and the facts on file."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zorg_common import clock
from zorg_common.identifiers import EmailAddress, Iban, Kvk, Postcode, address_key
from zorg_common.values import IsoDate

Kind = Literal["individual", "care_group", "institution"]
SectorCode = Literal["GLI", "GGZ"]
CareForm = Literal["in_person", "digital", "hybrid"]


class Facts(BaseModel):
    """One field per fact a criterion reads. A field left out is unknown, never false.

    For yes/no and number facts ``null`` is unknown too; for ``serious_misconduct_on`` ``null``
    means "none on file". Strict: a yes/no fact is a JSON boolean and a number a JSON integer
    (``0`` is not "no", ``false`` is not zero), or a criterion would read what nobody said.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    kvk_registered: bool | None = None
    wtza_admitted: bool | None = None
    ubo_known: bool | None = None
    ubo_sanctioned: bool | None = None
    blcn_registered: bool | None = None
    vektis_lifestyle_coach: bool | None = None
    programmes: list[str] | None = None
    in_fraud_register: bool | None = None
    fraud_investigation: bool | None = None
    enhanced_supervision: bool | None = None
    sound_administration: bool | None = None
    vecozo_certificate: bool | None = None
    professional_standards: bool | None = None
    refuses_care: bool | None = None
    serious_misconduct_on: IsoDate | None = Field(default=None, strict=False)  # from its ISO text
    quality_concerns: bool | None = None
    co2_roadmap: bool | None = None
    hybrid_care_published: bool | None = None
    quality_statute_ii_approved: bool | None = None
    claims_total_prev_year_cents: int | None = Field(default=None, ge=0)
    insured_treated_prev_year: int | None = Field(default=None, ge=0)

    @field_validator("serious_misconduct_on")
    @classmethod
    def _not_after_the_evaluation(cls, value: dt.date | None) -> dt.date | None:
        # Facts are evaluated on the day they are recorded: an error dated after it is a mistake in
        # the input, not a verdict (DOMAIN.md, verdicts that change with time).
        today = clock.today()
        if value is not None and value > today:
            raise ValueError(
                f"lies after the evaluation date {today.isoformat()}: an error is recorded once it happened"
            )
        return value

    def on_file(self) -> dict[str, Any]:
        """The facts as stored: only those given, in JSON form; a null kept only where it means "none"."""
        given = self.model_dump(mode="json", exclude_unset=True)
        return {k: v for k, v in sorted(given.items()) if v is not None or k == "serious_misconduct_on"}


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: str | None = Field(default=None, max_length=200)
    postcode: Postcode | None = None
    city: str | None = Field(default=None, max_length=100)


class ProviderData(BaseModel):
    """What a caller says about a provider (`PUT /providers/{agb}` and the bulk import)."""

    model_config = ConfigDict(extra="forbid")

    kvk: Kvk | None = None
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    sectors: list[SectorCode] = Field(min_length=1)
    address: Address = Address()
    care_forms: list[CareForm] = []
    #: The addresses the provider mails from and is answered at (staff only; DOMAIN.md, who may
    #: send a follow format). Left out (null): the addresses on file stay as they are.
    contact_emails: list[EmailAddress] | None = Field(default=None, max_length=20)
    facts: Facts = Facts()

    @field_validator("contact_emails")
    @classmethod
    def _one_each(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        keys = [address_key(a) for a in value]
        if len(set(keys)) != len(keys):
            raise ValueError("lists each address at most once (case does not matter)")
        return sorted(keys)

    @field_validator("sectors", "care_forms")
    @classmethod
    def _no_doubles(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists each value at most once")
        return sorted(value)

    @field_validator("name")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value

    def record(self, contacts_on_file: list[str] | None = None) -> dict[str, Any]:
        """The stored form, for comparing with what is on file (contact addresses left out: those on file)."""
        return {
            "kvk": self.kvk,
            "name": self.name,
            "kind": self.kind,
            "sectors": list(self.sectors),
            "street": self.address.street,
            "postcode": self.address.postcode,
            "city": self.address.city,
            "care_forms": list(self.care_forms),
            "contact_emails": list(self.contact_emails if self.contact_emails is not None else contacts_on_file or []),
            "facts": self.facts.on_file(),
        }


#: Fields whose change calls for a new evaluation.
EVALUATION_INPUTS = frozenset({"kind", "sectors", "facts"})


def changes(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field that differs (all fields for a new provider)."""
    return {k: [None if old is None else old.get(k), v] for k, v in new.items() if old is None or old.get(k) != v}


class BankAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iban: Iban
    holder: str = Field(min_length=1, max_length=200)
