"""inventory: the sources of movements already posted, in a table of their own, instead of an
index over every movement's source

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 04:00:00.000000

A source (``receipt:<id>``, ``upload:<sha256>``, a day load's name …) is posted at most once;
the check read ``ix_stock_movements_source``, an index over every movement. In a day loaded in
bulk every one of its 25 million movements has the same source, and building that index was
about a fifth of the national day's index builds (docs/scale.md). ``stock_sources`` keeps each
source once (written where the movements are inserted); the per-row index is dropped, on both
databases.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_sources",
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_stock_sources")),
    )
    op.execute(
        "INSERT INTO stock_sources (source) SELECT DISTINCT source FROM stock_movements"
        " WHERE source IS NOT NULL"
    )
    op.drop_index("ix_stock_movements_source", table_name="stock_movements")


def downgrade() -> None:
    op.create_index("ix_stock_movements_source", "stock_movements", ["source"])
    op.drop_table("stock_sources")
