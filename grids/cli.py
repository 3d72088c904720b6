"""The `gridlink` commands over the domain (db, users, catalog, demo, divisions, grids). The web edge adds `serve`.

Every command that changes data commits once at the end, prints a summary, and supports --json.
Errors are DomainErrors printed as one line that says what to fix, with exit code 1.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from grids.cluster import Cluster
from grids.db import database_url, make_engine, postgis_version, unit_of_work
from grids.errors import ConfigError, DomainError
from grids.models import ROLES

DEFAULT_CITY_ENV = "GRIDLINK_CITY"


def default_city() -> str:
    return os.environ.get(DEFAULT_CITY_ENV, "330781")


def _city_code(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A city is its 6-digit code: --city abc (or GRIDLINK_CITY=abc) listed nothing and answered success."""
    if not re.fullmatch(r"[0-9]{6}", value):
        raise click.BadParameter(f"{value!r} is no city code: a city is its 6-digit code, such as 330781")
    return value


def city_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--city", default=default_city, show_default="$GRIDLINK_CITY or 330781",
                        callback=_city_code, help="6-digit code of the city.")(fn)


def fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a DomainError (or a file the system would not read or write) into a one-line message and exit
    code 1 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            _fail(exc, kwargs.get("as_json"))
        except OSError as exc:
            _fail(DomainError(f"{exc.filename or 'file'}: {exc.strerror or exc}", code="file_error"),
                  kwargs.get("as_json"))
        except (OperationalError, InterfaceError, ProgrammingError) as exc:  # the connection lost mid-run, or a
            if isinstance(exc, ProgrammingError) and getattr(exc.orig, "pgcode", None) not in SCHEMA_BEHIND:
                raise  # database without (all of) the schema; a bug in our SQL stays a traceback
            _fail(_database_error(exc), kwargs.get("as_json"))

    return wrapper


#: PostgreSQL's codes for a table or column that is not there (undefined_table, undefined_column): the
#: database's schema is older than this gridlink, or was never created.
SCHEMA_BEHIND = {"42P01", "42703"}


def _database_error(exc: DBAPIError) -> DomainError:
    """What went wrong with the database in one line (psycopg2's own message, without the SQL)."""
    reason = (str(exc.orig) or str(exc)).strip().splitlines()[0]  # not the SQL and caret psycopg2 adds below
    if getattr(exc.orig, "pgcode", None) in SCHEMA_BEHIND:
        return ConfigError(f"the database's schema is not this gridlink's ({reason}): run `gridlink db upgrade`")
    return DomainError(f"the database failed ({reason}): check DATABASE_URL or `gridlink db status`, then run the"
                       " command again", code="database_error")


def _fail(exc: DomainError, as_json: bool | None) -> None:
    if as_json:
        click.echo(json.dumps({"error": exc.to_dict()}, ensure_ascii=False, default=str))
    else:
        click.echo(f"error: {exc.message}", err=True)
        for line in _detail_lines(exc.details):
            click.echo(f"  {line}", err=True)
    sys.exit(1)


class OutFile(click.Path):
    """A file a command writes: its folder must exist and be writable, said before any work starts (an
    export or an import would otherwise fail only at its end)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = Path(super().convert(value, param, ctx))
        folder = path.absolute().parent
        if not folder.is_dir():
            self.fail(f"folder {folder} does not exist", param, ctx)
        if not os.access(folder, os.W_OK):
            self.fail(f"folder {folder} is not writable", param, ctx)
        return path


def _detail_lines(details: Any) -> list[str]:
    """Lists inside an error's details, one item per line, so every bad feature or place is visible."""
    if not isinstance(details, dict):
        return []
    return [f"{key}: {json.dumps(item, ensure_ascii=False, default=str)}"
            for key, items in details.items() if isinstance(items, list) for item in items]


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
    click.echo(json.dumps(result, ensure_ascii=False, default=_json_value) if as_json else summary)


def _json_value(value: Any) -> Any:
    """Rates and hours (Decimal) as JSON numbers, which a script compares and sums; anything else as text."""
    return float(value) if isinstance(value, Decimal) else str(value)


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
    from grids.migrate import schema_state

    engine = make_engine()
    try:
        click.echo(f"database reachable, PostGIS {postgis_version(engine)}, {schema_state(engine)}")
    except ConfigError as exc:
        click.echo(f"database: {exc.message}", err=True)
        sys.exit(3)
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
    click.echo(f"schema at {upgrade(database_url(), revision)}")


@db_group.command("backup")
@click.argument("file", type=OutFile())
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
    click.echo(f"restored {file} into {backup.parsed_url(target).render_as_string(hide_password=True)}")


