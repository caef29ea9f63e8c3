"""The claims service's tables: claims and their decisions, authorisations, the access log, and read models."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from zorg_common.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

claims = Table(
    "claims",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("provider_reference", String(64), nullable=False),
    Column("agb", String(8), nullable=False),
    Column("bsn", String(9), nullable=False),
    Column("sector", String(3), nullable=False),
    Column("prestation_code", String(32), nullable=False),
    Column("service_date", Date, nullable=False),
    Column("opening_date", Date, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("claimed_cents", Integer, nullable=False),
    Column("programme", String(100), nullable=True),
    Column("programme_start", Date, nullable=True),
    Column("referral", Boolean, nullable=False),
    Column("authorisation_number", String(64), nullable=True),
    Column("diagnosis_code", String(32), nullable=True),  # never kept with a privacy statement
    Column("privacy_statement", Boolean, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("allowed_cents", Integer, nullable=True),
    Column("adjudicated_at", DateTime(timezone=True), nullable=True),
    Column("decision_no", Integer, nullable=False),
    Column("rule_version", String(20), nullable=True),
    Column("decided_by", String(200), nullable=True),  # "rules", or the person who decided
    # Why a pending claim waits: "contract" (procurement in progress) or "review" (a person decides).
    Column("hold", String(20), nullable=True),
    UniqueConstraint("agb", "provider_reference", name="uq_claims_agb_reference"),
    # Room on each page for a claim's decision: deciding changes no indexed column (no index on
    # status), so PostgreSQL can write it as a heap-only update next to the claim, without a new
    # entry in every index. Most claims are decided once, at month-end peak volumes.
    postgresql_with={"fillfactor": 80},
)
# An insured person's claims: at every provider (programme runs), and at one (the same service twice).
Index("ix_claims_insured", claims.c.bsn, claims.c.agb, claims.c.prestation_code, claims.c.service_date)
Index("ix_claims_agb_received", claims.c.agb, claims.c.received_at)  # a provider's claims, newest first
# The few claims on hold (pending: a procurement, or a person's review); hold stays empty for the rest.
Index(
    "ix_claims_held",
    claims.c.hold,
    claims.c.agb,
    claims.c.sector,
    postgresql_where=claims.c.hold.is_not(None),
    sqlite_where=claims.c.hold.is_not(None),
)

# Lines received per provider and calendar month (the first of the month), counted at intake: the
# review rule compares this month with the months before without counting claims every batch.
claim_volume = Table(
    "claim_volume",
    metadata,
    Column("agb", String(8), nullable=False),
    Column("month", Date, nullable=False),
    Column("lines", Integer, nullable=False),
    PrimaryKeyConstraint("agb", "month", name="pk_claim_volume"),
)

# Every decision on a claim, in order: a rerun adds one, it never edits one.
decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(36), nullable=False, index=True),
    Column("decision_no", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("allowed_cents", Integer, nullable=False),
    Column("rule_version", String(20), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(200), nullable=False),
    Column("note", Text, nullable=True),
    # What the decision used: policy, contract and version, evaluation, authorisation, programme run.
    Column("inputs", JSON, nullable=True),
)

authorisations = Table(
    "authorisations",
    metadata,
    Column("number", String(64), primary_key=True),
    Column("bsn", String(9), nullable=False),
    Column("agb", String(8), nullable=False),
    Column("care_type", String(64), nullable=False),  # a prestation code or its care type
    Column("requested_on", Date, nullable=False),
    Column("granted_on", Date, nullable=False),  # the day the insurer decided, granted or refused
    Column("valid_until", Date, nullable=False),
    Column("status", String(10), nullable=False),  # granted, refused
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)
Index("ix_authorisations_agb_bsn", authorisations.c.agb, authorisations.c.bsn)

# NEN 7513: who read which insured person's claim, when. Append-only: no code path updates or
# deletes a row, and the database refuses it (a trigger, see migration 0007_claims_access_log).
access_log = Table(
    "access_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),  # the token's subject
    Column("actor_kind", String(10), nullable=False),  # staff or portal
    Column("via", String(20), nullable=False),  # claim, decisions, list
    Column("claim_id", String(36), nullable=False),
    Column("agb", String(8), nullable=False),
    Column("bsn", String(9), nullable=False),
)
Index("ix_access_log_bsn_at", access_log.c.bsn, access_log.c.at)
Index("ix_access_log_agb_at", access_log.c.agb, access_log.c.at)

# --- read models, kept from zorg.providers, zorg.providers.private and zorg.contracts -------

known_providers = Table(
    "known_providers",
    metadata,
    Column("agb", String(8), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=True),  # individual, care_group, institution; unknown before 0005
    Column("version", Integer, nullable=False),
)

eligibility = Table(
    "eligibility",
    metadata,
    Column("agb", String(8), nullable=False),
    Column("policy_id", String(20), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("route", String(20), nullable=True),
    Column("evaluated_on", Date, nullable=False),
    Column("evaluation_id", String(36), nullable=False),
    PrimaryKeyConstraint("agb", "policy_id", name="pk_eligibility"),
)

bank_accounts = Table(
    "bank_accounts",
    metadata,
    Column("agb", String(8), primary_key=True),
    Column("iban", String(34), nullable=False),
    Column("holder", String(200), nullable=False),
    Column("changed_on", Date, nullable=False),
)

contracts = Table(
    "contracts",
    metadata,
    Column("contract_id", String(64), primary_key=True),
    Column("agb", String(8), nullable=False, index=True),
    Column("sector", String(3), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("tariffs", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # signed, terminated
    Column("terminated_from", Date, nullable=True),
)

# One row per procurement and contract year: a provider may have several procurements open for one
# year (a follow format and a negotiation, say); closing one leaves the others holding claims.
procurements = Table(
    "procurements",
    metadata,
    Column("procurement_id", String(64), nullable=False),
    Column("contract_year", Integer, nullable=False),
    Column("agb", String(8), nullable=False),
    Column("sector", String(3), nullable=False),
    Column("status", String(20), nullable=False),  # in_progress, contracted, closed
    PrimaryKeyConstraint("procurement_id", "contract_year", name="pk_procurements"),
)
Index("ix_procurements_agb", procurements.c.agb, procurements.c.sector, procurements.c.contract_year)
