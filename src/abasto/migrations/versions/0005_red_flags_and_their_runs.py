"""red flags and their runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "red_flag_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fallo_id", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_flag_runs")),
    )
    op.create_table(
        "red_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("tender_id", sa.Integer(), nullable=True),
        sa.Column("tender_number", sa.String(length=40), nullable=True),
        sa.Column("partida_number", sa.Integer(), nullable=True),
        sa.Column("supplier_id", sa.Integer(), nullable=True),
        sa.Column("supplier_rfc", sa.String(length=13), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("institution_code", sa.String(length=40), nullable=True),
        sa.Column("clave", sa.String(length=20), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_red_flags_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["red_flag_runs.id"], name=op.f("fk_red_flags_run_id_red_flag_runs")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_red_flags_supplier_id_suppliers")
        ),
        sa.ForeignKeyConstraint(
            ["tender_id"], ["tenders.id"], name=op.f("fk_red_flags_tender_id_tenders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_flags")),
    )
    with op.batch_alter_table("red_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_red_flags_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_red_flags_tender_id"), ["tender_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_red_flags_supplier_id"), ["supplier_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_red_flags_supplier_rfc"), ["supplier_rfc"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_red_flags_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_red_flags_clave"), ["clave"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("red_flags", schema=None) as batch_op:
        for column in ("clave", "institution_id", "supplier_rfc", "supplier_id", "tender_id"):
            batch_op.drop_index(batch_op.f(f"ix_red_flags_{column}"))
        batch_op.drop_index(batch_op.f("ix_red_flags_code"))
    op.drop_table("red_flags")
    op.drop_table("red_flag_runs")
