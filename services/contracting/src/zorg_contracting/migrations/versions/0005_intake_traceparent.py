"""The trace context of an intake's arrival, so that the worker's decision continues that trace.

Revision ID: 0005_intake_traceparent
Revises: 0004_contracting_trust
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_intake_traceparent"
down_revision = "0004_contracting_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("intakes", sa.Column("traceparent", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("intakes", "traceparent")
