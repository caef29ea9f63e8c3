"""A terminated contract leaves the listing on its end date: the end date, and whether it took effect.

Revision ID: 0004_publication_contract_ends
Revises: 0003_inbox_received_index
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_publication_contract_ends"
down_revision = "0003_inbox_received_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contracts", sa.Column("ends_on", sa.Date, nullable=True))
    op.add_column("contracts", sa.Column("ended", sa.Boolean, nullable=False, server_default=sa.false()))
    # Terminated before this revision: they left the listing when their event came (no end date kept).
    op.execute("UPDATE contracts SET ended = terminated")
    op.create_index("ix_contracts_waiting_end", "contracts", ["ended", "ends_on"])


def downgrade() -> None:
    op.drop_index("ix_contracts_waiting_end", table_name="contracts")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("ended")
        batch.drop_column("ends_on")
