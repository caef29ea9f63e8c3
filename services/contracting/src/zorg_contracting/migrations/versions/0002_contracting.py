"""Follow-format intakes, procurements, contracts and their versions, prognoses, negotiations, invitations.

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
        "intakes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("message_key", sa.String(64), nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("message_id_derived", sa.Boolean, nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("raw_size", sa.Integer, nullable=False),
        sa.Column("sender", sa.String(320), nullable=True),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("review_reasons", sa.JSON, nullable=False),
        sa.Column("format", sa.JSON, nullable=True),
        sa.Column("agb", sa.String(8), nullable=True),
        sa.Column("policy_id", sa.String(20), nullable=True),
        sa.Column("procurement_id", sa.String(36), nullable=True),
        sa.Column("contract_id", sa.String(36), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(200), nullable=True),
        sa.Column("review_note", sa.Text, nullable=True),
        sa.Column("reply_to", sa.String(320), nullable=True),
        sa.Column("reply_subject", sa.Text, nullable=True),
        sa.Column("reply_body", sa.Text, nullable=True),
        sa.Column("reply_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_error", sa.Text, nullable=True),
        sa.UniqueConstraint("message_key", name="uq_intakes_message_key"),
    )
    op.create_index("ix_intakes_status_next", "intakes", ["status", "next_attempt_at"])
    op.create_index("ix_intakes_agb", "intakes", ["agb"])
    op.create_table(
        "procurements",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("policy_id", sa.String(20), nullable=False),
        sa.Column("sector", sa.String(3), nullable=False),
        sa.Column("contract_year", sa.Integer, nullable=False),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("cause", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_on", sa.Date, nullable=False),
        sa.Column("ended_on", sa.Date, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("ix_procurements_agb_policy", "procurements", ["agb", "policy_id"])
    op.create_table(
        "contracts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("policy_id", sa.String(20), nullable=False),
        sa.Column("sector", sa.String(3), nullable=False),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tariffs", sa.JSON, nullable=False),
        sa.Column("ceiling_cents", sa.BigInteger, nullable=True),
        sa.Column("kpis", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("signed_on", sa.Date, nullable=True),
        sa.Column("signatory", sa.String(200), nullable=True),
        sa.Column("procurement_id", sa.String(36), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("renegotiation", sa.Boolean, nullable=False),
        sa.Column("terminated_reason", sa.Text, nullable=True),
        sa.Column("terminated_on", sa.Date, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_contracts_agb", "contracts", ["agb"])
    op.create_table(
        "contract_versions",
        sa.Column("contract_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("change", sa.String(40), nullable=False),
    )
    op.create_table(
        "prognoses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contract_id", sa.String(36), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("exceeds_ceiling", sa.Boolean, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_prognoses_contract_id", "prognoses", ["contract_id"])
    op.create_table(
        "negotiations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("policy_id", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("procurement_id", sa.String(36), nullable=False),
        sa.Column("contract_id", sa.String(36), nullable=True),
        sa.Column("deadline_extended_until", sa.Date, nullable=True),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_negotiations_agb", "negotiations", ["agb"])
    op.create_table(
        "negotiation_rounds",
        sa.Column("negotiation_id", sa.String(36), primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True),
        sa.Column("party", sa.String(10), nullable=False),
        sa.Column("tariffs", sa.JSON, nullable=False),
        sa.Column("ceiling_cents", sa.BigInteger, nullable=True),
        sa.Column("kpis", sa.JSON, nullable=False),
        sa.Column("offered_by", sa.String(200), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("policy_id", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("contract_years", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("procurement_id", sa.String(36), nullable=False),
        sa.Column("contract_id", sa.String(36), nullable=True),
        sa.Column("evaluation_id", sa.String(36), nullable=True),
        sa.Column("invited_on", sa.Date, nullable=False),
        sa.Column("accepted_on", sa.Date, nullable=True),
        sa.UniqueConstraint("agb", "policy_id", name="uq_invitations_agb_policy"),
    )


def downgrade() -> None:
    for table in (
        "invitations",
        "negotiation_rounds",
        "negotiations",
        "prognoses",
        "contract_versions",
        "contracts",
        "procurements",
        "intakes",
    ):
        op.drop_table(table)
