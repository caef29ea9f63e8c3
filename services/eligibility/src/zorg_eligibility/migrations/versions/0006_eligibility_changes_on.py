"""Evaluations record the first day a time-bound verdict would change (the provider is evaluated again then)

Revision ID: 0006_eligibility_changes_on
Revises: 0005_providers_contact_emails
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_eligibility_changes_on"
down_revision = "0005_providers_contact_emails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("changes_on", sa.Date(), nullable=True))
    op.create_index(
        "ix_evaluations_changes_on",
        "evaluations",
        ["changes_on"],
        postgresql_where=sa.text("changes_on IS NOT NULL"),
        sqlite_where=sa.text("changes_on IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_evaluations_changes_on", table_name="evaluations")
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("changes_on")
