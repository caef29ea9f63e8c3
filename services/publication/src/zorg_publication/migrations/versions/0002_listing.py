"""The read model of the public listing: providers, contracts, entries, the change feed and its counter.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    feed_state = op.create_table(
        "feed_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_cursor", sa.BigInteger, nullable=False),
        sa.Column("write_seq", sa.BigInteger, nullable=False),
        sa.Column("epoch", sa.String(32), nullable=False),
    )
    op.bulk_insert(feed_state, [{"id": 1, "last_cursor": 0, "write_seq": 0, "epoch": uuid.uuid4().hex}])
    op.create_table(
        "providers",
        sa.Column("agb", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("postcode", sa.String(7), nullable=True),
        sa.Column("care_forms", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("touched_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "contracts",
        sa.Column("contract_id", sa.String(64), primary_key=True),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("sector", sa.String(3), nullable=False),
        sa.Column("contract_years", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("terminated", sa.Boolean, nullable=False),
        sa.Column("touched_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_contracts_agb", "contracts", ["agb"])
    op.create_table(
        "listing_entries",
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("sector", sa.String(3), primary_key=True),
        sa.Column("agb", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("postcode", sa.String(7), nullable=True),
        sa.Column("care_forms", sa.JSON, nullable=False),
        sa.Column("contract_years", sa.JSON, nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("city_key", sa.String(100), nullable=False),
    )
    op.create_index("ix_listing_entries_year_name", "listing_entries", ["year", "name_key", "agb", "sector"])
    op.create_index("ix_listing_entries_agb", "listing_entries", ["agb"])
    op.create_table(
        "listing_changes",
        sa.Column("cursor", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("sector", sa.String(3), nullable=False),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("op", sa.String(6), nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "listing_releases",
        sa.Column("sector", sa.String(3), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("released_cursor", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("listing_releases")
    op.drop_table("listing_changes")
    op.drop_index("ix_listing_entries_agb", table_name="listing_entries")
    op.drop_index("ix_listing_entries_year_name", table_name="listing_entries")
    op.drop_table("listing_entries")
    op.drop_index("ix_contracts_agb", table_name="contracts")
    op.drop_table("contracts")
    op.drop_table("providers")
    op.drop_table("feed_state")
