"""case_photos.taken_at: when the photo was taken, from its EXIF, beside when it was sent

Why: a photo is evidence. An after-photo taken before the case was even reported cannot show the work done, and
a report's photo taken days earlier may show a problem long gone. The re-encoded file keeps no EXIF (it carries
the phone's position and device), so the time is read before it is dropped and kept here; NULL when the photo
said nothing (a screenshot, a picture edited by an app that drops EXIF).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 11:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("case_photos", sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("case_photos", "taken_at")
