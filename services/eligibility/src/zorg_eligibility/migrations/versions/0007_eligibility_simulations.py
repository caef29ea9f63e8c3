"""Policy impact simulations: a draft policy against the current one over the register, stored with its result

Revision ID: 0007_eligibility_simulations
Revises: 0006_eligibility_changes_on
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_eligibility_simulations"
down_revision = "0006_eligibility_changes_on"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "simulations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=20), nullable=False),
        sa.Column("current_policy_id", sa.String(length=20), nullable=False),
        sa.Column("sector", sa.String(length=3), nullable=False),
        sa.Column("simulated_on", sa.Date(), nullable=False),
        sa.Column("claims_year", sa.Integer(), nullable=False),
        sa.Column("claims_available", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulations")),
    )
    op.create_index("ix_simulations_created_at", "simulations", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_simulations_created_at", table_name="simulations")
    op.drop_table("simulations")
