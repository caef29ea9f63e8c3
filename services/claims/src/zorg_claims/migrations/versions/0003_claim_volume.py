"""Lines received per provider and month, for the review rule; filled from the claims already there

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim_volume",
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agb", "month", name=op.f("pk_claim_volume")),
    )
    month = (
        "date_trunc('month', received_on)::date"
        if op.get_bind().dialect.name == "postgresql"
        else "date(received_on, 'start of month')"
    )
    op.execute(
        f"INSERT INTO claim_volume (agb, month, lines) SELECT agb, {month}, count(*) FROM claims GROUP BY agb, {month}"
    )


def downgrade() -> None:
    op.drop_table("claim_volume")
