"""departments.worked_by_squads: whose cases the township's stationed squad handles

Why: a case has one accountable owner. A case dispatched to a functional department (环卫, 园林 ...) is that
department's to accept, handle or return, not the township squad's; but the bureau's own cases (综合执法) are
worked by the squads it stations in the townships. The catalog says which departments those are.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 05:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("departments", sa.Column("worked_by_squads", sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    # Installs from before this revision: their bureau (the catalog code gridlink's catalogs use) keeps its
    # squads on its cases; another city's code for it is set by re-importing its catalog with the field.
    op.execute("UPDATE departments SET worked_by_squads = true WHERE code = 'bureau'")


def downgrade() -> None:
    op.drop_column("departments", "worked_by_squads")
