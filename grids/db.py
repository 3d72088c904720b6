"""Database plumbing: the declarative Base, the engine and session factory, and the PostGIS check.

Why a naming convention: Alembic autogenerate and hand-written migrations must agree on constraint
names, or every downgrade guesses.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, Executable, MetaData, create_engine, event, make_url, text
from sqlalchemy.engine import Connection, ExecutionContext
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from grids.errors import ConfigError

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def database_url() -> str:
    """DATABASE_URL when set, else the embedded cluster of this checkout."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return psycopg2_url(url)
    from grids.cluster import Cluster

    return Cluster.for_project().url()


def psycopg2_url(url: str) -> str:
    """The URL with the driver gridlink ships: postgresql:// and postgres:// (as libpq, Heroku and the operations
    guide write them) mean psycopg2 here; SQLAlchemy 2.1 would pick psycopg 3, which is not installed."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError("DATABASE_URL is not a database URL (not repeated here: it may hold a password): write "
                          "it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE") from exc
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(f"DATABASE_URL names a {parsed.get_backend_name()} database: gridlink needs PostgreSQL "
                          "with PostGIS (postgresql://USER:PASSWORD@HOST:PORT/DATABASE)")
    return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def make_engine(url: str | URL | None = None, **options: Any) -> Engine:
    """pool_pre_ping survives a PostgreSQL restart; a short pool timeout fails fast (503) instead of hanging.

    `options` override these defaults (the web app's autocommit read pool turns the ping off)."""
    settings = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5, "pool_timeout": 5,
                "connect_args": {"connect_timeout": 5}, **options}
    return create_engine(psycopg2_url(url) if isinstance(url, str) else url or database_url(), **settings)


