"""The provider's contact addresses (where it mails from and is answered at; staff only).

Revision ID: 0005_providers_contact_emails
Revises: 0004_inbox_received_index
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_providers_contact_emails"
down_revision = "0004_inbox_received_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Providers on file before this revision have no contact addresses yet: staff add them.
    op.add_column("providers", sa.Column("contact_emails", sa.JSON, nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("providers") as batch:
        batch.drop_column("contact_emails")