# --- users ---------------------------------------------------------------------------------------
@click.group("users")
def users_group() -> None:
    """Staff accounts."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user does (README: Roles).")
@click.option("--township", help="Township code the user belongs to.")
@click.option("--department", help="Department code the user belongs to.")
@click.option("--squad", help="Squad code (sets the township too).")
@click.option("--display-name", default="")
@city_option
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
@fail_cleanly
def users_add(name: str, role: str, township: str | None, department: str | None, squad: str | None,
              display_name: str, city: str, password_stdin: bool, as_json: bool) -> None:
    """Add a user (or update an existing one's role, zone and password)."""
    from grids.org import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not sys.stdin.isatty():  # a script or a pipe: the prompt warned of echoed input, then said "Aborted!"
        raise click.UsageError("no terminal to ask the password on: pipe it in with --password-stdin")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with command_session() as session:
        user = add_user(session, city, name, role, password, display_name=display_name, township_code=township,
                        department_code=department, squad_code=squad)
        result = {"id": user.id, "username": user.username, "role": user.role}
    emit(result, as_json, f"user {name} saved with role {role}")


@users_group.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Only this role's accounts.")
@city_option
@json_option
@fail_cleanly
def users_list(role: str | None, city: str, as_json: bool) -> None:
    """The city's accounts: role, user name, zone, whether they may log in, display name."""
    from grids.org import list_users

    with command_session() as session:
        rows = list_users(session, city, role)
    lines = [f"{r['role']:<13}{r['username']:<24}{r['squad'] or r['township'] or r['department'] or '-':<14}"
             f"{'active' if r['active'] else 'deactivated':<12}{r['display_name']}" for r in rows]
    emit({"users": rows}, as_json, "\n".join([*lines, f"{len(rows)} accounts"]))


def _set_active(name: str, city: str, active: bool, as_json: bool) -> None:
    """users activate/deactivate: one switch, said in words."""
    from grids.org import set_active

    with command_session() as session:
        user = set_active(session, city, name, active)
        result = {"id": user.id, "username": user.username, "active": user.active}
    emit(result, as_json, f"user {name} {'can log in again' if active else 'deactivated: logged out, cannot log in'}")


def _account_switch(active: bool, help_text: str) -> None:
    """`users activate` / `users deactivate`: the same command but for the switch's position."""

    @users_group.command("activate" if active else "deactivate", help=help_text)
    @click.argument("name")
    @city_option
    @json_option
    @fail_cleanly
    def switch(name: str, city: str, as_json: bool) -> None:
        _set_active(name, city, active, as_json)


_account_switch(False, "Stop an account: its sessions end and it cannot log in; its history stays.")
_account_switch(True, "Let a deactivated account log in again.")


# --- squads (派驻执法中队) -------------------------------------------------------------------------
@click.group("squads")
def squads_group() -> None:
    """Enforcement squads stationed in townships (派驻执法中队), and their staffing."""


@squads_group.command("add")
@click.argument("code")
@click.option("--name", required=True, help="The squad's name, such as 女埠中队.")
@click.option("--township", required=True, help="Code of the township it is stationed in.")
@city_option
@json_option
@fail_cleanly
def squads_add(code: str, name: str, township: str, city: str, as_json: bool) -> None:
    """Station a squad in a township (or rename it). Then add its staff with `users add --squad CODE` and
    give it its grids with `grids assign`."""
    from grids.org import station_squad

    with command_session() as session:
        squad = station_squad(session, city, code, name, township)
        result = {"id": squad.id, "code": squad.code, "name": squad.name, "township": squad.township.code}
    emit(result, as_json, f"squad {code} {name} stationed in {result['township']}")


def _staffing_line(squad: dict[str, Any], per_officer: int) -> str:
    short = squad["co_managers_short"]
    flag = f"  {short} co-managers short of {per_officer} per officer" if short else ""
    officers, co_managers = squad["officers"], squad["co_managers"]
    return (f"{squad['code']:<14} {squad['township']:<10} {officers:>3} officer{'s' * (officers != 1):<1} "
            f"{co_managers:>3} co-manager{'s' * (co_managers != 1):<1}  {squad['name']}{flag}")


@squads_group.command("list")
@city_option
@json_option
@fail_cleanly
def squads_list(city: str, as_json: bool) -> None:
    """Each squad with its township, active officers and co-managers (DOMAIN §1: at least 2 per officer), then
    the townships still without a squad."""
    from grids.divisions import known_city
    from grids.org import CO_MANAGERS_PER_OFFICER, squad_staffing, townships_without_squad

    with command_session() as session:
        known_city(session, city)
        squads = [{"code": s.code, "name": s.squad, "township": s.township_code, "officers": s.officers,
                   "co_managers": s.co_managers, "co_managers_short": s.short} for s in squad_staffing(session, city)]
        bare = [{"code": d.code, "name": d.name} for d in townships_without_squad(session, city)]
    lines = [_staffing_line(s, CO_MANAGERS_PER_OFFICER) for s in squads]
    waiting = ", ".join(f"{d['code']} {d['name']}" for d in bare) or "none"
    lines.append(f"{len(squads)} squads; townships without one: {waiting}" if squads or bare else
                 "no townships drawn yet: a squad is stationed in a township, so import their boundaries first "
                 "(gridlink divisions import FILE --level township --parent DISTRICT)")
    emit({"squads": squads, "townships_without_squad": bare}, as_json, "\n".join(lines))


# --- catalog & demo ------------------------------------------------------------------------------
@click.group("catalog")
def catalog_group() -> None:
    """A city's departments, categories with time limits, and routing rules."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@city_option
@json_option
@fail_cleanly
def catalog_import(file: Path, city: str, as_json: bool) -> None:
    """Load or update a city's catalog from a JSON file (format in the README)."""
    from grids.catalog import import_catalog
    from grids.errors import Invalid

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"{file} is not valid UTF-8 JSON: {exc}") from exc
    with command_session() as session:
        counts = import_catalog(session, doc, city)
    emit(counts, as_json, ", ".join(f"{v} {k}" for k, v in counts.items()) + " imported")


@click.group("demo")
def demo_group() -> None:
    """The Lanxi demo city."""


