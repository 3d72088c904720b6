"""lean case indexes: no index a wider one covers, partial indexes on mostly-empty columns

Why: every case written (a bulk import writes a million) pays one btree insert per index. An index
whose column is NULL or false on nearly every case only has to hold the rows a query looks for; one
that leads a wider index duplicates it.
- incidents.city_code is the first column of uq_incidents_city_code_external_id;
- case_events.incident_id is the first column of uq_case_events_incident_id_seq;
- the five optional references hold only set values (a foreign-key delete's `col = $1` still uses them);
- needs_triage holds only the triage queue, as `needs_triage IS TRUE` (what the queue asks: PostgreSQL 15
  proves a partial index's predicate only from the same test, and a bare `needs_triage` is another one);
- deadline_at holds only running clocks (no imported or closed case has one): the overdue sweep's and the
  queue's `deadline_at < now` imply it. overdue_at stays out of the predicate, so the sweep's update of
  overdue_at remains a HOT update that touches no index.
case_events.city_code stays: the evaluation window reads case_events by city and time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 14:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = {"incidents": "city_code", "case_events": "incident_id"}
PARTIAL = {
    **{column: f"{column} IS NOT NULL"
       for column in ("assignee_id", "co_manager_id", "component_id", "duplicate_of_id", "frontage_unit_id")},
    "needs_triage": "needs_triage IS TRUE",
    "deadline_at": "deadline_at IS NOT NULL",
}


def upgrade() -> None:
    for table, column in DROPPED.items():
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    for column, where in PARTIAL.items():
        op.drop_index(f"ix_incidents_{column}", table_name="incidents")
        op.create_index(f"ix_incidents_{column}", "incidents", [column], postgresql_where=sa.text(where))


def downgrade() -> None:
    for column in PARTIAL:
        op.drop_index(f"ix_incidents_{column}", table_name="incidents")
        op.create_index(f"ix_incidents_{column}", "incidents", [column])
    for table, column in DROPPED.items():
        op.create_index(f"ix_{table}_{column}", table, [column])
