"""case_events reporter index: who reported which case, for a reporter following their own reports

Why: a township user follows what they reported until it closes, also when the point lay in another township
(the phone's 我上报的, the case page, its photos). That reads the report events by their actor. Only staff
reports hold an actor (an API key's and an import's events have none, and other actions are not reports), so
the index is partial: intake over the API and bulk imports do not pay for it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 13:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "action = 'report' AND actor_id IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_case_events_reporter", "case_events", ["actor_id"], postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index("ix_case_events_reporter", table_name="case_events")