@demo_group.command("load")
@click.option("--no-grids", is_flag=True, help="Skip drawing the pilot townships' ~50,000 grids (faster).")
@json_option
@fail_cleanly
def demo_load(no_grids: bool, as_json: bool) -> None:
    """Load the demo city (idempotent)."""
    from grids.demo import PILOT_TOWNSHIPS, load_demo

    with command_session() as session:
        result = load_demo(session, say=lambda line: click.echo(line, err=True),
                           grid_townships=() if no_grids else PILOT_TOWNSHIPS, history=True)
    emit(result, as_json, f"demo city {result['city']} loaded: {result['divisions']} divisions, "
                          f"{result['categories']} categories, {result['squads']} squads, "
                          f"{result['new_grids']} new grids, {result['new_cases']} new cases, "
                          f"{result['new_worked_cases']} new worked cases")


# --- divisions -----------------------------------------------------------------------------------
class CrsName(click.ParamType):
    """A coordinate system as gis.crs reads it (wgs84, cgcs2000, gcj02, bd09 and their other spellings): one it
    does not know is a usage error (2) before any work, as the README says of a value of the wrong form."""

    name = "crs"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from gis.crs import CoordinateError, normalize_crs_name

        try:
            return normalize_crs_name(str(value))
        except CoordinateError as exc:
            self.fail(str(exc), param, ctx)


