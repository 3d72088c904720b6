"""`grids.incidents.locate` at city scale vs the bare PostGIS point-in-grid lookup, in the same run.

Builds the 150,000-grid scratch city of bench/tiles.py (its CITY_SQL) with one published layout per township
(25), as a city whose townships publish their grids one by one has, and a squad per township on its grids,
then for the same random points times
1. the bare lookup: the grid covering the point (GiST), lowest code, through a plain psycopg2 cursor;
2. `locate()` as a report runs it: division path, grid in force, squad, co-manager, 门前三包 unit and the
   category's routing rule (the place statement and the rule statement, prepared, through SQLAlchemy).
Rounds alternate the two so load that changes during the run hits both. Prints medians, p99 and the ratio.
Why: the place statement once probed every in-force layout's grids (a prepared statement's generic plan),
which a one-layout test city never shows: 4.9 ms per report at this size.
    .venv/bin/python bench/locate.py [--points 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.tiles import CELL, CITY, CITY_SQL, COLS, ROWS, X0, Y0  # noqa: E402
from grids.incidents import locate  # noqa: E402
from grids.migrate import upgrade  # noqa: E402
from grids.models import Category  # noqa: E402
from tests.conftest import _fresh_database  # noqa: E402

# One published layout per township instead of the tiles city's single one, in force since yesterday, and the
# township's squad on its grids (as generate_layout assigns them).
LAYOUT_PER_TOWNSHIP = f"""
INSERT INTO grid_layouts (city_code, name, status, revision, division_id, effective_from)
SELECT '{CITY}', 'bench ' || d.code, 'published', 1, d.id, current_date - 1
FROM divisions d WHERE d.city_code = '{CITY}' AND d.level = 'township';
INSERT INTO squads (city_code, code, name, township_id)
SELECT '{CITY}', 'S' || d.code, d.name || ' squad', d.id
FROM divisions d WHERE d.city_code = '{CITY}' AND d.level = 'township';
UPDATE grids g SET layout_id = l.id, squad_id = s.id FROM grid_layouts l, squads s
WHERE l.division_id = g.division_id AND s.township_id = g.division_id;
DELETE FROM grid_layouts WHERE city_code = '{CITY}' AND name = 'bench';
ANALYZE;
"""
BARE = ("SELECT id FROM grids WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
        "ORDER BY code LIMIT 1")
ROUNDS = 5


def timed(call: Callable[[float, float], object], points: np.ndarray) -> list[float]:
    """Seconds per point."""
    times = []
    for lon, lat in points:
        started = time.perf_counter()
        call(float(lon), float(lat))
        times.append(time.perf_counter() - started)
    return times


def summary(name: str, times: list[float]) -> str:
    p99 = statistics.quantiles(times, n=100, method="inclusive")[98]
    return f"{name}: median {statistics.median(times) * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms"


def measure(url: str, count: int) -> None:
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(CITY_SQL + LAYOUT_PER_TOWNSHIP))
    points = np.random.default_rng(7).uniform((X0, Y0), (X0 + COLS * CELL, Y0 + ROWS * CELL), (count, 2))
    with Session(engine) as session:
        category = session.scalar(select(Category).where(Category.city_code == CITY))
        cursor = session.connection().connection.dbapi_connection.cursor()

        def bare(lon: float, lat: float) -> object:
            cursor.execute(BARE, (lon, lat))
            return cursor.fetchone()

        def ours(lon: float, lat: float) -> object:
            return locate(session, CITY, lon, lat, category=category)

        assert all(ours(*map(float, p)).grid is not None for p in points[:50]), "the bench city is all grids"
        bare_times, our_times = [], []
        for _ in range(ROUNDS):
            bare_times += timed(bare, points)
            our_times += timed(ours, points)
            session.expunge_all()  # a report's session is new: no identity map carried over
    engine.dispose()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{count:,} points x {ROUNDS} rounds, 150,000 grids in 25 township layouts; load {load}")
    print(summary("bare point-in-grid (GiST)", bare_times))
    print(summary("locate (path, grid, squad, co-manager, frontage, rule)", our_times))
    print(f"ratio locate / bare: {statistics.median(our_times) / statistics.median(bare_times):.1f}x median")


def run(count: int) -> None:
    for url in _fresh_database("gridlink_bench_locate"):
        measure(url, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    run(parser.parse_args().points)


if __name__ == "__main__":
    main()
