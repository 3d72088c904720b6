"""Backup, restore and the restore drill (RELIABILITY 21).

Why a drill: a backup nobody has restored is a hope, not a backup. `drill` restores a dump into a scratch
database and checks what an operator would: the same row counts, no invalid geometry, and that known
points still fall in the same divisions.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from grids.cluster import find_bindir
from grids.errors import ConfigError

# Tables whose row counts a restore must reproduce exactly.
COUNTED_TABLES = ("cities", "divisions", "grid_layouts", "grids", "departments", "squads", "users", "categories",
                  "frontage_units", "incidents", "case_events")
GEOMETRY_CHECKS = {"divisions": "geom", "grids": "geom"}


def parsed_url(url: str) -> URL:
    """The URL, or a ConfigError showing the form one takes (SQLAlchemy's own error is a traceback)."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"{url!r} is no database URL: write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
                          code="bad_url") from exc


def libpq_url(url: str) -> str:
    """pg_dump/pg_restore speak libpq URLs, without SQLAlchemy's '+driver' part."""
    return parsed_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(args: list[str]) -> None:
    """Run a PostgreSQL client; a failure is one line: its first error (pg_restore lists every statement)."""
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        first = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "no output")
        raise ConfigError(f"{Path(args[0]).name} failed: {first}")


def backup(url: str, path: Path) -> Path:
    """A custom-format dump (compressed, restorable table by table)."""
    _run([str(find_bindir() / "pg_dump"), "--format=custom", "--no-owner", f"--file={path}", libpq_url(url)])
    return path


def restore(path: Path, url: str) -> None:
    """Restore into an existing empty database (PostGIS comes back with the dump's CREATE EXTENSION).

    A database that holds tables is refused before pg_restore runs: restoring over them failed half-way on
    the first object that exists, leaving a mix of both."""
    engine = create_engine(parsed_url(url).set(drivername="postgresql+psycopg2"))  # a libpq URL as pg tools take it
    try:
        with engine.connect() as conn:
            tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                       "AND tablename <> 'spatial_ref_sys' ORDER BY tablename")).all()
    except OperationalError as exc:
        reason = " ".join(str(exc.orig).split())
        raise ConfigError(f"cannot connect to the database to restore into ({reason}): create it first "
                          "(createdb NEW_NAME) and check the --into URL") from exc
    finally:
        engine.dispose()
    if tables:
        name = make_url(url).database
        raise ConfigError(f"database {name} is not empty ({len(tables)} tables, such as {tables[0]}): restore into "
                          f"a new empty database (createdb NEW_NAME, then --into with its URL)")
    _run([str(find_bindir() / "pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={libpq_url(url)}",
          str(path)])


def snapshot(url: str) -> dict[str, Any]:
    """Row counts, invalid geometries and the division under each division's inner point."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED_TABLES}
            invalid = {t: conn.execute(text(f"SELECT count(*) FROM {t} WHERE NOT ST_IsValid({c})")).scalar()
                       for t, c in GEOMETRY_CHECKS.items()}
            probes = dict(conn.execute(text(
                "SELECT d.code, (SELECT o.code FROM divisions o WHERE o.level = d.level "
                "AND ST_Covers(o.geom, ST_PointOnSurface(d.geom)) ORDER BY o.id LIMIT 1) "
                "FROM divisions d ORDER BY d.code")).all())
    finally:
        engine.dispose()
    return {"counts": counts, "invalid": invalid, "point_in_division": probes}


def drill(path: Path, source_url: str) -> dict[str, Any]:
    """Restore `path` into a scratch database, compare with the source, drop the scratch database."""
    scratch = f"gridlink_drill_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(source_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    scratch_url = make_url(source_url).set(database=scratch).render_as_string(hide_password=False)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{scratch}"'))
        restore(path, scratch_url)
        expected, restored = snapshot(source_url), snapshot(scratch_url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()
    problems = [f"{key} differs after restore" for key in expected if expected[key] != restored[key]]
    problems += [f"{n} invalid geometries in {t}" for t, n in restored["invalid"].items() if n]
    return {"ok": not problems, "problems": problems, "counts": restored["counts"]}