def crs_option(what: str, required: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--crs as every command takes it: one wording of the systems, wgs84 unless the command requires it."""
    return click.option("--crs", type=CrsName(), required=required, default=None if required else "wgs84",
                        show_default=not required,
                        help=f"{what[0].upper()}{what[1:]}: wgs84 (GPS), cgcs2000, gcj02 (Amap, Tencent) or bd09 "
                             "(Baidu).")


@click.group("divisions")
def divisions_group() -> None:
    """The division tree: city/district -> township -> community boundaries."""


@divisions_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--level", required=True, type=click.Choice(["city", "district", "township", "community"]))
@crs_option("the file's coordinates", required=True)
@click.option("--code-field", required=True, help="Property holding the division code (e.g. adcode).")
@click.option("--name-field", required=True, help="Property holding the division name.")
@click.option("--parent", "parent_code", help="Code of the stored division the features lie in.")
@click.option("--skip-invalid", is_flag=True, help="Store the good features and report the bad ones.")
@click.option("--repair", is_flag=True, help="Repair invalid shapes and report their area before and after.")
@click.option("--clip-overlaps", is_flag=True, help="Give each overlap to the feature first in the file.")
@city_option
@json_option
@fail_cleanly
def divisions_import(file: Path, level: str, crs: str, code_field: str, name_field: str, parent_code: str | None,
                     skip_invalid: bool, repair: bool, clip_overlaps: bool, city: str, as_json: bool) -> None:
    """Import boundaries from GeoJSON, a zipped Shapefile or a GeoPackage (all or nothing by default)."""
    from grids.divisions import import_divisions
    from grids.errors import Invalid

    if skip_invalid and repair:
        raise Invalid("choose one of --skip-invalid and --repair")
    mode = "skip" if skip_invalid else "repair" if repair else "refuse"
    with command_session() as session:
        result = import_divisions(session, city, file, level=level, crs=crs, code_field=code_field,
                                  name_field=name_field, parent_code=parent_code, invalid=mode,
                                  clip_overlaps=clip_overlaps)
    outline = f"; {result['outline']}" if result["outline"] else ""
    emit(result, as_json, f"{result['stored']} {level} divisions of city {city} stored ({len(result['created'])} new, "
                          f"{len(result['updated'])} updated, {len(result['unchanged'])} unchanged); "
                          f"{len(result['skipped'])} skipped, {len(result['repaired'])} repaired, "
                          f"{len(result['moved'])} overlaps clipped, {len(result['trimmed'])} trimmed to the parent"
                          f"{outline}")


@divisions_group.command("list")
@click.option("--level", type=click.Choice(["city", "district", "township", "community"]))
@city_option
@json_option
@fail_cleanly
def divisions_list(level: str | None, city: str, as_json: bool) -> None:
    """List stored divisions: code, name, level, parent and area in m²."""
    from grids.divisions import list_divisions

    with command_session() as session:
        rows = list_divisions(session, city, level)
    lines = [f"{r['code']:<12} {r['level']:<9} {r['parent'] or '-':<12} {r['area_m2']:>16,.0f} m²  {r['name']}"
             for r in rows]
    emit({"divisions": rows}, as_json, "\n".join([*lines, f"{len(rows)} divisions"]))


# --- grids ---------------------------------------------------------------------------------------
@click.group("grids")
def grids_group() -> None:
    """Unit grid layouts: generate, check, publish, export, assign."""


@contextlib.contextmanager
def _progress_bar(label: str, as_json: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A `progress(done, total)` callback drawing a click progress bar on a terminal. Without one (nohup,
    cron, a pipe) a line goes to standard error at each tenth, so a log shows how far a long run got; with
    --json, where a program reads the output, nothing."""
    if not sys.stdout.isatty():
        yield (lambda done, total: None) if as_json else _tenths(label)
        return
    with click.progressbar(length=1, label=label) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield progress


def _tenths(label: str) -> Callable[[int, int], None]:
    """A progress callback printing "label: 30%" to standard error once per tenth reached."""
    shown = 0

    def progress(done: int, total: int) -> None:
        nonlocal shown
        tenth = 10 * done // total if total else 10
        if tenth > shown:
            shown = tenth
            click.echo(f"{label}: {tenth * 10}%", err=True)
    return progress


@grids_group.command("generate")
@click.option("--division", "division_code", required=True, help="Code of the division to cover.")
@click.option("--target-area", default=10_000.0, show_default=True, help="Grid size in m².")
@click.option("--method", default="roads", show_default=True, type=click.Choice(["roads", "square"]))
@click.option("--roads", "roads_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Road centre lines (GeoJSON, zipped Shapefile, GeoPackage) for --method roads.")
@click.option("--roads-crs", default="wgs84", show_default=True, help="Coordinates of the road file.")
@click.option("--seq-width", default=3, show_default=True, help="Digits of the grid sequence number.")
@city_option
@json_option
@fail_cleanly
def grids_generate(division_code: str, target_area: float, method: str, roads_file: Path | None, roads_crs: str,
                   seq_width: int, city: str, as_json: bool) -> None:
    """Generate a draft layout covering a division (inside each leaf child where children are drawn)."""
    from grids.layouts import check_layout, generate_layout, read_roads

    roads = read_roads(roads_file, roads_crs) if roads_file else None
    with command_session() as session, _progress_bar(f"drawing grids in {division_code}", as_json) as progress:
        layout = generate_layout(session, city, division_code, target_area=target_area, method=method,
                                 roads=roads, seq_width=seq_width, progress=progress)
        report = check_layout(session, layout.id)
    result = {"layout": layout.id, "division": division_code, "method": method, "status": layout.status,
              "count": report["count"], "area_m2": report["area_m2"], "ok": report["ok"]}
    emit(result, as_json, f"layout {layout.id}: {report['count']} grids drawn in {division_code} ({method}), "
                          f"median {report['area_m2']['median']} m²; check {'ok' if report['ok'] else 'FAILED'}")


@grids_group.command("check")
@click.argument("layout_id", type=int)
@json_option
@fail_cleanly
def grids_check(layout_id: int, as_json: bool) -> None:
    """Check a layout for invalid grids, overlaps, gaps and grids outside their parent (exit 2 on problems)."""
    from grids.layouts import check_layout

    with command_session() as session:
        report = check_layout(session, layout_id)
    area = report["area_m2"]
    emit(report, as_json, f"layout {layout_id}: {report['count']} grids, area min/median/max {area['min']}/"
                          f"{area['median']}/{area['max']} m², {report['invalid']} invalid, "
                          f"{report['overlap_pairs']} overlaps ({report['overlap_area_m2']} m²), "
                          f"gaps {report['gap_area_m2']} m², {report['outside_parent']} outside their parent, "
                          f"{report['crossing_divisions']} across a division below it: "
                          f"{'ok' if report['ok'] else 'PROBLEMS'}")
    if not report["ok"]:
        sys.exit(2)


@grids_group.command("publish")
@click.argument("layout_id", type=int)
@click.option("--effective", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="First day in force (default: the city's today).")
@click.option("--preview", is_flag=True, help="Only show what changes hands; publish nothing.")
@json_option
@fail_cleanly
def grids_publish(layout_id: int, effective: Any, preview: bool, as_json: bool) -> None:
    """Publish a draft that passes the check; the division's previous layout retires that day."""
    from grids.layouts import publish_impact, publish_layout

    with command_session() as session:
        if preview:
            result = {"impact": publish_impact(session, layout_id)}
        else:
            result = publish_layout(session, layout_id, effective.date() if effective else None)
        impact = result["impact"]
    counts = ", ".join(f"{impact[k]['count']} {k.replace('_', ' ')}" for k in ("open_cases", "frontage_units",
                                                                                 "assignments", "responsibility"))
    done = "would change hands" if preview else f"changed hands; layout {layout_id} in force from " \
                                                f"{result['effective_from']}"
    emit(result, as_json, f"{counts} {done}")


@grids_group.command("export")
@click.argument("layout_id", type=int)
@click.argument("out", type=OutFile())
@click.option("--format", "fmt", required=True, type=click.Choice(["geojson", "gpkg", "shp"]))
@json_option
@fail_cleanly
def grids_export(layout_id: int, out: Path, fmt: str, as_json: bool) -> None:
    """Export a layout's grids (a .zip OUT with --format shp gives a zipped Shapefile)."""
    from grids.layouts import export_layout

    with command_session() as session:
        result = export_layout(session, layout_id, fmt, out)
    emit(result, as_json, f"{result['count']} grids of layout {layout_id} written to {result['path']}")


@grids_group.command("assign")
@click.argument("layout_id", type=int)
@click.option("--codes", help="Comma-separated grid codes (default: every grid of the layout).")
@click.option("--squad", "squad_code", help="Squad code (default: the squad stationed in each grid's township).")
@click.option("--co-manager", "co_manager", help="User name of the co-manager.")
@city_option
@json_option
@fail_cleanly
def grids_assign(layout_id: int, codes: str | None, squad_code: str | None, co_manager: str | None, city: str,
                 as_json: bool) -> None:
    """Make a squad and a co-manager accountable for grids of a layout."""
    from grids.layouts import assign_by_codes

    with command_session() as session:
        result = assign_by_codes(session, city, layout_id, codes.split(",") if codes else None,
                                 squad_code=squad_code, co_manager=co_manager)
    given = result["assigned"] - result["without_squad"]
    emit(result, as_json, f"{given} of {result['assigned']} grids have a squad; {result['without_squad']} still "
                          "without one (no squad stationed in their township)" if result["without_squad"] else
                          f"{result['assigned']} grids assigned")


@grids_group.group("responsibility")
def responsibility_group() -> None:
    """责任网格: duty areas made of unit grids, for a squad, a co-manager or a department."""


@responsibility_group.command("create")
@click.argument("layout_id", type=int)
@click.option("--code", required=True, help="Code of the duty area, unique in the city.")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice(["squad", "co_manager", "department"]))
@click.option("--party", required=True, help="Squad code, co-manager user name or department code.")
@click.option("--grids", "codes", required=True, help="Comma-separated codes of contiguous grids of the layout.")
@city_option
@json_option
@fail_cleanly
def responsibility_create(layout_id: int, code: str, name: str, kind: str, party: str, codes: str, city: str,
                          as_json: bool) -> None:
    """Create a duty area from grids of one layout; non-contiguous grids are refused by code."""
    from grids.responsibility import create_by_codes

    with command_session() as session:
        rgrid = create_by_codes(session, city, layout_id, code, name, kind, codes.split(","), party)
        result = {"id": rgrid.id, "code": rgrid.code, "grids": len(rgrid.grids)}
    emit(result, as_json, f"responsibility grid {result['code']} created with {result['grids']} grids")


