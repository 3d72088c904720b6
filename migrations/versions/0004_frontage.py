"""frontage (门前三包): unit agreement and duties, unit-grid links, scored inspections

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:59:10.654108
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('frontage_inspections',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('deductions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('photos', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('violations', sa.Integer(), nullable=False),
    sa.Column('incident_ids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_frontage_inspections_city_code_cities')),
    sa.ForeignKeyConstraint(['inspector_id'], ['users.id'], name=op.f('fk_frontage_inspections_inspector_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['frontage_units.id'], name=op.f('fk_frontage_inspections_unit_id_frontage_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_frontage_inspections'))
    )
    op.create_index(op.f('ix_frontage_inspections_at'), 'frontage_inspections', ['at'], unique=False)
    op.create_index(op.f('ix_frontage_inspections_city_code'), 'frontage_inspections', ['city_code'], unique=False)
    op.create_index(op.f('ix_frontage_inspections_inspector_id'), 'frontage_inspections', ['inspector_id'], unique=False)
    op.create_index(op.f('ix_frontage_inspections_unit_id'), 'frontage_inspections', ['unit_id'], unique=False)
    op.create_table('frontage_unit_grids',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_frontage_unit_grids_grid_id_grids'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['frontage_units.id'], name=op.f('fk_frontage_unit_grids_unit_id_frontage_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', 'grid_id', name=op.f('pk_frontage_unit_grids'))
    )
    op.create_index(op.f('ix_frontage_unit_grids_grid_id'), 'frontage_unit_grids', ['grid_id'], unique=False)
    op.add_column('frontage_units', sa.Column('kind', sa.String(length=64), nullable=True))
    op.add_column('frontage_units', sa.Column('township_id', sa.Integer(), nullable=True))
    op.add_column('frontage_units', sa.Column('agreement_no', sa.String(length=64), nullable=True))
    op.add_column('frontage_units', sa.Column('agreement_signed_on', sa.Date(), nullable=True))
    op.add_column('frontage_units', sa.Column('agreement_expires_on', sa.Date(), nullable=True))
    op.add_column('frontage_units', sa.Column('duties', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.add_column('frontage_units', sa.Column('area_notes', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('frontage_units', sa.Column('area_manual', sa.Boolean(), server_default='false', nullable=False))
    op.create_index(op.f('ix_frontage_units_township_id'), 'frontage_units', ['township_id'], unique=False)
    op.create_foreign_key(op.f('fk_frontage_units_township_id_divisions'), 'frontage_units', 'divisions', ['township_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_frontage_units_township_id_divisions'), 'frontage_units', type_='foreignkey')
    op.drop_index(op.f('ix_frontage_units_township_id'), table_name='frontage_units')
    op.drop_column('frontage_units', 'area_manual')
    op.drop_column('frontage_units', 'area_notes')
    op.drop_column('frontage_units', 'duties')
    op.drop_column('frontage_units', 'agreement_expires_on')
    op.drop_column('frontage_units', 'agreement_signed_on')
    op.drop_column('frontage_units', 'agreement_no')
    op.drop_column('frontage_units', 'township_id')
    op.drop_column('frontage_units', 'kind')
    op.drop_index(op.f('ix_frontage_unit_grids_grid_id'), table_name='frontage_unit_grids')
    op.drop_table('frontage_unit_grids')
    op.drop_index(op.f('ix_frontage_inspections_unit_id'), table_name='frontage_inspections')
    op.drop_index(op.f('ix_frontage_inspections_inspector_id'), table_name='frontage_inspections')
    op.drop_index(op.f('ix_frontage_inspections_city_code'), table_name='frontage_inspections')
    op.drop_index(op.f('ix_frontage_inspections_at'), table_name='frontage_inspections')
    op.drop_table('frontage_inspections')
