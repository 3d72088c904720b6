"""Benchmark: generate_layout on a ~100 km² real district piece vs bare PostGIS ST_SquareGrid + clip.

Run: .venv/bin/python bench/generate.py   (creates and drops its own scratch database)
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shapely.geometry import MultiPolygon, box
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.crs import area_m2, from_metric, to_metric, utm_epsg_for  # noqa: E402
from grids.db import database_url  # noqa: E402
from grids.divisions import import_divisions, upsert_division  # noqa: E402
from grids.layouts import generate_layout  # noqa: E402
from grids.migrate import upgrade  # noqa: E402

DISTRICTS = Path(__file__).resolve().parents[2] / "shared/data/jiujiang/jiujiang_360400_districts.gcj02.geojson"
SIDE_M = 11_300  # the piece of 濂溪区 inside this square is about 100 km²


@contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated database of its own, dropped afterwards (like the test suite's fresh databases)."""
    server = make_url(database_url())
    name = f"gridlink_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _district_piece(session: Session) -> str:
    """濂溪区 cut to about 100 km² around its inner point, stored as division 360402001."""
    import_divisions(session, "360400", DISTRICTS, level="district", crs="gcj02", code_field="adcode",
                     name_field="district")
    geom = session.execute(text("SELECT ST_AsBinary(geom), ST_X(ST_PointOnSurface(geom)), "
                                "ST_Y(ST_PointOnSurface(geom)) FROM divisions WHERE code = '360402'")).one()
    from shapely import from_wkb

    district, x, y = from_wkb(bytes(geom[0])), geom[1], geom[2]
    epsg = utm_epsg_for(x, y)
    centre = to_metric(district, epsg).representative_point()
    square = from_metric(box(centre.x - SIDE_M / 2, centre.y - SIDE_M / 2, centre.x + SIDE_M / 2,
                             centre.y + SIDE_M / 2), epsg)
    piece = district.intersection(square)
    parts = getattr(piece, "geoms", [piece])
    upsert_division(session, "360400", "360402901", "bench piece", "township", MultiPolygon(parts))
    print(f"division: {area_m2(piece) / 1e6:.1f} km²")
    return "360402901"


BASELINE = text("""
CREATE TEMP TABLE baseline AS
SELECT ST_Transform(ST_Intersection(s.geom, m.g), 4326) AS geom
FROM (SELECT ST_Transform(geom, :epsg) AS g FROM divisions WHERE code = :code) m,
     ST_SquareGrid(100, m.g) s
WHERE ST_Intersects(s.geom, m.g)""")


def main() -> None:
    with scratch_database() as url:
        engine = create_engine(url)
        with Session(engine) as session, session.begin():
            code = _district_piece(session)
            x, y = session.execute(text("SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM divisions "
                                        "WHERE code = :c"), {"c": code}).one()
            start = time.perf_counter()
            layout = generate_layout(session, "360400", code, target_area=10_000, method="square")
            ours = time.perf_counter() - start
            count = session.scalar(text("SELECT count(*) FROM grids WHERE layout_id = :l"), {"l": layout.id})
            start = time.perf_counter()
            session.execute(BASELINE, {"epsg": utm_epsg_for(x, y), "code": code})
            bare = time.perf_counter() - start
            bare_count = session.scalar(text("SELECT count(*) FROM baseline"))
        engine.dispose()
    print(f"generate_layout: {count} grids in {ours:.2f} s (validated, merged slivers, codes, inserted, squads)")
    print(f"bare ST_SquareGrid + clip: {bare_count} cells in {bare:.2f} s")
    print(f"ratio ours / bare: {ours / bare:.1f}x")


if __name__ == "__main__":
    main()
