"""Claims, decisions, authorisations and the read models

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
        "authorisations",
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("bsn", sa.String(length=9), nullable=False),
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("care_type", sa.String(length=64), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_authorisations")),
    )
    with op.batch_alter_table("authorisations", schema=None) as batch_op:
        batch_op.create_index("ix_authorisations_agb_bsn", ["agb", "bsn"], unique=False)

    op.create_table(
        "bank_accounts",
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("changed_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("agb", name=op.f("pk_bank_accounts")),
    )
    op.create_table(
        "claims",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("provider_reference", sa.String(length=64), nullable=False),
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("bsn", sa.String(length=9), nullable=False),
        sa.Column("sector", sa.String(length=3), nullable=False),
        sa.Column("prestation_code", sa.String(length=32), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("opening_date", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("claimed_cents", sa.Integer(), nullable=False),
        sa.Column("programme", sa.String(length=100), nullable=True),
        sa.Column("programme_start", sa.Date(), nullable=True),
        sa.Column("referral", sa.Boolean(), nullable=False),
        sa.Column("authorisation_number", sa.String(length=64), nullable=True),
        sa.Column("diagnosis_code", sa.String(length=32), nullable=True),
        sa.Column("privacy_statement", sa.Boolean(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("allowed_cents", sa.Integer(), nullable=True),
        sa.Column("adjudicated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_no", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.String(length=20), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("hold", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("agb", "provider_reference", name="uq_claims_agb_reference"),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index("ix_claims_agb_status", ["agb", "status"], unique=False)
        batch_op.create_index("ix_claims_received", ["agb", "received_on"], unique=False)
        batch_op.create_index("ix_claims_hold", ["agb", "sector", "hold"], unique=False)
        batch_op.create_index("ix_claims_same_service", ["agb", "bsn", "prestation_code", "service_date"], unique=False)

    op.create_table(
        "contracts",
        sa.Column("contract_id", sa.String(length=64), nullable=False),
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("sector", sa.String(length=3), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("tariffs", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("terminated_from", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("contract_id", name=op.f("pk_contracts")),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contracts_agb"), ["agb"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=36), nullable=False),
        sa.Column("decision_no", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("allowed_cents", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.String(length=20), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_claim_id"), ["claim_id"], unique=False)

    op.create_table(
        "eligibility",
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("policy_id", sa.String(length=20), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("route", sa.String(length=20), nullable=True),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("evaluation_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("agb", "policy_id", name="pk_eligibility"),
    )
    op.create_table(
        "known_providers",
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agb", name=op.f("pk_known_providers")),
    )
    op.create_table(
        "procurements",
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("sector", sa.String(length=3), nullable=False),
        sa.Column("contract_year", sa.Integer(), nullable=False),
        sa.Column("procurement_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("agb", "sector", "contract_year", name="pk_procurements"),
    )


def downgrade() -> None:

    op.drop_table("procurements")
    op.drop_table("known_providers")
    op.drop_table("eligibility")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_claim_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_agb"))

    op.drop_table("contracts")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_same_service")
        batch_op.drop_index("ix_claims_received")
        batch_op.drop_index("ix_claims_hold")
        batch_op.drop_index("ix_claims_agb_status")

    op.drop_table("claims")
    op.drop_table("bank_accounts")
    with op.batch_alter_table("authorisations", schema=None) as batch_op:
        batch_op.drop_index("ix_authorisations_agb_bsn")

    op.drop_table("authorisations")
