"""Claim totals per contract year, provider and prestation (issue 15); filled from the claims already decided

Revision ID: 0008_claims_totals
Revises: 0007_claims_access_log
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from zorg_common.policy import policies

revision = "0008_claims_totals"
down_revision = "0007_claims_access_log"
branch_labels = None
depends_on = None


def _year_of(column: str, postgres: bool) -> str:
    return f"CAST(EXTRACT(YEAR FROM {column}) AS INTEGER)" if postgres else f"CAST(strftime('%Y', {column}) AS INTEGER)"


def upgrade() -> None:
    op.create_table(
        "claim_totals",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("agb", sa.String(length=8), nullable=False),
        sa.Column("prestation_code", sa.String(length=32), nullable=False),
        sa.Column("sector", sa.String(length=3), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("claimed_cents", sa.BigInteger(), nullable=False),
        sa.Column("paid_lines", sa.Integer(), nullable=False),
        sa.Column("paid_quantity", sa.BigInteger(), nullable=False),
        sa.Column("allowed_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", "agb", "prestation_code", name=op.f("pk_claim_totals")),
    )
    # The claims decided before this revision, counted as zorg_claims/domain/volume.py counts them: the
    # contract year (a DBC's opening year), delivered = paid or refused but for a duplicate or a
    # person's rejection, paid = approved or partly approved.
    postgres = op.get_bind().dialect.name == "postgresql"
    dbc = sorted({p.code for policy in policies().values() for p in policy.prestations if p.kind == "DBC"})
    codes = ", ".join(f"'{code}'" for code in dbc) or "''"  # policy data, not input: codes are [A-Z0-9-]
    opened, served = _year_of("opening_date", postgres), _year_of("service_date", postgres)
    year = f"CASE WHEN prestation_code IN ({codes}) THEN {opened} ELSE {served} END"
    reasons = "CAST(reasons AS TEXT)" if postgres else "reasons"
    paid = "status IN ('approved', 'partially_approved')"
    delivered = (
        f"({paid} OR (status = 'rejected' AND {reasons} NOT LIKE '%\"DUPLICATE\"%'"
        f" AND {reasons} NOT LIKE '%\"REVIEW_REJECTED\"%'))"
    )
    op.execute(
        "INSERT INTO claim_totals (year, agb, prestation_code, sector, lines, quantity, claimed_cents, paid_lines,"
        " paid_quantity, allowed_cents)"
        f" SELECT {year}, agb, prestation_code, min(sector), count(*),"
        " sum(quantity), sum(claimed_cents),"
        f" sum(CASE WHEN {paid} THEN 1 ELSE 0 END), sum(CASE WHEN {paid} THEN quantity ELSE 0 END),"
        f" sum(CASE WHEN {paid} THEN COALESCE(allowed_cents, 0) ELSE 0 END)"
        f" FROM claims WHERE {delivered} GROUP BY {year}, agb, prestation_code"
    )


def downgrade() -> None:
    op.drop_table("claim_totals")
