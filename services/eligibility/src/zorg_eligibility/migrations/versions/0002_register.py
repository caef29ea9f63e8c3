"""Provider register, its change log, bank accounts and evaluations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("agb", sa.String(8), primary_key=True),
        sa.Column("kvk", sa.String(8), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sectors", sa.String(40), nullable=False),
        sa.Column("street", sa.String(200), nullable=True),
        sa.Column("postcode", sa.String(7), nullable=True),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("care_forms", sa.JSON, nullable=False),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_providers_name", "providers", ["name"])
    op.create_index("ix_providers_kvk", "providers", ["kvk"])
    op.create_table(
        "provider_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
    )
    op.create_index("ix_provider_changes_agb", "provider_changes", ["agb"])
    op.create_table(
        "bank_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("changed_on", sa.Date, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_bank_accounts_agb", "bank_accounts", ["agb"])
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("policy_id", sa.String(20), nullable=False),
        sa.Column("evaluated_on", sa.Date, nullable=False),
        sa.Column("eligible", sa.Boolean, nullable=False),
        sa.Column("route", sa.String(20), nullable=True),
        sa.Column("contract_years", sa.Integer, nullable=True),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("warnings", sa.JSON, nullable=False),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("provider_version", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_evaluations_agb_created", "evaluations", ["agb", "created_at"])


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_table("bank_accounts")
    op.drop_table("provider_changes")
    op.drop_table("providers")