@responsibility_group.command("update")
@click.argument("layout_id", type=int)
@click.option("--code", required=True, help="Code of the duty area.")
@click.option("--grids", "codes", required=True, help="Comma-separated codes of its contiguous grids, all of them.")
@city_option
@json_option
@fail_cleanly
def responsibility_update(layout_id: int, code: str, codes: str, city: str, as_json: bool) -> None:
    """Replace a duty area's grids (one layout's, contiguous, as for create)."""
    from grids.responsibility import layout_grids_by_code, update_members

    with command_session() as session:
        grid_ids = list(layout_grids_by_code(session, layout_id, codes.split(",")))
        rgrid = update_members(session, city, code, grid_ids)
        result = {"id": rgrid.id, "code": rgrid.code, "grids": len(rgrid.grids)}
    emit(result, as_json, f"responsibility grid {result['code']} now has {result['grids']} grids")


@responsibility_group.command("list")
@city_option
@json_option
@fail_cleanly
def responsibility_list(city: str, as_json: bool) -> None:
    """Every duty area with its party, member count and area."""
    from grids.responsibility import list_responsibility_grids

    with command_session() as session:
        rows = list_responsibility_grids(session, city)
    lines = [f"{r['code']}\t{r['name']}\t{r['kind']}\t{r['party']}\t{r['grids']} grids\t{r['area_m2']} m²"
             for r in rows]
    emit({"responsibility_grids": rows}, as_json, "\n".join(lines) or "no responsibility grids")



# --- frontage (门前三包) --------------------------------------------------------------------------
@click.group("frontage")
def frontage_group() -> None:
    """门前三包: street-facing units, their frontage areas, export."""


@frontage_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name-field", required=True, help="Field holding the unit's name.")
@click.option("--type-field", help="Field holding its type (shop, office, market ... or e.g. OSM's shop tag).")
@crs_option("the file's coordinates", required=True)
@city_option
@json_option
@fail_cleanly
def frontage_import(file: Path, name_field: str, type_field: str | None, crs: str, city: str,
                    as_json: bool) -> None:
    """Import units from CSV (lon/lat columns) or GeoJSON points, e.g. OpenStreetMap shops."""
    from grids.frontage import import_units, read_unit_file

    with command_session() as session:
        result = import_units(session, city, read_unit_file(file), name_field, type_field, crs)
    skipped = "".join(f"\n  #{s['index'] + 1}: {s['reason']}" for s in result["skipped"])  # which (1: the first), why
    emit(result, as_json, f"{result['created']} units created, {result['updated']} updated, "
                          f"{len(result['skipped'])} skipped{skipped}")


@frontage_group.command("generate")
@click.option("--division", "division_code", required=True, help="Code of the division (e.g. a township).")
@click.option("--buildings", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--roads", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@crs_option("both files' coordinates")
@click.option("--max-depth", default=15.0, show_default=True, type=float, help="Metres from the façade.")
@city_option
@json_option
@fail_cleanly
def frontage_generate(division_code: str, buildings: Path, roads: Path, crs: str, max_depth: float, city: str,
                      as_json: bool) -> None:
    """Draw the frontage areas of the division's units from building footprints and road centre lines."""
    from grids.frontage import generate_areas

    with command_session() as session:
        result = generate_areas(session, city, division_code, buildings, roads, crs, max_depth)
    lines = [f"{result['with_area']} of {result['units']} units have an area ({result['fallback']} by the "
             f"no-building fallback, {result['empty']} empty); {result['grid_links']} unit-grid links"]
    lines += [f"dirty building polygon #{p['index']}: {p['reason']} at {p['location']}"
              for p in result["invalid_buildings"]]
    emit(result, as_json, "\n".join(lines))


@frontage_group.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(["geojson", "csv"]))
@click.argument("out", type=OutFile())
@city_option
@json_option
@fail_cleanly
def frontage_export(fmt: str, out: Path, city: str, as_json: bool) -> None:
    """Write units (type, duties, grid code, latest score, area) to GeoJSON or CSV; no personal data."""
    from grids.frontage import export_units

    with command_session() as session:
        result = export_units(session, fmt, out, city)
    emit(result, as_json, f"{result['units']} units written to {out}")


COMMANDS = [db_group, users_group, squads_group, catalog_group, demo_group, divisions_group, grids_group,
            frontage_group]


# --- cases: API keys, locate, incidents, SLA -----------------------------------------------------
@click.group("apikeys")
def apikeys_group() -> None:
    """API keys for machine clients (Open311 api_key, Bearer on /api/v1)."""


