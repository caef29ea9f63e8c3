"""The eligibility service's tables (its own database; the outbox and inbox come from zorg_common)."""

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Index, Integer, MetaData, String, Table, Text

from zorg_common.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

providers = Table(
    "providers",
    metadata,
    Column("agb", String(8), primary_key=True),
    Column("kvk", String(8), nullable=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    # ",GLI,GGZ," so that a sector filter is a portable LIKE '%,GLI,%'
    Column("sectors", String(40), nullable=False),
    Column("street", String(200), nullable=True),
    Column("postcode", String(7), nullable=True),
    Column("city", String(100), nullable=True),
    Column("care_forms", JSON, nullable=False),
    # Where the provider mails from and is answered at (addr-specs, lower case): staff only.
    Column("contact_emails", JSON, nullable=False),
    # Only the facts on file: a missing key is an unknown fact.
    Column("facts", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)
Index("ix_providers_name", providers.c.name)
Index("ix_providers_kvk", providers.c.kvk)

# Who changed what when: one row per version of a provider.
provider_changes = Table(
    "provider_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agb", String(8), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("changes", JSON, nullable=False),  # {field: [old, new]}
)

bank_accounts = Table(
    "bank_accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agb", String(8), nullable=False, index=True),
    Column("iban", String(34), nullable=False),
    Column("holder", String(200), nullable=False),
    Column("changed_on", Date, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200), nullable=False),
)

# Never edited: a changed fact gives a new evaluation.
evaluations = Table(
    "evaluations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agb", String(8), nullable=False),
    Column("policy_id", String(20), nullable=False),
    Column("evaluated_on", Date, nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("route", String(20), nullable=True),
    Column("contract_years", Integer, nullable=True),
    Column("criteria", JSON, nullable=False),
    Column("warnings", JSON, nullable=False),
    Column("facts", JSON, nullable=False),  # the facts it used
    # The first day a time-bound verdict would change (an error leaving the five-year window): the
    # provider is evaluated again on that day.
    Column("changes_on", Date, nullable=True),
    Column("provider_version", Integer, nullable=False),
    Column("trigger", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("note", Text, nullable=True),
)
Index("ix_evaluations_agb_created", evaluations.c.agb, evaluations.c.created_at)
Index(
    "ix_evaluations_changes_on",
    evaluations.c.changes_on,
    postgresql_where=evaluations.c.changes_on.is_not(None),
    sqlite_where=evaluations.c.changes_on.is_not(None),
)

# Mijn Zorgverlener: one account per person at one provider. The e-mail address is the log-in
# name (stored lower-case); the password only as an Argon2id hash, null until activated.
portal_accounts = Table(
    "portal_accounts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agb", String(8), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False, unique=True),
    Column("birth_date", Date, nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("status", String(10), nullable=False),  # pending, active, disabled
    Column("failures", Integer, nullable=False),  # wrong tries in a row
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("activated_at", DateTime(timezone=True), nullable=True),
    Column("password_changed_at", DateTime(timezone=True), nullable=True),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Column("disabled_by", String(200), nullable=True),
)

# One-time codes (activation, password reset), stored only as their SHA-256.
portal_codes = Table(
    "portal_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("account_id", String(36), nullable=False, index=True),
    Column("purpose", String(10), nullable=False),  # activation, reset
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

# Mail to account holders, written in the transaction that caused it and sent by a worker through
# the relay (REPLY_SMTP_HOST). Without a relay it is kept here for staff; once sent, the body
# (which may hold a code) is emptied.
portal_mail = Table(
    "portal_mail",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(36), nullable=False, index=True),
    Column("to_address", String(254), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", String(500), nullable=True),
)
Index("ix_portal_mail_unsent", portal_mail.c.next_attempt_at, postgresql_where=portal_mail.c.sent_at.is_(None))
