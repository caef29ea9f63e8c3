"""Claims indexes that let a decision be a heap-only update: none on status, holds in a partial index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_claims_agb_status", table_name="claims")
    op.drop_index("ix_claims_received", table_name="claims")
    op.drop_index("ix_claims_hold", table_name="claims")
    op.create_index("ix_claims_agb_received", "claims", ["agb", "received_at"])
    op.create_index(
        "ix_claims_held",
        "claims",
        ["hold", "agb", "sector"],
        postgresql_where=sa.text("hold IS NOT NULL"),
        sqlite_where=sa.text("hold IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE claims SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE claims RESET (fillfactor)")
    op.drop_index("ix_claims_held", table_name="claims")
    op.drop_index("ix_claims_agb_received", table_name="claims")
    op.create_index("ix_claims_hold", "claims", ["agb", "sector", "hold"])
    op.create_index("ix_claims_received", "claims", ["agb", "received_on"])
    op.create_index("ix_claims_agb_status", "claims", ["agb", "status"])
