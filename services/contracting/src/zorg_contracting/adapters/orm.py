"""The contracting service's tables (its own database; the outbox and inbox come from zorg_common)."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from zorg_common.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# One row per e-mail, keyed by its Message-ID; the raw message is kept for audit.
intakes = Table(
    "intakes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("message_key", String(64), nullable=False, unique=True),  # sha256 of the Message-ID
    Column("message_id", Text, nullable=False),
    Column("message_id_derived", Boolean, nullable=False),
    Column("channel", String(10), nullable=False),  # smtp, http
    Column("raw", LargeBinary, nullable=False),
    Column("raw_size", Integer, nullable=False),
    Column("sender", String(320), nullable=True),
    Column("subject", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),
    Column("problems", JSON, nullable=False),
    Column("review_reasons", JSON, nullable=False),
    Column("format", JSON, nullable=True),  # the fields as read, for the record
    # The provider's full evaluation (confidential criteria included): staff only.
    Column("evaluation", JSON, nullable=True),
    # Whether the sender was a contact address on file with DMARC not failing (null: not known yet).
    Column("sender_verified", Boolean, nullable=True),
    Column("agb", String(8), nullable=True),
    Column("policy_id", String(20), nullable=True),
    Column("procurement_id", String(36), nullable=True),
    Column("contract_id", String(36), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("reviewed_by", String(200), nullable=True),
    Column("review_note", Text, nullable=True),
    Column("reply_to", String(320), nullable=True),
    Column("reply_subject", Text, nullable=True),
    Column("reply_body", Text, nullable=True),
    Column("reply_sent_at", DateTime(timezone=True), nullable=True),
    Column("reply_error", Text, nullable=True),
    # The trace of the mail's arrival (W3C traceparent), which the decision continues; null when tracing is off.
    Column("traceparent", String(64), nullable=True),
)
Index("ix_intakes_status_next", intakes.c.status, intakes.c.next_attempt_at)
Index("ix_intakes_agb", intakes.c.agb)

# A procurement is in progress from a follow format, an invitation or a negotiation until a
# contract is signed or it is closed.
procurements = Table(
    "procurements",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agb", String(8), nullable=False),
    Column("policy_id", String(20), nullable=False),
    Column("sector", String(3), nullable=False),
    Column("contract_year", Integer, nullable=False),
    Column("route", String(20), nullable=False),
    Column("cause", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # in_progress, contracted, closed
    # Opened by a new institution's contract request: not closed by the deadline (DOMAIN.md).
    Column("all_year", Boolean, nullable=False),
    Column("started_on", Date, nullable=False),
    Column("ended_on", Date, nullable=True),
    Column("reason", Text, nullable=True),
)
Index("ix_procurements_agb_policy", procurements.c.agb, procurements.c.policy_id)
Index("ix_procurements_status", procurements.c.status)

contracts = Table(
    "contracts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agb", String(8), nullable=False),
    Column("policy_id", String(20), nullable=False),
    Column("sector", String(3), nullable=False),
    Column("route", String(20), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("status", String(20), nullable=False),
    Column("tariffs", JSON, nullable=False),
    Column("ceiling_cents", BigInteger, nullable=True),
    Column("kpis", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("signed_on", Date, nullable=True),
    Column("signatory", String(200), nullable=True),
    Column("procurement_id", String(36), nullable=True),
    Column("source", String(20), nullable=False),  # follow_format, negotiation, invitation
    Column("source_id", String(36), nullable=False),
    Column("renegotiation", Boolean, nullable=False),
    Column("terminated_reason", Text, nullable=True),
    Column("terminated_on", Date, nullable=True),
    Column("answers", JSON, nullable=True),  # the questionnaire, as answered when signing (digital route)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_contracts_agb", contracts.c.agb)

# Every version of a contract as it was (amendments, signing, termination).
contract_versions = Table(
    "contract_versions",
    metadata,
    Column("contract_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("snapshot", JSON, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("change", String(40), nullable=False),
)

prognoses = Table(
    "prognoses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(36), nullable=False, index=True),
    Column("period", String(7), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("exceeds_ceiling", Boolean, nullable=False),
    # More than 10% above the agreed round's projection; null: no projection to compare with.
    Column("exceeds_projection", Boolean, nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(200), nullable=False),
)

negotiations = Table(
    "negotiations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agb", String(8), nullable=False, index=True),
    Column("policy_id", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("procurement_id", String(36), nullable=False),
    Column("contract_id", String(36), nullable=True),
    Column("deadline_extended_until", Date, nullable=True),
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
)
#: One running negotiation per provider and policy, also when two requests open one at once.
RUNNING_NEGOTIATION = ("open", "agreed")
Index(
    "uq_negotiations_running",
    negotiations.c.agb,
    negotiations.c.policy_id,
    unique=True,
    postgresql_where=negotiations.c.state.in_(RUNNING_NEGOTIATION),
    sqlite_where=negotiations.c.state.in_(RUNNING_NEGOTIATION),
)

negotiation_rounds = Table(
    "negotiation_rounds",
    metadata,
    Column("negotiation_id", String(36), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("party", String(10), nullable=False),
    Column("tariffs", JSON, nullable=False),
    Column("ceiling_cents", BigInteger, nullable=True),
    Column("kpis", JSON, nullable=False),
    Column("offered_by", String(200), nullable=False),
    Column("offered_at", DateTime(timezone=True), nullable=False),
)

# What a round's offer would cost (issue 15): last year's volumes priced at its tariffs, stored with the
# round. Unavailable while the claims service cannot answer; a worker fills it in later, and staff may
# compute it again (POST /negotiations/{id}/projections/recompute).
round_projections = Table(
    "round_projections",
    metadata,
    Column("negotiation_id", String(36), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("volume_year", Integer, nullable=False),
    Column("status", String(12), nullable=False),  # computed, unavailable
    Column("projection", JSON, nullable=True),
    Column("computed_at", DateTime(timezone=True), nullable=True),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
)

invitations = Table(
    "invitations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agb", String(8), nullable=False),
    Column("policy_id", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("contract_years", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # invited, accepted, closed
    Column("procurement_id", String(36), nullable=False),
    Column("contract_id", String(36), nullable=True),
    Column("evaluation_id", String(36), nullable=True),
    Column("invited_on", Date, nullable=False),
    Column("accepted_on", Date, nullable=True),
    UniqueConstraint("agb", "policy_id", name="uq_invitations_agb_policy"),
)
