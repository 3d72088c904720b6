"""divisions.derived: a city outline gridlink made as the union of the city's districts

Why: a city's outline is where every channel tells a point in the city from one outside it, so without one no
case can be taken. A city such as Jiujiang publishes its districts' polygons but no outline of its own; an
operator who imported the districts was told "load its divisions first" and could go no further. Such an
outline is remade whenever the districts are imported again, and an imported city boundary replaces it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 11:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("divisions", sa.Column("derived", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("divisions", "derived")
