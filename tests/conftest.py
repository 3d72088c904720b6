"""Shared fixtures: a fresh, migrated database per test session; each test rolled back at the end.

The database lives in the embedded cluster (started if needed) or on the server of TEST_DATABASE_URL.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

os.environ.setdefault("GRIDLINK_MODE", "test")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Without the public data next to this checkout the tests that read it cannot run: say so at once."""
    if not SHARED_DATA.is_dir():
        pytest.exit(f"the tests read the public data in {SHARED_DATA} (shared/data beside this checkout, see the "
                    "README's Data attributions); it is not there", returncode=4)


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from grids.cluster import Cluster

    cluster = Cluster.for_project()
    cluster.start()
    return cluster.url()


def _admin(url: str) -> Engine:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _fresh_database(prefix: str) -> Iterator[str]:
    server = _server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = _admin(server)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A new database named gridlink_test_<random>, migrated by Alembic, dropped afterwards."""
    from grids.migrate import upgrade

    for url in _fresh_database("gridlink_test"):
        upgrade(url)
        yield url


@pytest.fixture()
def empty_database_url() -> Iterator[str]:
    """A new database with nothing in it (not even PostGIS), for migration and fault tests."""
    yield from _fresh_database("gridlink_scratch")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


YOUBU = "330781102"  # 游埠镇: the demo logins' township; the only one with grids in tests (drawing all six is slow)


@pytest.fixture(scope="session")
def demo_city(engine: Engine) -> dict:
    """The Lanxi demo city, loaded once and committed; tests roll back their own changes."""
    from grids.demo import load_demo

    with Session(engine) as session, session.begin():
        return load_demo(session, grid_townships=(YOUBU,))


@pytest.fixture()
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture()
def db(connection: Connection) -> Iterator[Session]:
    """A session whose commits are savepoints inside a transaction rolled back after the test."""
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()


@pytest.fixture()
def app(connection: Connection, demo_city: dict, tmp_path: Path):
    from webapp import create_app

    return create_app({"DB_BIND": connection, "GRIDLINK_MODE": "test", "SECRET_KEY": "test-secret",
                       "GRIDLINK_CITY": "330781", "GRIDLINK_UPLOAD_DIR": str(tmp_path / "uploads")})


@pytest.fixture()
def client(app):
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    return CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)


def login(client, username: str, password: str = "gridlink-demo"):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)})
