"""The `gridlink` commands over the domain (db, users, catalog, demo). The web edge adds `serve`.

Every command that changes data commits once at the end, prints a summary, and supports --json.
Errors are DomainErrors printed as one line that says what to fix, with exit code 1.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from grids.cluster import Cluster
from grids.db import database_url, make_engine, postgis_version, unit_of_work
from grids.errors import ConfigError, DomainError

DEFAULT_CITY_ENV = "GRIDLINK_CITY"


def default_city() -> str:
    return os.environ.get(DEFAULT_CITY_ENV, "330781")


def fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a DomainError into a one-line message and exit code 1 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)

    return wrapper


@contextmanager
def command_session() -> Iterator[Session]:
    """One transaction per command; PostGIS is checked first so a bare server gets a clear message."""
    engine = make_engine()
    try:
        postgis_version(engine)
        with unit_of_work(engine) as session:
            yield session
    finally:
        engine.dispose()


def emit(result: dict[str, Any], as_json: bool, summary: str) -> None:
    click.echo(json.dumps(result, ensure_ascii=False, default=str) if as_json else summary)


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(fn)


# --- db ------------------------------------------------------------------------------------------
@click.group("db")
def db_group() -> None:
    """Manage the embedded PostGIS cluster and the schema."""


def _embedded_only() -> Cluster:
    if os.environ.get("DATABASE_URL"):
        raise ConfigError("DATABASE_URL is set: gridlink uses that server and does not manage it; "
                          "unset DATABASE_URL to use the embedded cluster")
    return Cluster.for_project()


@db_group.command("up")
@fail_cleanly
def db_up() -> None:
    """Create (first time) and start the embedded cluster under var/postgres."""
    cluster = _embedded_only()
    cluster.start()
    click.echo(f"PostgreSQL running on 127.0.0.1:{cluster.port} (files: {cluster.home}, log: {cluster.log_file})")


@db_group.command("down")
@fail_cleanly
def db_down() -> None:
    """Stop the embedded cluster."""
    _embedded_only().stop()
    click.echo("PostgreSQL stopped")


@db_group.command("status")
@fail_cleanly
def db_status() -> None:
    """Say whether the database is reachable and which PostGIS it has."""
    if not os.environ.get("DATABASE_URL") and not Cluster.for_project().running():
        click.echo("embedded cluster: stopped (start it with `gridlink db up`)")
        sys.exit(3)
    engine = make_engine()
    try:
        click.echo(f"database reachable, PostGIS {postgis_version(engine)}")
    finally:
        engine.dispose()


@db_group.command("url")
def db_url() -> None:
    """Print the database URL gridlink uses."""
    click.echo(database_url())


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@fail_cleanly
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations."""
    from grids.migrate import upgrade

    engine = make_engine()
    try:
        postgis_version(engine)
    finally:
        engine.dispose()
    upgrade(database_url(), revision)
    click.echo(f"schema at {revision}")


@db_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--drill", is_flag=True, help="Then restore it into a scratch database and compare.")
@json_option
@fail_cleanly
def db_backup(file: Path, drill: bool, as_json: bool) -> None:
    """Dump the database to FILE (pg_dump custom format); --drill proves the dump restores."""
    from grids import backup

    backup.backup(database_url(), file)
    result: dict[str, Any] = {"file": str(file), "bytes": file.stat().st_size}
    if drill:
        result["drill"] = backup.drill(file, database_url())
    summary = f"backup written to {file} ({result['bytes']} bytes)"
    if drill:
        summary += "; restore drill " + ("passed" if result["drill"]["ok"] else
                                         "FAILED: " + "; ".join(result["drill"]["problems"]))
    emit(result, as_json, summary)
    if drill and not result["drill"]["ok"]:
        sys.exit(1)


@db_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--into", "target", required=True, help="URL of an existing, empty database to restore into.")
@fail_cleanly
def db_restore(file: Path, target: str) -> None:
    """Restore a dump made by `gridlink db backup` into an empty database."""
    from grids import backup

    backup.restore(file, target)
    click.echo(f"restored {file} into {target}")


# --- users ---------------------------------------------------------------------------------------
@click.group("users")
def users_group() -> None:
    """Staff accounts."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, help="admin, dispatcher, supervisor, inspector, squad_leader, officer, "
                                            "co_manager, department, planner or viewer")
@click.option("--township", help="Township code the user belongs to.")
@click.option("--department", help="Department code the user belongs to.")
@click.option("--squad", help="Squad code (sets the township too).")
@click.option("--display-name", default="")
@click.option("--city", default=default_city, show_default="$GRIDLINK_CITY or 330781")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
@fail_cleanly
def users_add(name: str, role: str, township: str | None, department: str | None, squad: str | None,
              display_name: str, city: str, password_stdin: bool, as_json: bool) -> None:
    """Add a user (or update an existing one's role, zone and password)."""
    from grids.org import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with command_session() as session:
        user = add_user(session, city, name, role, password, display_name=display_name, township_code=township,
                        department_code=department, squad_code=squad)
        result = {"id": user.id, "username": user.username, "role": user.role}
    emit(result, as_json, f"user {name} saved with role {role}")


# --- catalog & demo ------------------------------------------------------------------------------
@click.group("catalog")
def catalog_group() -> None:
    """A city's departments, categories with time limits, and routing rules."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@fail_cleanly
def catalog_import(file: Path, as_json: bool) -> None:
    """Load or update a city's catalog from a JSON file (format in the README)."""
    from grids.catalog import import_catalog
    from grids.errors import Invalid

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"{file} is not valid UTF-8 JSON: {exc}") from exc
    with command_session() as session:
        counts = import_catalog(session, doc)
    emit(counts, as_json, ", ".join(f"{v} {k}" for k, v in counts.items()) + " imported")


@click.group("demo")
def demo_group() -> None:
    """The Lanxi demo city."""


@demo_group.command("load")
@json_option
@fail_cleanly
def demo_load(as_json: bool) -> None:
    """Load the demo city (idempotent)."""
    from grids.demo import load_demo

    with command_session() as session:
        result = load_demo(session)
    emit(result, as_json, f"demo city {result['city']} loaded: {result['divisions']} divisions, "
                          f"{result['categories']} categories, {result['squads']} squads, "
                          f"{result['new_cases']} new cases")


COMMANDS = [db_group, users_group, catalog_group, demo_group]
