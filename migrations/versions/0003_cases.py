"""cases: routing owner and triage, workflow deadlines, calendar overrides, API keys, idempotency keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:52:36.846936
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('principal', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('principal', 'key', name=op.f('uq_idempotency_keys_principal_key'))
    )
    op.create_index(op.f('ix_idempotency_keys_created_at'), 'idempotency_keys', ['created_at'], unique=False)
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_api_keys_city_code_cities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('city_code', 'name', name=op.f('uq_api_keys_city_code_name')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_index(op.f('ix_api_keys_city_code'), 'api_keys', ['city_code'], unique=False)
    op.create_table('calendar_days',
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_workday', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_calendar_days_city_code_cities')),
    sa.PrimaryKeyConstraint('city_code', 'day', name=op.f('pk_calendar_days'))
    )
    op.add_column('case_events', sa.Column('actor_role', sa.String(length=16), nullable=True))
    op.add_column('cities', sa.Column('working_hours', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('incidents', sa.Column('co_manager_id', sa.Integer(), nullable=True))
    op.add_column('incidents', sa.Column('owner_type', sa.String(length=16), nullable=True))
    op.add_column('incidents', sa.Column('needs_triage', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('incidents', sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('incidents', sa.Column('extensions', sa.Integer(), server_default='0', nullable=False))
    op.add_column('incidents', sa.Column('extension_request', sa.String(length=8), nullable=True))
    op.create_index(op.f('ix_incidents_co_manager_id'), 'incidents', ['co_manager_id'], unique=False)
    op.create_index(op.f('ix_incidents_needs_triage'), 'incidents', ['needs_triage'], unique=False)
    op.create_foreign_key(op.f('fk_incidents_co_manager_id_users'), 'incidents', 'users', ['co_manager_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_incidents_co_manager_id_users'), 'incidents', type_='foreignkey')
    op.drop_index(op.f('ix_incidents_needs_triage'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_co_manager_id'), table_name='incidents')
    op.drop_column('incidents', 'extension_request')
    op.drop_column('incidents', 'extensions')
    op.drop_column('incidents', 'overdue_at')
    op.drop_column('incidents', 'needs_triage')
    op.drop_column('incidents', 'owner_type')
    op.drop_column('incidents', 'co_manager_id')
    op.drop_column('cities', 'working_hours')
    op.drop_column('case_events', 'actor_role')
    op.drop_table('calendar_days')
    op.drop_index(op.f('ix_api_keys_city_code'), table_name='api_keys')
    op.drop_table('api_keys')
    op.drop_index(op.f('ix_idempotency_keys_created_at'), table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
