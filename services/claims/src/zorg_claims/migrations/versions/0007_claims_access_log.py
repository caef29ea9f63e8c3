"""The access log (NEN 7513): who read which insured person's claim and when; the database refuses edits

Revision ID: 0007_claims_access_log
Revises: 0006_claims_rules_inputs
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_claims_access_log"
down_revision = "0006_claims_rules_inputs"
branch_labels = None
depends_on = None

_POSTGRES_GUARD = (
    "CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'access_log is append-only: % refused', TG_OP; END $$",
    "CREATE TRIGGER access_log_no_change BEFORE UPDATE OR DELETE ON access_log"
    " FOR EACH ROW EXECUTE FUNCTION access_log_append_only()",
    "CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log"
    " FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only()",
)
_SQLITE_GUARD = tuple(
    f"CREATE TRIGGER access_log_no_{op_name.lower()} BEFORE {op_name} ON access_log"
    f" BEGIN SELECT RAISE(ABORT, 'access_log is append-only: {op_name} refused'); END"
    for op_name in ("UPDATE", "DELETE")
)


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_kind", sa.String(10), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("claim_id", sa.String(36), nullable=False),
        sa.Column("agb", sa.String(8), nullable=False),
        sa.Column("bsn", sa.String(9), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index("ix_access_log_bsn_at", "access_log", ["bsn", "at"])
    op.create_index("ix_access_log_agb_at", "access_log", ["agb", "at"])
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES_GUARD if postgres else _SQLITE_GUARD:
        op.execute(statement)


def downgrade() -> None:
    # Dropping the table drops its triggers; the function goes with it.
    op.drop_index("ix_access_log_agb_at", table_name="access_log")
    op.drop_index("ix_access_log_bsn_at", table_name="access_log")
    op.drop_table("access_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION access_log_append_only()")
