"""Fixtures for divisions and grid layouts: real boundary files, and a database holding Jiujiang's
districts committed once per module (imports cost seconds; each test still rolls back its own work)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from tests.conftest import SHARED_DATA, _fresh_database

JIUJIANG_FILE = SHARED_DATA / "jiujiang" / "jiujiang_360400_districts.gcj02.geojson"
LANXI_FILE = SHARED_DATA / "lanxi" / "lanxi_330781_county.gcj02.geojson"
OAKLAND_ROADS = SHARED_DATA / "west-oakland" / "west_oakland_roads.geojson"
JIUJIANG = "360400"
XUNYANG = "360403"  # 浔阳区, 48 km²: the smallest Jiujiang district


def import_jiujiang(session: Session, **options) -> dict:
    from grids.divisions import import_divisions

    return import_divisions(session, JIUJIANG, JIUJIANG_FILE, level="district", crs="gcj02", code_field="adcode",
                            name_field="district", **options)


@pytest.fixture(scope="module")
def migrated_url() -> Iterator[str]:
    """A fresh migrated database for this module only (CLI commands commit, so they need their own)."""
    from grids.migrate import upgrade

    for url in _fresh_database("gridlink_grids"):
        upgrade(url)
        yield url


@pytest.fixture(scope="module")
def jiujiang_engine(migrated_url: str) -> Iterator[Engine]:
    engine = create_engine(migrated_url)
    with Session(engine) as session, session.begin():
        import_jiujiang(session)
    yield engine
    engine.dispose()


@pytest.fixture()
def jdb(jiujiang_engine: Engine) -> Iterator[Session]:
    """A session on the Jiujiang database, rolled back after the test."""
    conn = jiujiang_engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint")
    yield session
    session.close()
    trans.rollback()
    conn.close()


@pytest.fixture()
def tmp_geojson(tmp_path: Path):
    """Write features (geometry dicts with properties) to a GeoJSON file and return its path."""
    import json

    def write(*features: tuple[dict | None, dict], name: str = "input.geojson") -> Path:
        path = tmp_path / name
        rows = [{"type": "Feature", "properties": props, "geometry": geom} for geom, props in features]
        path.write_text(json.dumps({"type": "FeatureCollection", "features": rows}), encoding="utf-8")
        return path

    return write