@apikeys_group.command("create")
@click.argument("name")
@click.option("--role", default="reporter", show_default=True, help="reporter, viewer, dispatcher or supervisor")
@click.option("--rate", "rate_per_minute", type=int, default=120, show_default=True, help="Requests a minute.")
@city_option
@json_option
@fail_cleanly
def apikeys_create(name: str, role: str, rate_per_minute: int, city: str, as_json: bool) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from grids.apikeys import create_key

    with command_session() as session:
        key, raw = create_key(session, city, name, role, rate_per_minute)
        result = {"name": key.name, "city": city, "role": key.role, "rate_per_minute": key.rate_per_minute,
                  "key": raw}
    emit(result, as_json, f"API key {name} ({role}) of city {city}: {raw}\nstore it now: it cannot be shown again")


@apikeys_group.command("revoke")
@click.argument("name")
@city_option
@json_option
@fail_cleanly
def apikeys_revoke(name: str, city: str, as_json: bool) -> None:
    """Revoke a key: every later request with it gets 401."""
    from grids.apikeys import revoke_key

    with command_session() as session:
        key = revoke_key(session, city, name)
        result = {"name": key.name, "revoked_at": key.revoked_at}
    emit(result, as_json, f"API key {name} revoked")


@apikeys_group.command("list")
@city_option
@json_option
@fail_cleanly
def apikeys_list(city: str, as_json: bool) -> None:
    """List keys (name, role, prefix, revoked) without the keys themselves."""
    from grids.apikeys import list_keys

    with command_session() as session:
        rows = [{"name": k.name, "role": k.role, "prefix": k.prefix, "rate_per_minute": k.rate_per_minute,
                 "revoked_at": k.revoked_at} for k in list_keys(session, city)]
    emit({"keys": rows}, as_json, "\n".join(f"{r['name']}\t{r['role']}\t{r['prefix']}…\t"
                                           f"{'revoked' if r['revoked_at'] else 'active'}" for r in rows))


@click.command("locate", context_settings={"ignore_unknown_options": True})  # -29.3 is a number, not an option
@click.argument("lon", type=float, required=False)
@click.argument("lat", type=float, required=False)
@crs_option("LON LAT's coordinates")
@click.option("--category", help="Category code or name, to route to a department.")
@click.option("--component", help="16-digit component code: routes to its maintainer; its place without LON LAT.")
@city_option
@json_option
@fail_cleanly
def locate_command(lon: float | None, lat: float | None, crs: str, category: str | None, component: str | None,
                   city: str, as_json: bool) -> None:
    """Where a point (or a component) lies (divisions, grid) and who answers for it there, with the reason."""
    from grids.incidents import check_component, locate
    from grids.workflow import category_by_code

    with command_session() as session:
        cat = category_by_code(session, city, category) if category else None
        where = locate(session, city, lon, lat, crs=crs, category=cat, component_code=component)
        check_component(where, cat)
        result = where.to_dict()
    path = " > ".join(d["name"] for d in result["divisions"])
    people = [f"{label}: {(result[key] or {}).get('name') or '-'}"
              for key, label in (("squad", "squad"), ("co_manager", "co-manager"), ("frontage_unit", "门前三包"),
                                 ("department", "department"))]
    emit(result, as_json, "\n".join([path, f"grid: {(result['grid'] or {}).get('code', '-')}", " · ".join(people),
                                      result["routing_reason"]]))


@click.group("sla")
def sla_group() -> None:
    """Working-time deadlines."""


@sla_group.command("sweep")
@json_option
@fail_cleanly
def sla_sweep(as_json: bool) -> None:
    """Escalate every case past its deadline, each exactly once (safe to run any time, from cron). A city
    whose calendar lacks a year's holidays is warned of on standard error: its deadlines are Monday-Friday."""
    from grids.calendar import gap_warning
    from grids.workflow import sweep_if_free

    with command_session() as session:
        escalated = sweep_if_free(session)
    with command_session() as session:  # after the sweep's commit: nothing here can undo an escalation
        gaps = _calendar_gaps(session)
    for city, years in gaps.items():
        click.echo(f"warning: city {city}: {gap_warning(years)}", err=True)
    if escalated is None:
        emit({"escalated": None, "skipped": "another process is sweeping", "calendar_gaps": gaps}, as_json,
             "another process is sweeping right now; nothing done")
        return
    escalated = sorted(escalated)
    emit({"escalated": escalated, "calendar_gaps": gaps}, as_json, f"{len(escalated)} overdue cases escalated"
         + (f": {', '.join(f'#{case}' for case in escalated)}" if escalated else ""))


def _calendar_gaps(session: Session) -> dict[str, list[int]]:
    """The years each city's calendar does not know, from its today to the warning horizon (unknown_years)."""
    from sqlalchemy import select

    from grids.calendar import unknown_years
    from grids.layouts import city_date
    from grids.models import City

    gaps = {code: unknown_years(session, code, city_date(session, code))
            for code in session.scalars(select(City.code).order_by(City.code))}
    return {code: years for code, years in gaps.items() if years}


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date such as 2027-02-06") from exc


@sla_group.command("day")
@click.argument("day", type=_day, metavar="YYYY-MM-DD")
@click.option("--workday", is_flag=True, help="A working day (a 调休 Saturday, say).")
@click.option("--holiday", is_flag=True, help="A day off (an official or local holiday).")
@click.option("--clear", is_flag=True, help="Drop the override: the holiday package decides.")
@click.option("--note", default=None, help="Why, e.g. 春节 or 国务院办公厅通知.")
@city_option
@json_option
@fail_cleanly
def sla_day(day: date, workday: bool, holiday: bool, clear: bool, note: str | None, city: str,
            as_json: bool) -> None:
    """Override one day of the city's working calendar (deadlines computed from now on count it); setting a
    day again replaces its earlier setting and note."""
    from grids.calendar import set_day

    chosen = [kind for kind, given in (("workday", workday), ("holiday", holiday), ("clear", clear)) if given]
    if len(chosen) != 1:
        raise click.UsageError("say exactly one of --workday, --holiday or --clear")
    kind = chosen[0]
    with command_session() as session:
        set_day(session, city, day, {"workday": True, "holiday": False, "clear": None}[kind], note)
    emit({"city": city, "day": day.isoformat(), "set": kind, "note": note}, as_json,
         f"{day.isoformat()}: {kind}" + (f" ({note})" if note else ""))


