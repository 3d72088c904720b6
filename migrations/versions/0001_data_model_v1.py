"""data model v1

Revision ID: eeb35f80c72f
Revises:
Create Date: 2026-11-26 09:41:13.694305
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = 'eeb35f80c72f'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = """
CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case history is append-only: % on case_events is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_append_only();
"""


def _require_postgis() -> None:
    """Create PostGIS, or stop with the command that installs it (a bare server has none)."""
    available = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).scalar()
    if not available:
        raise RuntimeError("the database server has no PostGIS extension; install it on the server "
                           "(Debian/Ubuntu: apt-get install postgresql-<major>-postgis-3) and run again")
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def upgrade() -> None:
    _require_postgis()
    op.create_table('cities',
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_cities'))
    )
    op.create_table('login_throttle',
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_login_throttle_city_code_cities')),
    sa.PrimaryKeyConstraint('city_code', 'username', name=op.f('pk_login_throttle'))
    )
    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('time_limit', sa.String(length=8), nullable=True),
    sa.Column('filing_condition', sa.Text(), nullable=True),
    sa.Column('closing_condition', sa.Text(), nullable=True),
    sa.CheckConstraint("time_limit IS NULL OR time_limit ~ '^[0-9]+[hd]$'", name=op.f('ck_categories_time_limit')),
    sa.CheckConstraint("type IN ('event', 'component')", name=op.f('ck_categories_type')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_categories_city_code_cities')),
    sa.ForeignKeyConstraint(['parent_id'], ['categories.id'], name=op.f('fk_categories_parent_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('city_code', 'code', name=op.f('uq_categories_city_code_code'))
    )
    op.create_index(op.f('ix_categories_city_code'), 'categories', ['city_code'], unique=False)
    op.create_index(op.f('ix_categories_parent_id'), 'categories', ['parent_id'], unique=False)
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_departments_city_code_cities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('city_code', 'code', name=op.f('uq_departments_city_code_code'))
    )
    op.create_index(op.f('ix_departments_city_code'), 'departments', ['city_code'], unique=False)
    op.create_geospatial_table('divisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('illustrative', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("level IN ('city', 'district', 'township', 'community')", name=op.f('ck_divisions_level')),
    sa.CheckConstraint('ST_IsValid(geom) AND NOT ST_IsEmpty(geom)', name=op.f('ck_divisions_geom_valid')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_divisions_city_code_cities')),
    sa.ForeignKeyConstraint(['parent_id'], ['divisions.id'], name=op.f('fk_divisions_parent_id_divisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_divisions')),
    sa.UniqueConstraint('city_code', 'code', name=op.f('uq_divisions_city_code_code'))
    )
    op.create_geospatial_index('idx_divisions_geom', 'divisions', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_divisions_city_code'), 'divisions', ['city_code'], unique=False)
    op.create_index(op.f('ix_divisions_parent_id'), 'divisions', ['parent_id'], unique=False)
    op.create_table('category_departments',
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_category_departments_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_category_departments_department_id_departments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('category_id', 'department_id', name=op.f('pk_category_departments'))
    )
    op.create_table('grid_layouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=True),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'published', 'retired')", name=op.f('ck_grid_layouts_status')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_grid_layouts_city_code_cities')),
    sa.ForeignKeyConstraint(['division_id'], ['divisions.id'], name=op.f('fk_grid_layouts_division_id_divisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_layouts'))
    )
    op.create_index(op.f('ix_grid_layouts_city_code'), 'grid_layouts', ['city_code'], unique=False)
    op.create_index(op.f('ix_grid_layouts_division_id'), 'grid_layouts', ['division_id'], unique=False)
    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_routing_rules_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_routing_rules_city_code_cities')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_routing_rules_department_id_departments')),
    sa.ForeignKeyConstraint(['division_id'], ['divisions.id'], name=op.f('fk_routing_rules_division_id_divisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rules')),
    sa.UniqueConstraint('city_code', 'category_id', 'division_id', name=op.f('uq_routing_rules_city_code_category_id_division_id'))
    )
    op.create_index(op.f('ix_routing_rules_category_id'), 'routing_rules', ['category_id'], unique=False)
    op.create_index(op.f('ix_routing_rules_city_code'), 'routing_rules', ['city_code'], unique=False)
    op.create_index(op.f('ix_routing_rules_department_id'), 'routing_rules', ['department_id'], unique=False)
    op.create_index(op.f('ix_routing_rules_division_id'), 'routing_rules', ['division_id'], unique=False)
    op.create_table('squads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_squads_city_code_cities')),
    sa.ForeignKeyConstraint(['township_id'], ['divisions.id'], name=op.f('fk_squads_township_id_divisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_squads')),
    sa.UniqueConstraint('city_code', 'code', name=op.f('uq_squads_city_code_code'))
    )
    op.create_index(op.f('ix_squads_city_code'), 'squads', ['city_code'], unique=False)
    op.create_index(op.f('ix_squads_township_id'), 'squads', ['township_id'], unique=False)
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('squad_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'dispatcher', 'supervisor', 'inspector', 'squad_leader', 'officer', 'co_manager', 'department', 'planner', 'viewer')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_users_city_code_cities')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_users_department_id_departments')),
    sa.ForeignKeyConstraint(['squad_id'], ['squads.id'], name=op.f('fk_users_squad_id_squads')),
    sa.ForeignKeyConstraint(['township_id'], ['divisions.id'], name=op.f('fk_users_township_id_divisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('city_code', 'username', name=op.f('uq_users_city_code_username'))
    )
    op.create_index(op.f('ix_users_city_code'), 'users', ['city_code'], unique=False)
    op.create_index(op.f('ix_users_department_id'), 'users', ['department_id'], unique=False)
    op.create_index(op.f('ix_users_squad_id'), 'users', ['squad_id'], unique=False)
    op.create_index(op.f('ix_users_township_id'), 'users', ['township_id'], unique=False)
    op.create_geospatial_table('grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('layout_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('squad_id', sa.Integer(), nullable=True),
    sa.Column('co_manager_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('ST_IsValid(geom) AND NOT ST_IsEmpty(geom)', name=op.f('ck_grids_geom_valid')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_grids_city_code_cities')),
    sa.ForeignKeyConstraint(['co_manager_id'], ['users.id'], name=op.f('fk_grids_co_manager_id_users')),
    sa.ForeignKeyConstraint(['division_id'], ['divisions.id'], name=op.f('fk_grids_division_id_divisions')),
    sa.ForeignKeyConstraint(['layout_id'], ['grid_layouts.id'], name=op.f('fk_grids_layout_id_grid_layouts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['squad_id'], ['squads.id'], name=op.f('fk_grids_squad_id_squads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grids')),
    sa.UniqueConstraint('layout_id', 'code', name=op.f('uq_grids_layout_id_code'))
    )
    op.create_geospatial_index('idx_grids_geom', 'grids', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_grids_city_code'), 'grids', ['city_code'], unique=False)
    op.create_index(op.f('ix_grids_co_manager_id'), 'grids', ['co_manager_id'], unique=False)
    op.create_index(op.f('ix_grids_division_id'), 'grids', ['division_id'], unique=False)
    op.create_index(op.f('ix_grids_layout_id'), 'grids', ['layout_id'], unique=False)
    op.create_index(op.f('ix_grids_squad_id'), 'grids', ['squad_id'], unique=False)
    op.create_geospatial_table('frontage_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit_type', sa.String(length=32), nullable=False),
    sa.Column('registration_no', sa.String(length=64), nullable=True),
    sa.Column('contact_name', sa.String(length=100), nullable=True),
    sa.Column('contact_phone', sa.String(length=32), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('area', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.CheckConstraint('ST_IsValid(location) AND NOT ST_IsEmpty(location)', name=op.f('ck_frontage_units_location_valid')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_frontage_units_city_code_cities')),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_frontage_units_grid_id_grids')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_frontage_units'))
    )
    op.create_geospatial_index('idx_frontage_units_area', 'frontage_units', ['area'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_index('idx_frontage_units_location', 'frontage_units', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_frontage_units_city_code'), 'frontage_units', ['city_code'], unique=False)
    op.create_index(op.f('ix_frontage_units_grid_id'), 'frontage_units', ['grid_id'], unique=False)
    op.create_geospatial_table('incidents',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('reporter_contact', sa.String(length=200), nullable=True),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('input_crs', sa.String(length=16), nullable=True),
    sa.Column('input_x', sa.Float(), nullable=True),
    sa.Column('input_y', sa.Float(), nullable=True),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('township_id', sa.Integer(), nullable=True),
    sa.Column('squad_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('frontage_unit_id', sa.Integer(), nullable=True),
    sa.Column('routing_reason', sa.Text(), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('ST_IsValid(location) AND NOT ST_IsEmpty(location)', name=op.f('ck_incidents_location_valid')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_incidents_assignee_id_users')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_incidents_category_id_categories')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_incidents_city_code_cities')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_incidents_department_id_departments')),
    sa.ForeignKeyConstraint(['frontage_unit_id'], ['frontage_units.id'], name=op.f('fk_incidents_frontage_unit_id_frontage_units')),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_incidents_grid_id_grids')),
    sa.ForeignKeyConstraint(['squad_id'], ['squads.id'], name=op.f('fk_incidents_squad_id_squads')),
    sa.ForeignKeyConstraint(['township_id'], ['divisions.id'], name=op.f('fk_incidents_township_id_divisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('city_code', 'external_id', name=op.f('uq_incidents_city_code_external_id'))
    )
    op.create_geospatial_index('idx_incidents_location', 'incidents', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_incidents_assignee_id'), 'incidents', ['assignee_id'], unique=False)
    op.create_index(op.f('ix_incidents_category_id'), 'incidents', ['category_id'], unique=False)
    op.create_index(op.f('ix_incidents_city_code'), 'incidents', ['city_code'], unique=False)
    op.create_index(op.f('ix_incidents_deadline_at'), 'incidents', ['deadline_at'], unique=False)
    op.create_index(op.f('ix_incidents_department_id'), 'incidents', ['department_id'], unique=False)
    op.create_index(op.f('ix_incidents_frontage_unit_id'), 'incidents', ['frontage_unit_id'], unique=False)
    op.create_index(op.f('ix_incidents_grid_id'), 'incidents', ['grid_id'], unique=False)
    op.create_index(op.f('ix_incidents_squad_id'), 'incidents', ['squad_id'], unique=False)
    op.create_index(op.f('ix_incidents_status'), 'incidents', ['status'], unique=False)
    op.create_index(op.f('ix_incidents_township_id'), 'incidents', ['township_id'], unique=False)
    op.create_table('case_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('incident_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_case_events_actor_id_users')),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_case_events_city_code_cities')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_case_events_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events')),
    sa.UniqueConstraint('incident_id', 'seq', name=op.f('uq_case_events_incident_id_seq'))
    )
    op.create_index(op.f('ix_case_events_city_code'), 'case_events', ['city_code'], unique=False)
    op.create_index(op.f('ix_case_events_incident_id'), 'case_events', ['incident_id'], unique=False)
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.drop_index(op.f('ix_case_events_incident_id'), table_name='case_events')
    op.drop_index(op.f('ix_case_events_city_code'), table_name='case_events')
    op.drop_table('case_events')
    op.execute('DROP FUNCTION IF EXISTS case_events_append_only()')
    op.drop_index(op.f('ix_incidents_township_id'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_status'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_squad_id'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_grid_id'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_frontage_unit_id'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_department_id'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_deadline_at'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_city_code'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_category_id'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_assignee_id'), table_name='incidents')
    op.drop_geospatial_index('idx_incidents_location', table_name='incidents', postgresql_using='gist', column_name='location')
    op.drop_geospatial_table('incidents')
    op.drop_index(op.f('ix_frontage_units_grid_id'), table_name='frontage_units')
    op.drop_index(op.f('ix_frontage_units_city_code'), table_name='frontage_units')
    op.drop_geospatial_index('idx_frontage_units_location', table_name='frontage_units', postgresql_using='gist', column_name='location')
    op.drop_geospatial_index('idx_frontage_units_area', table_name='frontage_units', postgresql_using='gist', column_name='area')
    op.drop_geospatial_table('frontage_units')
    op.drop_index(op.f('ix_grids_squad_id'), table_name='grids')
    op.drop_index(op.f('ix_grids_layout_id'), table_name='grids')
    op.drop_index(op.f('ix_grids_division_id'), table_name='grids')
    op.drop_index(op.f('ix_grids_co_manager_id'), table_name='grids')
    op.drop_index(op.f('ix_grids_city_code'), table_name='grids')
    op.drop_geospatial_index('idx_grids_geom', table_name='grids', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('grids')
    op.drop_index(op.f('ix_users_township_id'), table_name='users')
    op.drop_index(op.f('ix_users_squad_id'), table_name='users')
    op.drop_index(op.f('ix_users_department_id'), table_name='users')
    op.drop_index(op.f('ix_users_city_code'), table_name='users')
    op.drop_table('users')
    op.drop_index(op.f('ix_squads_township_id'), table_name='squads')
    op.drop_index(op.f('ix_squads_city_code'), table_name='squads')
    op.drop_table('squads')
    op.drop_index(op.f('ix_routing_rules_division_id'), table_name='routing_rules')
    op.drop_index(op.f('ix_routing_rules_department_id'), table_name='routing_rules')
    op.drop_index(op.f('ix_routing_rules_city_code'), table_name='routing_rules')
    op.drop_index(op.f('ix_routing_rules_category_id'), table_name='routing_rules')
    op.drop_table('routing_rules')
    op.drop_index(op.f('ix_grid_layouts_division_id'), table_name='grid_layouts')
    op.drop_index(op.f('ix_grid_layouts_city_code'), table_name='grid_layouts')
    op.drop_table('grid_layouts')
    op.drop_table('category_departments')
    op.drop_index(op.f('ix_divisions_parent_id'), table_name='divisions')
    op.drop_index(op.f('ix_divisions_city_code'), table_name='divisions')
    op.drop_geospatial_index('idx_divisions_geom', table_name='divisions', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('divisions')
    op.drop_index(op.f('ix_departments_city_code'), table_name='departments')
    op.drop_table('departments')
    op.drop_index(op.f('ix_categories_parent_id'), table_name='categories')
    op.drop_index(op.f('ix_categories_city_code'), table_name='categories')
    op.drop_table('categories')
    op.drop_table('login_throttle')
    op.drop_table('cities')
