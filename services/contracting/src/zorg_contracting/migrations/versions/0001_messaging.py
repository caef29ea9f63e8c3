"""The outbox and inbox of the contracting service.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

from zorg_common.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables_v1(op)


def downgrade() -> None:
    drop_messaging_tables_v1(op)
