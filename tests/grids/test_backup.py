"""Backup and the restore drill: a dump restores with the same rows, valid geometry and point answers."""

import json

from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from grids.backup import snapshot
from grids.demo import load_demo
from grids.migrate import upgrade
from webapp.cli import main


def test_backup_with_restore_drill(empty_database_url: str, tmp_path, monkeypatch) -> None:
    upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    with Session(engine) as session, session.begin():
        load_demo(session, grid_townships=())
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    dump = tmp_path / "gridlink.dump"
    result = CliRunner().invoke(main, ["db", "backup", str(dump), "--drill", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["drill"]["ok"] and report["drill"]["problems"] == []
    assert report["drill"]["counts"]["divisions"] == 17 and report["drill"]["counts"]["incidents"] >= 5
    assert snapshot(empty_database_url)["point_in_division"]["330781102"] == "330781102"
    over = CliRunner().invoke(main, ["db", "restore", str(dump), "--into", empty_database_url])
    assert over.exit_code == 1 and len(over.output.strip().splitlines()) == 1
    assert "is not empty" in over.output and "createdb" in over.output


def test_restoring_into_a_database_that_is_not_there_says_so_in_one_line(empty_database_url: str, tmp_path) -> None:
    """A libpq URL (as the pg tools take it) and a missing database ended in a traceback."""
    missing = empty_database_url.replace("+psycopg2", "").rsplit("/", 1)[0] + "/no_such_database"
    dump = tmp_path / "any.dump"
    dump.write_bytes(b"PGDMP")
    result = CliRunner().invoke(main, ["db", "restore", str(dump), "--into", missing])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "cannot connect to the database to restore into" in result.output and "createdb" in result.output


def test_a_target_that_is_no_url_is_one_line_showing_the_form_of_one(tmp_path) -> None:
    dump = tmp_path / "any.dump"
    dump.write_bytes(b"PGDMP")
    result = CliRunner().invoke(main, ["db", "restore", str(dump), "--into", "notaurl"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output  # was a traceback
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in result.output


def test_restoring_a_damaged_dump_fails_with_the_reason(empty_database_url: str, tmp_path) -> None:
    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(b"PGDMP this is not really a dump")
    result = CliRunner().invoke(main, ["db", "restore", str(damaged), "--into", empty_database_url])
    assert result.exit_code == 1
    assert "pg_restore failed" in result.output
