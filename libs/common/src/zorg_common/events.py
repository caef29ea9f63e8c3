"""The events between services: CloudEvents 1.0 envelopes around one typed model per event type.

The event types are the platform's outside contract (CONTRACT.md, "Events"); the rules that
produce them live in the owning service. Every event is keyed by the provider's AGB code so
that one provider's events keep their order on any number of partitions.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import clock
from .identifiers import Agb

TOPIC_PROVIDERS = "zorg.providers"
#: Facts, evaluations and bank accounts: read by the claims service only, never by publication
#: (DOMAIN.md, "Personal data"); keyed by AGB code like the rest.
TOPIC_PROVIDERS_PRIVATE = "zorg.providers.private"
TOPIC_CONTRACTS = "zorg.contracts"
TOPIC_CLAIMS = "zorg.claims"
TOPICS = (TOPIC_PROVIDERS, TOPIC_PROVIDERS_PRIVATE, TOPIC_CONTRACTS, TOPIC_CLAIMS)
DLQ_SUFFIX = ".dlq"

Sector = Literal["GLI", "GGZ"]
Route = Literal["follow", "restitution", "digital", "offer"]


class Event(BaseModel):
    """The ``data`` of an event. Subclasses name their type, topic and data version."""

    # Newer producers may add fields; older consumers ignore them instead of failing.
    model_config = ConfigDict(extra="ignore", frozen=True)

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]
    DATAVERSION: ClassVar[str] = "1"

    agb: Agb

    @property
    def key(self) -> str:
        return self.agb


EVENT_TYPES: dict[str, type[Event]] = {}


def event_type(cls: type[Event]) -> type[Event]:
    """Register an event model under its type name (class decorator)."""
    if cls.TYPE in EVENT_TYPES and EVENT_TYPES[cls.TYPE] is not cls:
        raise ValueError(f"event type {cls.TYPE} registered twice")
    EVENT_TYPES[cls.TYPE] = cls
    return cls


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 structured-mode JSON envelope with the ``dataversion`` extension."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: dt.datetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    dataversion: str = "1"
    data: dict[str, Any]
    #: The W3C trace context of the span that emitted the event (the CloudEvents Distributed
    #: Tracing extension); only while tracing is on. Declared after ``data`` so that they are
    #: written last, where the relay finds them without parsing the payload.
    traceparent: str | None = Field(
        default=None, description="W3C trace context of the span that emitted the event (when tracing is on)."
    )
    tracestate: str | None = Field(default=None, description="W3C tracestate that goes with traceparent.")

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate_json(raw)

    def payload(self) -> Event:
        """The typed data; raises ``UnknownEventType`` or pydantic's ``ValidationError``."""
        model = EVENT_TYPES.get(self.type)
        if model is None:
            raise UnknownEventType(self.type)
        return model.model_validate(self.data)


class UnknownEventType(LookupError):
    pass


def new_id() -> str:
    """A time-ordered UUID (version 7, RFC 9562) as text, for event and record ids.

    The first 48 bits are the Unix time in milliseconds, the other 74 are random: ids made later
    sort later, so each new key lands at the right edge of the inboxes', outboxes' and tables'
    indexes instead of on a random page (fewer pages touched, and written to the WAL, per insert
    at month-end volumes), and they remain unguessable. A third of the cost of ``uuid.uuid4()``.
    """
    h = f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


# RFC 9562 variant bits (10xx) on the first hex digit of the fourth group.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def envelope(event: Event, source: str, *, event_id: str | None = None) -> CloudEvent:
    return CloudEvent(
        id=event_id or new_id(),
        source=source,
        type=event.TYPE,
        time=clock.utcnow(),
        subject=event.key,
        dataversion=event.DATAVERSION,
        data=event.model_dump(mode="json"),
    )


def topic_name(prefix: str, topic: str) -> str:
    return f"{prefix}{topic}" if prefix else topic


__all__ = ["EVENT_TYPES", "CloudEvent", "Event", "ValidationError", "envelope", "event_type", "new_id", "topic_name"]


# --- zorg.providers -----------------------------------------------------------------------


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)
    street: str | None = None
    postcode: str | None = None
    city: str | None = None


class _ProviderState(Event):
    # Version 2: no ``changed_by`` (who changed it is a person, kept in eligibility's change log).
    TOPIC: ClassVar[str] = TOPIC_PROVIDERS
    DATAVERSION: ClassVar[str] = "2"
    kvk: str | None = None
    name: str
    kind: Literal["individual", "care_group", "institution"]
    sectors: list[Sector]
    address: Address = Address()
    care_forms: list[Literal["in_person", "digital", "hybrid"]] = []
    version: int = 1


@event_type
class ProviderRegistered(_ProviderState):
    """A provider entered the register (public fields only: name, kind, sectors, address, care forms)."""

    TYPE: ClassVar[str] = "ProviderRegistered"


