"""grid code registry and subdivided division parts

Revision ID: 0002
Revises: eeb35f80c72f
Create Date: 2026-11-26 10:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = '0002'
down_revision: str | None = 'eeb35f80c72f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# division_parts follows divisions.geom whoever writes it (CLI, web, SQL), so lookups never see stale parts.
PARTS_TRIGGER = """
CREATE FUNCTION division_parts_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM division_parts WHERE division_id = NEW.id;
    INSERT INTO division_parts (division_id, geom)
        SELECT NEW.id, ST_Subdivide(NEW.geom, 255);
    RETURN NULL;
END $$;
CREATE TRIGGER division_parts_refresh AFTER INSERT OR UPDATE OF geom ON divisions
    FOR EACH ROW EXECUTE FUNCTION division_parts_refresh();
INSERT INTO division_parts (division_id, geom) SELECT id, ST_Subdivide(geom, 255) FROM divisions;
"""


def upgrade() -> None:
    op.create_table('grid_codes',
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('first_layout_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['city_code'], ['cities.code'], name=op.f('fk_grid_codes_city_code_cities')),
    sa.ForeignKeyConstraint(['first_layout_id'], ['grid_layouts.id'], name=op.f('fk_grid_codes_first_layout_id_grid_layouts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('city_code', 'code', name=op.f('pk_grid_codes'))
    )
    op.create_index(op.f('ix_grid_codes_first_layout_id'), 'grid_codes', ['first_layout_id'], unique=False)
    op.create_geospatial_table('division_parts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('division_id', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['division_id'], ['divisions.id'], name=op.f('fk_division_parts_division_id_divisions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_division_parts'))
    )
    op.create_geospatial_index('idx_division_parts_geom', 'division_parts', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_division_parts_division_id'), 'division_parts', ['division_id'], unique=False)
    op.execute(PARTS_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER division_parts_refresh ON divisions")
    op.execute("DROP FUNCTION division_parts_refresh()")
    op.drop_index(op.f('ix_division_parts_division_id'), table_name='division_parts')
    op.drop_geospatial_index('idx_division_parts_geom', table_name='division_parts', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('division_parts')
    op.drop_index(op.f('ix_grid_codes_first_layout_id'), table_name='grid_codes')
    op.drop_table('grid_codes')