@sla_group.command("days")
@click.argument("year", type=click.IntRange(1900, 2999))
@city_option
@json_option
@fail_cleanly
def sla_days(year: int, city: str, as_json: bool) -> None:
    """The city's own working days and days off in YEAR, and whether the holiday package knows YEAR."""
    from grids.calendar import year_days

    with command_session() as session:
        result = year_days(session, city, year)
    lines = [f"{d['day']} {'working day' if d['workday'] else 'day off'}{' ' + d['note'] if d['note'] else ''}"
             for d in result["days"]]
    coverage = (f"{year}: official holidays and 调休 days from the chinesecalendar package"
                if result["package_covers"] else
                f"{year}: NOT known to the installed chinesecalendar package: deadlines count Monday-Friday plus "
                f"the days below; enter the State Council's holidays with `gridlink sla day DATE --holiday` "
                f"(and --workday for 调休 days) or upgrade the package")
    emit(result, as_json, "\n".join([coverage, *lines] if lines else [coverage, "no days of the city's own"]))


COMMANDS += [apikeys_group, locate_command, sla_group]


# --- incidents: bulk import and export -----------------------------------------------------------
@click.group("incidents")
def incidents_group() -> None:
    """Cases in bulk: import historical cases from CSV, export cases as CSV or GeoJSON."""


def _read_mapping(path: Path) -> Any:
    from grids.errors import Invalid

    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))  # Notepad saves UTF-8 with a BOM
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"{path} is not valid UTF-8 JSON: {exc}", code="bad_mapping") from exc


@incidents_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--map", "mapping_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON naming the columns (format in docs/api.md).")
@crs_option("the file's coordinates")
@click.option("--report", "report_path", type=OutFile(),
              help="Where the rejected rows go (default FILE.rejects.csv).")
@city_option
@json_option
@fail_cleanly
def incidents_import(file: Path, mapping_file: Path, crs: str, report_path: Path | None, city: str,
                     as_json: bool) -> None:
    """Import historical cases (idempotent by external id); rejected rows go to a report with the reason."""
    from grids.db import analyze_stale
    from grids.incident_io import import_cases

    mapping = _read_mapping(mapping_file)
    with command_session() as session:  # committed before the import, whose transaction may last minutes
        analyze_stale(session)
    with command_session() as session, _progress_bar(f"importing {file.name}", as_json) as progress:
        result = import_cases(session, city, file, mapping, crs=crs, report_path=report_path, progress=progress)
    reasons = ", ".join(f"{count} {reason}" for reason, count in result["reasons"].items())
    emit(result, as_json, f"{result['rows']} rows: {result['imported']} imported ({result['unlocated']} in no grid), "
                          f"{result['rejected']} rejected"
                          f"{f' ({reasons})' if reasons else ''}; rejects in {result['report']}")


@incidents_group.command("export")
@click.argument("out", type=OutFile())
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "geojson", "xlsx"]),
              help="xlsx: an Excel workbook whose codes stay text and times are dates.")
@click.option("--status", help="Workflow states, comma-separated.")
@click.option("--category", help="Category codes, comma-separated.")
@click.option("--township", help="Township code.")
@click.option("--district", help="District code: the cases at a point in it.")
@click.option("--department", help="Code of the department that has the cases (承办).")
@click.option("--since", type=_day, metavar="YYYY-MM-DD", help="First day reported (YYYY-MM-DD, city time).")
@click.option("--until", type=_day, metavar="YYYY-MM-DD",
              help="Last day reported (YYYY-MM-DD, city time, included).")
@click.option("--source", help="Channel: dispatcher, hotline, visit, field, api, open311, import ...")
@click.option("--overdue", is_flag=True, help="Only open cases past their deadline.")
@click.option("--triage", is_flag=True, help="Only cases waiting in triage (in no grid).")
@click.option("--extension", is_flag=True, help="Only cases whose extension request waits for its approver.")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="The xlsx workbook's headings above the column codes.")
@city_option
@json_option
@fail_cleanly
def incidents_export(out: Path, fmt: str, status: str | None, category: str | None, township: str | None,
                     district: str | None, department: str | None, since: date | None, until: date | None,
                     source: str | None, overdue: bool, triage: bool, extension: bool, language: str, city: str,
                     as_json: bool) -> None:
    """Write one row per case (owner, grid, divisions, routing reason) to OUT; text stays text."""
    from grids.incident_io import CaseFilter, export_cases
    from grids.spreadsheet import replaced_on_success

    only = [name for name, chosen in (("overdue", overdue), ("triage", triage), ("extension", extension)) if chosen]
    filters = CaseFilter.parse(status, category, township, since, until, source, only, department, district)
    with command_session() as session, replaced_on_success(out, encoding=None) as handle, \
            _progress_bar(f"exporting to {out.name}", as_json) as progress:
        result = export_cases(session, city, fmt, handle, filters, language=language,
                              progress=None if as_json else progress)  # --json: no bar, so no count
    emit({**result, "path": str(out)}, as_json, f"{result['cases']} cases written to {out}")


