"""The outbox and inbox tables every service has (its migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

messaging_metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_Seq = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "outbox",
    messaging_metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
)
Index(
    "ix_outbox_unpublished",
    outbox.c.seq,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)

inbox = Table(
    "inbox",
    messaging_metadata,
    Column("consumer_group", String(200), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("outcome", String(20), nullable=False, server_default=text("'handled'")),
    Column("received_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("consumer_group", "event_id", name="pk_inbox"),
)
# Pruning finds a group's oldest ids through it (INBOX_KEEP_HOURS).
Index("ix_inbox_received", inbox.c.consumer_group, inbox.c.received_at)
