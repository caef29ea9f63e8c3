"""Contracting you can trust: the sender check and evaluation of an intake, all-year procurements,
questionnaire answers with the contract, and one running negotiation per provider and policy.

Revision ID: 0004_contracting_trust
Revises: 0003_inbox_received_index
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_contracting_trust"
down_revision = "0003_inbox_received_index"
branch_labels = None
depends_on = None

RUNNING = "state IN ('open', 'agreed')"


def upgrade() -> None:
    op.add_column("intakes", sa.Column("evaluation", sa.JSON, nullable=True))
    op.add_column("intakes", sa.Column("sender_verified", sa.Boolean, nullable=True))
    op.add_column("procurements", sa.Column("all_year", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_procurements_status", "procurements", ["status"])
    op.add_column("contracts", sa.Column("answers", sa.JSON, nullable=True))
    op.create_index(
        "uq_negotiations_running",
        "negotiations",
        ["agb", "policy_id"],
        unique=True,
        postgresql_where=sa.text(RUNNING),
        sqlite_where=sa.text(RUNNING),
    )


def downgrade() -> None:
    op.drop_index("uq_negotiations_running", table_name="negotiations")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("answers")
    op.drop_index("ix_procurements_status", table_name="procurements")
    with op.batch_alter_table("procurements") as batch:
        batch.drop_column("all_year")
    with op.batch_alter_table("intakes") as batch:
        batch.drop_column("sender_verified")
        batch.drop_column("evaluation")