COMMANDS += [incidents_group]


# --- outbox: notifications for a relay -----------------------------------------------------------
@click.group("outbox")
def outbox_group() -> None:
    """Notifications written with case actions, for an SMS/WeChat relay to deliver."""


@outbox_group.command("list")
@click.option("--undelivered", is_flag=True, help="Only messages not yet marked delivered.")
@click.option("--after", type=click.IntRange(min=0), default=0, show_default=True,
              help="Only messages after this id (a relay's last one: the next page).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True,
              help="At most this many messages.")
@json_option
@fail_cleanly
def outbox_list(undelivered: bool, after: int, limit: int, as_json: bool) -> None:
    """Print the outbox, oldest first; a page that does not hold every message says how to get the next."""
    from grids.outbox import list_messages

    with command_session() as session:
        page = list_messages(session, undelivered=undelivered, after=after, limit=limit)
    lines = [f"{m['id']}\t{m['kind']}\tcase {m['incident_id']}\t{m['recipient']}\t"
             f"{m['delivered_at'] or 'undelivered'}" for m in page["messages"]]
    if page["next_after"] is not None:
        lines.append(f"{len(page['messages'])} of {page['total']} shown: the next page is --after {page['next_after']}")
    emit(page, as_json, "\n".join(lines) or "outbox empty")


@outbox_group.command("mark-delivered")
@click.argument("ids", nargs=-1, type=int, required=True)
@json_option
@fail_cleanly
def outbox_mark_delivered(ids: tuple[int, ...], as_json: bool) -> None:
    """Mark messages delivered (already delivered ones keep their first time)."""
    from grids.outbox import mark_delivered

    with command_session() as session:
        marked = mark_delivered(session, ids)
    emit({"marked": marked}, as_json, f"{len(marked)} messages marked delivered")


COMMANDS += [outbox_group]


# --- components (部件) ---------------------------------------------------------------------------
@click.group("components")
def components_group() -> None:
    """The component register (部件): manhole covers, lamps, bins ... by their 16-digit code."""


@components_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@crs_option("the file's coordinates")
@city_option
@json_option
@fail_cleanly
def components_import(file: Path, crs: str, city: str, as_json: bool) -> None:
    """Import or update components from CSV (code, category, name, owner, maintainer, status, lon, lat, address)
    or GeoJSON points; all or nothing, every bad row listed; idempotent by code."""
    from grids.components import import_components

    with command_session() as session, _progress_bar(f"importing {file.name}", as_json) as progress:
        result = import_components(session, city, file, crs=crs, progress=progress)
    emit(result, as_json, f"{result['rows']} components: {result['created']} new, {result['updated']} updated, "
                          f"{result['unchanged']} unchanged")


@components_group.command("list")
@city_option
@json_option
@fail_cleanly
def components_list(city: str, as_json: bool) -> None:
    """The register in code order: code, class, status, maintainer, name."""
    from grids.components import list_components

    with command_session() as session:
        rows = list_components(session, city)
    lines = [f"{r['code']}\t{r['category']}\t{r['status']}\t{r['maintainer'] or '-'}\t{r['name'] or ''}"
             for r in rows]
    emit({"components": rows}, as_json, "\n".join([*lines, f"{len(rows)} components"]))


COMMANDS += [components_group]


# --- evaluate (综合评价) -------------------------------------------------------------------------
@click.command("evaluate")
@click.option("--period", "kind", required=True, type=click.Choice(["week", "month", "quarter", "year"]))
@click.option("--date", "day", required=True, type=_day, metavar="YYYY-MM-DD",
              help="Any day in the period (YYYY-MM-DD, city time).")
@click.option("--by", required=True, type=click.Choice(["township", "district", "department", "squad"]))
@click.option("--csv", "csv_out", type=OutFile(), help="Also write the ranking here.")
@city_option
@json_option
@fail_cleanly
def evaluate_command(kind: str, day: date, by: str, csv_out: Path | None, city: str, as_json: bool) -> None:
    """Rank townships, departments or squads for a period: 应结案, 结案率, 按期结案率 ... and the 0-100 score."""
    from grids.evaluation import evaluate, parse_period, write_csv
    from grids.layouts import city_date
    from grids.spreadsheet import replaced_on_success

    period = parse_period(kind, day)
    with command_session() as session:
        rows = evaluate(session, city, period, by)
        today = city_date(session, city)
    if csv_out:
        with replaced_on_success(csv_out) as handle:
            write_csv(rows, handle)
    lines = [f"{_or_dash(r.rank):>3} {r.code:<12} 应结案 {r.counts['due']:>5}  "
             f"结案率 {_or_dash(r.rates['结案率']):>6}  按期结案率 {_or_dash(r.rates['按期结案率']):>6}  "
             f"得分 {_or_dash(r.score):>6}  {r.name}" for r in rows]
    future = [f"{period.label} has not started yet (today is {today}): nothing is due"] if period.start > today else []
    if not rows:  # Jiujiang by township printed a heading and nothing: it has no township drawn
        future.append(f"city {city} has no {by} to rank (none drawn or registered); rank it by another level")
    emit({"period": period.label, "by": by, "rows": [r.record() for r in rows], "notes": future}, as_json,
         "\n".join([f"{period.label} by {by}", *future, *lines]))


def _or_dash(value: object) -> object:
    """"-" where there is nothing to divide by (None); a real 0 (0.00 %) prints as 0.00."""
    return "-" if value is None else value


COMMANDS += [evaluate_command]
