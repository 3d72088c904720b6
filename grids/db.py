"""Database plumbing: the declarative Base, the engine and session factory, and the PostGIS check.

Why a naming convention: Alembic autogenerate and hand-written migrations must agree on constraint
names, or every downgrade guesses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Engine, MetaData, create_engine, text
from sqlalchemy.exc import OperationalError
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
        return url.replace("postgres://", "postgresql+psycopg2://", 1) if url.startswith("postgres://") else url
    from grids.cluster import Cluster

    return Cluster.for_project().url()


def make_engine(url: str | URL | None = None, **options: Any) -> Engine:
    """pool_pre_ping survives a PostgreSQL restart; a short pool timeout fails fast (503) instead of hanging.

    `options` override these defaults (the web app's autocommit read pool turns the ping off)."""
    settings = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5, "pool_timeout": 5,
                "connect_args": {"connect_timeout": 5}, **options}
    return create_engine(url or database_url(), **settings)


def postgis_version(engine: Engine) -> str:
    """The PostGIS version of the target database, or a ConfigError that names the fix."""
    try:
        with engine.connect() as conn:
            installed = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
            available = conn.execute(
                text("SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar()
    except OperationalError as exc:
        raise ConfigError(
            f"cannot connect to the database ({exc.orig}); start the embedded one with `gridlink db up`"
            " or check DATABASE_URL"
        ) from exc
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
