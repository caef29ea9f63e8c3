"""Offer projections per negotiation round, and prognoses flagged against the agreed round's projection

Revision ID: 0006_contracting_projections
Revises: 0005_intake_traceparent
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_contracting_projections"
down_revision = "0005_intake_traceparent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "round_projections",
        sa.Column("negotiation_id", sa.String(length=36), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("volume_year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("projection", sa.JSON(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("negotiation_id", "n", name=op.f("pk_round_projections")),
    )
    with op.batch_alter_table("prognoses") as batch:
        batch.add_column(sa.Column("exceeds_projection", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prognoses") as batch:
        batch.drop_column("exceeds_projection")
    op.drop_table("round_projections")
