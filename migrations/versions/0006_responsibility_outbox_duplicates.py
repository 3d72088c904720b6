"""responsibility grids, outbox, duplicates

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:55:58.944534
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('responsibility_grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('squad_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('squad', 'co_manager', 'department')", name=op.f('ck_responsibility_grids_kind')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_responsibility_grids_city_code_cities')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_responsibility_grids_department_id_departments')),
    sa.ForeignKeyConstraint(['squad_id'], ['squads.id'], name=op.f('fk_responsibility_grids_squad_id_squads')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_responsibility_grids_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responsibility_grids')),
    sa.UniqueConstraint('city_code', 'code', name=op.f('uq_responsibility_grids_city_code_code'))
    )
    op.create_index(op.f('ix_responsibility_grids_city_code'), 'responsibility_grids', ['city_code'], unique=False)
    op.create_index(op.f('ix_responsibility_grids_department_id'), 'responsibility_grids', ['department_id'], unique=False)
    op.create_index(op.f('ix_responsibility_grids_squad_id'), 'responsibility_grids', ['squad_id'], unique=False)
    op.create_index(op.f('ix_responsibility_grids_user_id'), 'responsibility_grids', ['user_id'], unique=False)
    op.create_table('responsibility_grid_members',
    sa.Column('responsibility_grid_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_responsibility_grid_members_grid_id_grids'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['responsibility_grid_id'], ['responsibility_grids.id'], name=op.f('fk_responsibility_grid_members_responsibility_grid_id_responsibility_grids'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('responsibility_grid_id', 'grid_id', name=op.f('pk_responsibility_grid_members'))
    )
    op.create_index(op.f('ix_responsibility_grid_members_grid_id'), 'responsibility_grid_members', ['grid_id'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('incident_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_outbox_city_code_cities')),
    sa.ForeignKeyConstraint(['event_id'], ['case_events.id'], name=op.f('fk_outbox_event_id_case_events')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_outbox_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('event_id', 'recipient', name=op.f('uq_outbox_event_id_recipient'))
    )
    op.create_index(op.f('ix_outbox_city_code'), 'outbox', ['city_code'], unique=False)
    op.create_index(op.f('ix_outbox_delivered_at'), 'outbox', ['delivered_at'], unique=False)
    op.create_index(op.f('ix_outbox_event_id'), 'outbox', ['event_id'], unique=False)
    op.create_index(op.f('ix_outbox_incident_id'), 'outbox', ['incident_id'], unique=False)
    op.add_column('incidents', sa.Column('duplicate_of_id', sa.BigInteger(), nullable=True))
    op.create_index(op.f('ix_incidents_duplicate_of_id'), 'incidents', ['duplicate_of_id'], unique=False)
    op.create_foreign_key(op.f('fk_incidents_duplicate_of_id_incidents'), 'incidents', 'incidents', ['duplicate_of_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_incidents_duplicate_of_id_incidents'), 'incidents', type_='foreignkey')
    op.drop_index(op.f('ix_incidents_duplicate_of_id'), table_name='incidents')
    op.drop_column('incidents', 'duplicate_of_id')
    op.drop_index(op.f('ix_outbox_incident_id'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_event_id'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_delivered_at'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_city_code'), table_name='outbox')
    op.drop_table('outbox')
    op.drop_index(op.f('ix_responsibility_grid_members_grid_id'), table_name='responsibility_grid_members')
    op.drop_table('responsibility_grid_members')
    op.drop_index(op.f('ix_responsibility_grids_user_id'), table_name='responsibility_grids')
    op.drop_index(op.f('ix_responsibility_grids_squad_id'), table_name='responsibility_grids')
    op.drop_index(op.f('ix_responsibility_grids_department_id'), table_name='responsibility_grids')
    op.drop_index(op.f('ix_responsibility_grids_city_code'), table_name='responsibility_grids')
    op.drop_table('responsibility_grids')
