"""supplier standing (status, sanction binding, every name borne), renames, login throttles

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUPPLIER_STATUS = ("pendiente", "verificado", "rechazado")
_RENAME_STATUS = ("pendiente", "aprobado", "rechazado")


def upgrade() -> None:
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        # Suppliers registered before verification existed were admitted by the buyer: they
        # keep bidding. New rows always name their status.
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(*_SUPPLIER_STATUS, name="supplierstatus", native_enum=False, length=12),
                nullable=False,
                server_default="verificado",
            )
        )
        batch_op.add_column(
            sa.Column("sanctioned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("tax_certificate", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("articles_of_incorporation", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("representative", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("review_note", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "supplier_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("razon_social", sa.String(length=300), nullable=False),
        sa.Column("normalised_name", sa.String(length=300), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_supplier_names_supplier_id_suppliers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_names")),
        sa.UniqueConstraint(
            "supplier_id",
            "normalised_name",
            name=op.f("uq_supplier_names_supplier_id_normalised_name"),
        ),
    )
    with op.batch_alter_table("supplier_names", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_names_normalised_name"), ["normalised_name"], unique=False
        )
    op.execute(
        "INSERT INTO supplier_names (supplier_id, razon_social, normalised_name, since) "
        "SELECT id, razon_social, normalised_name, created_at FROM suppliers"
    )
    # The binding starts from the list as stored; an acquittal names a supplier but bars nobody.
    op.execute(
        "UPDATE suppliers SET sanctioned = EXISTS (SELECT 1 FROM sanctions "
        "WHERE sanctions.normalised_name = suppliers.normalised_name "
        "AND lower(trim(coalesce(sanctions.resolution, ''))) NOT LIKE 'absolutori%')"
    )

    op.create_table(
        "supplier_renames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("old_name", sa.String(length=300), nullable=False),
        sa.Column("new_name", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*_RENAME_STATUS, name="renamestatus", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_supplier_renames_supplier_id_suppliers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_renames")),
    )
    with op.batch_alter_table("supplier_renames", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_renames_supplier_id"), ["supplier_id"], unique=False
        )

    op.create_table(
        "login_throttles",
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_login_throttles")),
    )


def downgrade() -> None:
    op.drop_table("login_throttles")
    with op.batch_alter_table("supplier_renames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplier_renames_supplier_id"))
    op.drop_table("supplier_renames")
    with op.batch_alter_table("supplier_names", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplier_names_normalised_name"))
    op.drop_table("supplier_names")
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        for column in (
            "reviewed_at",
            "review_note",
            "representative",
            "articles_of_incorporation",
            "tax_certificate",
            "sanctioned",
            "status",
        ):
            batch_op.drop_column(column)
