"""demand: a round's deadline for the institutions' capture

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 00:00:00.000000

Nullable: rounds opened before it have none, and a round may be opened without one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("demand_rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("demand_rounds", schema=None) as batch_op:
        batch_op.drop_column("deadline")
