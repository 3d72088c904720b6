"""Migrations are the schema: they round-trip and match the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, inspect

from grids.db import Base
from grids.migrate import downgrade, upgrade


def _include(obj, name, type_, reflected, compare_to) -> bool:
    return name != "spatial_ref_sys" and alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def test_upgrade_downgrade_upgrade_and_no_autogenerate_diff(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    upgrade(empty_database_url, "head")
    downgrade(empty_database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"spatial_ref_sys", "alembic_version"}
    upgrade(empty_database_url, "head")
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _include, "compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_migrated_schema_has_the_domain_tables(engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"divisions", "grid_layouts", "grids", "departments", "squads", "users", "categories",
            "frontage_units", "incidents", "case_events"} <= tables
