"""the sector's registry: institutions and units retire, units carry CLUES place and type

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_code", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("municipality", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("typology", sa.String(length=150), nullable=True))
        batch_op.add_column(sa.Column("latitude", sa.Numeric(9, 6), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Numeric(9, 6), nullable=True))
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        for column in ("retired_at", "longitude", "latitude", "typology", "municipality"):
            batch_op.drop_column(column)
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("state_code")
