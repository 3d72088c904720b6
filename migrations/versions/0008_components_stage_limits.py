"""components, grid-scoped routing rules, stage limits

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 11:55:05.832122
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table('components',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('owner_name', sa.String(length=200), nullable=True),
    sa.Column('maintainer_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='in_use', nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{16}$'", name=op.f('ck_components_code')),
    sa.CheckConstraint("status IN ('in_use', 'damaged', 'removed')", name=op.f('ck_components_status')),
    sa.CheckConstraint('ST_IsValid(location) AND NOT ST_IsEmpty(location)', name=op.f('ck_components_location_valid')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_components_category_id_categories')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_components_city_code_cities')),
    sa.ForeignKeyConstraint(['maintainer_id'], ['departments.id'], name=op.f('fk_components_maintainer_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_components')),
    sa.UniqueConstraint('city_code', 'code', name=op.f('uq_components_city_code_code'))
    )
    op.create_geospatial_index('idx_components_location', 'components', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_components_category_id'), 'components', ['category_id'], unique=False)
    op.create_index(op.f('ix_components_city_code'), 'components', ['city_code'], unique=False)
    op.create_index(op.f('ix_components_maintainer_id'), 'components', ['maintainer_id'], unique=False)
    op.create_table('stage_limits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('time_limit', sa.String(length=8), nullable=False),
    sa.CheckConstraint("stage IN ('file', 'dispatch', 'check', 'close')", name=op.f('ck_stage_limits_stage')),
    sa.CheckConstraint("time_limit ~ '^[0-9]+[mhd]$'", name=op.f('ck_stage_limits_time_limit')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_stage_limits_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_stage_limits_city_code_cities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_limits')),
    sa.UniqueConstraint('city_code', 'category_id', 'stage', name=op.f('uq_stage_limits_city_code_category_id_stage'), postgresql_nulls_not_distinct=True)
    )
    op.create_index(op.f('ix_stage_limits_category_id'), 'stage_limits', ['category_id'], unique=False)
    op.create_index(op.f('ix_stage_limits_city_code'), 'stage_limits', ['city_code'], unique=False)
    op.add_column('incidents', sa.Column('component_id', sa.Integer(), nullable=True))
    op.add_column('incidents', sa.Column('due_times', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_index(op.f('ix_incidents_component_id'), 'incidents', ['component_id'], unique=False)
    op.create_foreign_key(op.f('fk_incidents_component_id_components'), 'incidents', 'components', ['component_id'], ['id'])
    op.add_column('routing_rules', sa.Column('grid_code', sa.String(length=24), nullable=True))
    op.create_check_constraint(op.f('ck_routing_rules_one_scope'), 'routing_rules', 'grid_code IS NULL OR division_id IS NULL')
    op.drop_constraint(op.f('uq_routing_rules_city_code_category_id_division_id'), 'routing_rules', type_='unique')
    op.create_unique_constraint(op.f('uq_routing_rules_city_code_category_id_division_id_grid_code'), 'routing_rules', ['city_code', 'category_id', 'division_id', 'grid_code'], postgresql_nulls_not_distinct=True)


def downgrade() -> None:
    op.drop_constraint(op.f('uq_routing_rules_city_code_category_id_division_id_grid_code'), 'routing_rules', type_='unique')
    op.create_unique_constraint(op.f('uq_routing_rules_city_code_category_id_division_id'), 'routing_rules', ['city_code', 'category_id', 'division_id'], postgresql_nulls_not_distinct=False)
    op.drop_constraint(op.f('ck_routing_rules_one_scope'), 'routing_rules', type_='check')
    op.drop_column('routing_rules', 'grid_code')
    op.drop_constraint(op.f('fk_incidents_component_id_components'), 'incidents', type_='foreignkey')
    op.drop_index(op.f('ix_incidents_component_id'), table_name='incidents')
    op.drop_column('incidents', 'due_times')
    op.drop_column('incidents', 'component_id')
    op.drop_index(op.f('ix_stage_limits_city_code'), table_name='stage_limits')
    op.drop_index(op.f('ix_stage_limits_category_id'), table_name='stage_limits')
    op.drop_table('stage_limits')
    op.drop_index(op.f('ix_components_maintainer_id'), table_name='components')
    op.drop_index(op.f('ix_components_city_code'), table_name='components')
    op.drop_index(op.f('ix_components_category_id'), table_name='components')
    op.drop_geospatial_index('idx_components_location', table_name='components', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('components')
