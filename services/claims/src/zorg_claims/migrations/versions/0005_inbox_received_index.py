"""The inbox's index on (consumer_group, received_at): consumers prune their old event ids

Revision ID: 0005_inbox_received_index
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

from zorg_common.migrations import create_inbox_received_index, drop_inbox_received_index

revision = "0005_inbox_received_index"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_inbox_received_index(op)


def downgrade() -> None:
    drop_inbox_received_index(op)
