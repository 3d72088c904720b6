"""case photos: before/after pictures of a case, files under the uploads folder

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('case_photos',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('incident_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('before', 'after')", name=op.f('ck_case_photos_kind')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_case_photos_city_code_cities')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_case_photos_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_case_photos_uploaded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_photos'))
    )
    op.create_index(op.f('ix_case_photos_city_code'), 'case_photos', ['city_code'], unique=False)
    op.create_index(op.f('ix_case_photos_incident_id'), 'case_photos', ['incident_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_case_photos_incident_id'), table_name='case_photos')
    op.drop_index(op.f('ix_case_photos_city_code'), table_name='case_photos')
    op.drop_table('case_photos')