@event_type
class ProviderUpdated(_ProviderState):
    """A provider's register entry changed; ``changed_fields`` names what changed."""

    TYPE: ClassVar[str] = "ProviderUpdated"
    changed_fields: list[str] = []


# --- zorg.providers.private ---------------------------------------------------------------


@event_type
class BankAccountChanged(Event):
    """The provider's bank account for payments changed (IBAN validated)."""

    TYPE: ClassVar[str] = "BankAccountChanged"
    TOPIC: ClassVar[str] = TOPIC_PROVIDERS_PRIVATE
    iban: str
    holder: str
    changed_on: dt.date


class CriterionVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    verdict: Literal["pass", "fail", "unknown"]
    blocking: bool


@event_type
class EligibilityDetermined(Event):
    """A provider was evaluated under a policy: eligible or not, the route, each criterion's verdict."""

    TYPE: ClassVar[str] = "EligibilityDetermined"
    TOPIC: ClassVar[str] = TOPIC_PROVIDERS_PRIVATE
    evaluation_id: str
    policy_id: str
    sector: Sector
    contract_year: int
    eligible: bool
    route: Route | None
    criteria: list[CriterionVerdict]
    warnings: list[str] = []
    evaluated_on: dt.date


# --- zorg.contracts -----------------------------------------------------------------------


class Tariff(BaseModel):
    model_config = ConfigDict(frozen=True)
    prestation_code: str
    amount_cents: int = Field(gt=0)


class Kpi(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    description: str
    incentive_pct: float = Field(ge=0, le=100)


@event_type
class ProcurementStarted(Event):
    """Procurement is in progress for a provider, sector and contract year (claims for it wait)."""

    TYPE: ClassVar[str] = "ProcurementStarted"
    TOPIC: ClassVar[str] = TOPIC_CONTRACTS
    procurement_id: str
    policy_id: str
    sector: Sector
    contract_year: int
    route: Route
    started_on: dt.date
    cause: Literal["follow_format", "invitation", "negotiation"]


@event_type
class ContractSigned(Event):
    """A contract (or a new version of it) was signed: its years, tariffs, ceiling and KPIs."""

    TYPE: ClassVar[str] = "ContractSigned"
    TOPIC: ClassVar[str] = TOPIC_CONTRACTS
    # Version 2: no ``signatory`` (a person's name; contracting keeps it with the contract).
    DATAVERSION: ClassVar[str] = "2"
    contract_id: str
    procurement_id: str | None = None
    policy_id: str
    sector: Sector
    route: Route
    start_date: dt.date
    end_date: dt.date
    contract_years: list[int]
    tariffs: list[Tariff]
    ceiling_cents: int | None = None
    kpis: list[Kpi] = []
    version: int = 1
    signed_on: dt.date


@event_type
class ContractTerminated(Event):
    """A contract ends on ``effective_on``."""

    TYPE: ClassVar[str] = "ContractTerminated"
    TOPIC: ClassVar[str] = TOPIC_CONTRACTS
    contract_id: str
    sector: Sector
    reason: str
    effective_on: dt.date
    version: int


@event_type
class ProcurementClosed(Event):
    """Procurement for a provider and year ended without a contract (or at the deadline)."""

    TYPE: ClassVar[str] = "ProcurementClosed"
    TOPIC: ClassVar[str] = TOPIC_CONTRACTS
    procurement_id: str
    policy_id: str
    sector: Sector
    contract_year: int
    closed_on: dt.date
    reason: str | None = None


# --- zorg.claims --------------------------------------------------------------------------


@event_type
class ClaimSubmitted(Event):
    """A claim line was taken in: its id and keys, nothing personal (no BSN, no diagnosis).

    The adjudication reads the line itself from the claims database. Version 1 carried the whole
    line; a version-1 event still on a topic is read as this one (its other fields are ignored).
    """

    TYPE: ClassVar[str] = "ClaimSubmitted"
    TOPIC: ClassVar[str] = TOPIC_CLAIMS
    DATAVERSION: ClassVar[str] = "2"
    claim_id: str
    sector: Sector
    received_on: dt.date


class ReasonCode(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    vektis_code: str | None = None


@event_type
class ClaimAdjudicated(Event):
    """A claim line was decided, by the rules or by a person: status, reasons and amounts."""

    TYPE: ClassVar[str] = "ClaimAdjudicated"
    TOPIC: ClassVar[str] = TOPIC_CLAIMS
    claim_id: str
    status: Literal["approved", "partially_approved", "rejected", "pending"]
    reasons: list[ReasonCode]
    claimed_cents: int
    allowed_cents: int
    rule_version: str
    decision_no: int = 1
    adjudicated_at: dt.datetime
