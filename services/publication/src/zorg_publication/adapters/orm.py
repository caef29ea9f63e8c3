"""The publication service's tables (its own database; the outbox and inbox come from zorg_common).

Only public fields are stored: the read model cannot leak what it never kept.
"""

from sqlalchemy import JSON, BigInteger, Boolean, Column, Date, DateTime, Index, Integer, MetaData, String, Table, Text

from zorg_common.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# One row (id 1). Every transaction that changes the read model updates it first, which locks it:
# cursors are then handed out in commit order, and the change feed never skips a late commit.
feed_state = Table(
    "feed_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_cursor", BigInteger, nullable=False),  # the highest cursor handed out (and committed)
    Column("write_seq", BigInteger, nullable=False),  # +1 per writing transaction (the rebuild's merge mark)
    Column("epoch", String(32), nullable=False),  # this read model's identity, part of every ETag
)

# The public face of each provider, from ProviderRegistered / ProviderUpdated.
providers = Table(
    "providers",
    metadata,
    Column("agb", String(8), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("city", String(100), nullable=True),
    Column("postcode", String(7), nullable=True),
    Column("care_forms", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("touched_seq", BigInteger, nullable=False),
)

# What publication keeps of each contract (a terminated one stays as a tombstone, listed until it ends).
contracts = Table(
    "contracts",
    metadata,
    Column("contract_id", String(64), primary_key=True),
    Column("agb", String(8), nullable=False, index=True),
    Column("sector", String(3), nullable=False),
    Column("contract_years", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("terminated", Boolean, nullable=False),
    Column("ends_on", Date, nullable=True),  # the termination's effective_on: off the listing from that day
    # The end has been applied to the listing (true for every contract not waiting for its end date).
    Column("ended", Boolean, nullable=False),
    Column("touched_seq", BigInteger, nullable=False),
)
Index("ix_contracts_waiting_end", contracts.c.ended, contracts.c.ends_on)

# The listing itself: one row per contract year, sector and provider.
listing_entries = Table(
    "listing_entries",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("sector", String(3), primary_key=True),
    Column("agb", String(8), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("city", String(100), nullable=True),
    Column("postcode", String(7), nullable=True),
    Column("care_forms", JSON, nullable=False),
    Column("contract_years", JSON, nullable=False),
    Column("name_key", String(200), nullable=False),  # search_key(name): search and order
    Column("city_key", String(100), nullable=False),
)
# The order of a page: an index scan that stops after one page, also for a year of 10,000 entries.
Index(
    "ix_listing_entries_year_name",
    listing_entries.c.year,
    listing_entries.c.name_key,
    listing_entries.c.agb,
    listing_entries.c.sector,
)
Index("ix_listing_entries_agb", listing_entries.c.agb)

# The change feed: cursors strictly increasing in commit order.
listing_changes = Table(
    "listing_changes",
    metadata,
    Column("cursor", BigInteger, primary_key=True, autoincrement=False),
    Column("year", Integer, nullable=False),
    Column("sector", String(3), nullable=False),
    Column("agb", String(8), nullable=False),
    Column("op", String(6), nullable=False),
    Column("item", Text, nullable=False),  # the public item as JSON, served as written
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# Per sector and contract year that ever had an entry: from which cursor its changes are public.
# NULL: not (yet) published; the first feed read after the publication date writes a snapshot.
listing_releases = Table(
    "listing_releases",
    metadata,
    Column("sector", String(3), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("released_cursor", BigInteger, nullable=True),
)
