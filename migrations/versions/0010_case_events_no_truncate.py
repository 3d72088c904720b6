"""case history survives TRUNCATE: the append-only trigger covers it too

Why: UPDATE and DELETE of case_events were refused by a row trigger since 0001, but a TRUNCATE (of the
table, or of incidents with CASCADE) fires no row trigger and wiped the history and the outbox with it.
A statement trigger BEFORE TRUNCATE refuses it with the same message.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 03:10:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events "
               "FOR EACH STATEMENT EXECUTE FUNCTION case_events_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER case_events_no_truncate ON case_events")
