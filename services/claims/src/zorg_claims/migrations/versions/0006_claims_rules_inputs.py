"""What the rules need and keep: provider kind, authorisation request date and status, decision inputs,
procurements per procurement, and an insured person's claims found by BSN

Revision ID: 0006_claims_rules_inputs
Revises: 0005_inbox_received_index
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_claims_rules_inputs"
down_revision = "0005_inbox_received_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("known_providers") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=True))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
    # Authorisations recorded before this revision were granted and asked for on the day they were granted.
    with op.batch_alter_table("authorisations") as batch:
        batch.add_column(sa.Column("requested_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("status", sa.String(10), nullable=True))
    op.execute("UPDATE authorisations SET requested_on = granted_on, status = 'granted'")
    with op.batch_alter_table("authorisations") as batch:
        batch.alter_column("requested_on", existing_type=sa.Date(), nullable=False)
        batch.alter_column("status", existing_type=sa.String(10), nullable=False)
    with op.batch_alter_table("procurements", recreate="always") as batch:
        batch.drop_constraint("pk_procurements", type_="primary")
        batch.create_primary_key("pk_procurements", ["procurement_id", "contract_year"])
    op.create_index("ix_procurements_agb", "procurements", ["agb", "sector", "contract_year"])
    op.drop_index("ix_claims_same_service", table_name="claims")
    op.create_index("ix_claims_insured", "claims", ["bsn", "agb", "prestation_code", "service_date"])


def downgrade() -> None:
    op.drop_index("ix_claims_insured", table_name="claims")
    op.create_index("ix_claims_same_service", "claims", ["agb", "bsn", "prestation_code", "service_date"])
    op.drop_index("ix_procurements_agb", table_name="procurements")
    # One row per provider, sector and year again: of several procurements the open one wins.
    op.execute(
        "DELETE FROM procurements WHERE EXISTS (SELECT 1 FROM procurements AS p WHERE p.agb = procurements.agb"
        " AND p.sector = procurements.sector AND p.contract_year = procurements.contract_year"
        " AND (p.status = 'in_progress') > (procurements.status = 'in_progress'))"
    )
    op.execute(
        "DELETE FROM procurements WHERE EXISTS (SELECT 1 FROM procurements AS p WHERE p.agb = procurements.agb"
        " AND p.sector = procurements.sector AND p.contract_year = procurements.contract_year"
        " AND (p.status = 'in_progress') = (procurements.status = 'in_progress')"
        " AND p.procurement_id > procurements.procurement_id)"
    )
    with op.batch_alter_table("procurements", recreate="always") as batch:
        batch.drop_constraint("pk_procurements", type_="primary")
        batch.create_primary_key("pk_procurements", ["agb", "sector", "contract_year"])
    with op.batch_alter_table("authorisations") as batch:
        batch.drop_column("status")
        batch.drop_column("requested_on")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("inputs")
    with op.batch_alter_table("known_providers") as batch:
        batch.drop_column("kind")