_log = logging.getLogger(__name__)
#: The execution option that marks a statement to run prepared (see `prepared`).
PREPARED = "gridlink_prepared"
#: invalid_sql_statement_name (EXECUTE of a statement the server dropped), duplicate_prepared_statement.
_LOST_PREPARED = {"26000", "42P05"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
E = TypeVar("E", bound=Executable)


def prepared(statement: E) -> E:
    """The statement, run as a server-side prepared statement: PostgreSQL parses and plans it once per
    connection instead of on every call.

    Why: psycopg2 sends every statement as text, so the server parses, analyses and plans it each time; for
    the statements every report runs (the place statement alone plans in ~0.5 ms) that was a fifth of the
    database's CPU per case (bench/intake.py). For statements built once: each distinct SQL text it
    compiles to (an INSERT's column set, say) is prepared once per connection.
    """
    return statement.execution_options(**{PREPARED: True})


def _parameter_type(context: ExecutionContext, conn: Connection, rendered: str) -> str:
    """The SQL type of a bound parameter; "unknown" (the server infers it, as it does for text SQL) for one
    SQLAlchemy renders only at execution, such as the items of an IN list."""
    bind = next((b for b, name in context.compiled.bind_names.items() if name == rendered), None)
    return "unknown" if bind is None or bind.type._isnull else bind.type.compile(conn.dialect)


@event.listens_for(Engine, "before_cursor_execute", retval=True)
def _execute_prepared(conn: Connection, cursor: Any, statement: str, parameters: Any,
                      context: ExecutionContext | None, executemany: bool) -> tuple[str, Any]:
    """EXECUTE of a statement marked by `prepared`, after its PREPARE on the connection's first use of it.

    The statement's name is a digest of its SQL; the parameters keep their names, and psycopg2 fills them
    into the EXECUTE as it would have into the statement. A prepared statement outlives transactions and
    rollbacks; a new connection (after a database restart, say) prepares afresh."""
    if context is None or not context.execution_options.get(PREPARED) or executemany \
            or not isinstance(parameters, dict) or getattr(cursor, "name", None):  # server-side cursors: DECLARE
        return statement, parameters
    name, names, execute = _prepared_form(statement)
    done = conn.connection.info.setdefault(PREPARED, set())
    if name not in done:
        types = ", ".join(_parameter_type(context, conn, n) for n in names)
        body = _PLACEHOLDER.sub(lambda m: f"${names.index(m.group(1)) + 1}", statement).replace("%%", "%")
        cursor.execute(f"PREPARE {name}{f'({types})' if names else ''} AS {body}")
        done.add(name)
    return execute, parameters


@functools.lru_cache(maxsize=1024)
def _prepared_form(statement: str) -> tuple[str, list[str], str]:
    """(name, parameter names, EXECUTE text) of a statement's SQL: worked out once per text, not per call
    (SQLAlchemy hands over the same compiled string each time, and every report runs several)."""
    names = list(dict.fromkeys(_PLACEHOLDER.findall(statement)))
    name = "gridlink_" + hashlib.blake2b(statement.encode(), digest_size=8).hexdigest()
    return name, names, f"EXECUTE {name}{'(' + ', '.join(f'%({n})s' for n in names) + ')' if names else ''}"


@event.listens_for(Engine, "handle_error")
def _drop_connection_without_its_statements(context: Any) -> None:
    """A connection whose prepared statements the server no longer has (a DEALLOCATE, or a pooler's reset
    mid-session) is thrown away like a broken one, with a warning: the failing statement's transaction fails
    once, the next checkout gets a fresh connection that prepares afresh, instead of a pooled connection
    failing for good."""
    if getattr(context.original_exception, "pgcode", None) in _LOST_PREPARED:
        _log.warning("replacing a database connection that lost its prepared statements: %s",
                     context.original_exception)
        context.is_disconnect, context.invalidate_pool_on_disconnect = True, False


#: A table under this many rows is analysed whenever it changed since its last analysis (which takes ms).
SMALL_TABLE = 10_000
#: What a report and a bulk import read to place and route a case: the city's reference data.
PLACING_TABLES = ("cities", "divisions", "division_parts", "grid_layouts", "grids", "squads", "users", "frontage_units",
                  "routing_rules", "departments", "category_departments", "categories", "stage_limits",
                  "calendar_days", "components")


def analyze_stale(session: Session, tables: Sequence[str] = PLACING_TABLES) -> list[str]:
    """ANALYZE those of `tables` the planner lacks statistics for: never analysed, or small and changed since.

    Why: autovacuum analyses a table once 50 rows plus a tenth of it changed, so a city's 17 divisions or 30
    routing rules may never be analysed, and the planner guesses their size: an import of 100,000 cases right
    after `demo load` took 4 min 50 s, 58 s once analysed. The statistics commit with the caller's transaction.
    """
    stale = session.scalars(text(
        "SELECT c.relname FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE c.relname = ANY(:tables) AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace "
        "AND (c.reltuples < 0 OR (s.n_mod_since_analyze > 0 AND c.reltuples < :small)) ORDER BY c.relname"),
        {"tables": list(tables), "small": SMALL_TABLE}).all()
    for name in stale:
        session.execute(text(f'ANALYZE "{name}"'))
    return list(stale)


#: The PostGIS version installed in the connected database (None: the extension is not there).
INSTALLED_POSTGIS = text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")


def postgis_version(engine: Engine) -> str:
    """The PostGIS version of the target database, or a ConfigError that names the fix."""
    try:
        with engine.connect() as conn:
            installed = conn.execute(INSTALLED_POSTGIS).scalar()
            available = conn.execute(
                text("SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar()
    except OperationalError as exc:
        reason = " ".join(str(exc.orig).split())  # one line: psycopg2 adds a tab-indented hint on its own line
        fix = "check DATABASE_URL" if os.environ.get("DATABASE_URL") else "start it with `gridlink db up`"
        raise ConfigError(f"cannot connect to the database ({reason}); {fix}") from exc
    version = installed or available
    if not version:
        raise ConfigError(
            "the database server has no PostGIS extension; install it on the server "
            "(Debian/Ubuntu: apt-get install postgresql-<major>-postgis-3) and run `gridlink db upgrade`"
        )
    if int(version.split(".")[0]) < 3:
        raise ConfigError(f"PostGIS {version} is too old: gridlink needs PostGIS 3 or newer")
    return version


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction for a CLI command: commit once at the end, roll back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session
