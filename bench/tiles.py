"""Tile endpoint vs bare ST_AsMVT on a 150,000-grid city, measured in the same run.

Builds a scratch database (created and dropped here, like the test suite's), fills it in SQL with a
390 x 385 square grid of ~100 m cells under 25 townships plus 20,000 open cases, then requests a fixed
set of tiles through the Flask test client (routing, session, zone filter, ETag) and runs the same
`ST_AsMVT` statements bare on a connection. Prints p50/p95 of both and their ratio (target <= 1.2x),
and the load average before and after (the machine is shared: read the ratio, not the milliseconds).
For scale it also times an empty Flask route through the same test client: the framework's own floor.
There is no tile cache: every request renders its tile, so every number here is a cold one.

    .venv/bin/python bench/tiles.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import Flask  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from grids.migrate import upgrade  # noqa: E402
from grids.org import add_user  # noqa: E402
from tests.conftest import _fresh_database  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.pages import Zone  # noqa: E402
from webapp.tiles import tile_query  # noqa: E402

CITY = "999999"
CELL = 0.001  # degrees: about 97 m x 111 m at this latitude
COLS, ROWS, GRIDS = 390, 385, 150_000
TOWN_COLS, TOWN_ROWS = 78, 77  # cells per township: 5 x 5 townships
X0, Y0 = 119.40, 29.10
CASES = 20_000

CITY_SQL = f"""
INSERT INTO cities (code, name, timezone) VALUES ('{CITY}', 'Bench city', 'Asia/Shanghai');
INSERT INTO divisions (city_code, code, name, level, geom, illustrative, version)
VALUES ('{CITY}', '{CITY}', 'Bench city', 'city',
        ST_Multi(ST_MakeEnvelope({X0}, {Y0}, {X0 + COLS * CELL}, {Y0 + ROWS * CELL}, 4326)), false, 1);
INSERT INTO divisions (city_code, code, name, level, parent_id, geom, illustrative, version)
SELECT '{CITY}', format('T%s_%s', tx, ty), format('Township %s-%s', tx, ty), 'township',
       (SELECT id FROM divisions WHERE code = '{CITY}'),
       ST_Multi(ST_MakeEnvelope({X0} + tx * {TOWN_COLS * CELL}, {Y0} + ty * {TOWN_ROWS * CELL},
                                {X0} + (tx + 1) * {TOWN_COLS * CELL}, {Y0} + (ty + 1) * {TOWN_ROWS * CELL}, 4326)),
       false, 1
FROM generate_series(0, 4) tx, generate_series(0, 4) ty;
INSERT INTO grid_layouts (city_code, name, status, revision, effective_from)
VALUES ('{CITY}', 'bench', 'published', 1, current_date - 1);
INSERT INTO grids (city_code, layout_id, code, division_id, geom, area_m2)
SELECT '{CITY}', (SELECT id FROM grid_layouts WHERE name = 'bench'), format('G%s_%s', i, j), d.id,
       ST_Multi(ST_MakeEnvelope({X0} + i * {CELL}, {Y0} + j * {CELL}, {X0} + (i + 1) * {CELL},
                                {Y0} + (j + 1) * {CELL}, 4326)), 10800
FROM generate_series(0, {COLS - 1}) i CROSS JOIN generate_series(0, {ROWS - 1}) j
JOIN divisions d ON d.code = format('T%s_%s', i / {TOWN_COLS}, j / {TOWN_ROWS})
WHERE i * {ROWS} + j < {GRIDS};
INSERT INTO categories (city_code, code, name, type) VALUES ('{CITY}', 'E0101', 'Exposed garbage', 'event');
INSERT INTO incidents (city_code, source, category_id, status, description, location, township_id,
                       deadline_at, version)
SELECT '{CITY}', 'bench', (SELECT id FROM categories WHERE city_code = '{CITY}'), 'filed', 'bench case',
       ST_SetSRID(ST_MakePoint({X0} + random() * {COLS * CELL}, {Y0} + random() * {ROWS * CELL}), 4326),
       NULL, now() + (random() * 8 - 4) * interval '1 hour', 1
FROM generate_series(1, {CASES});
ANALYZE;
"""


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def tile_set() -> list[tuple[str, int, int, int]]:
    """A 4 x 4 block of tiles at the centre, zooms 13-15, for grids and cases; divisions at 9-12."""
    lon, lat = X0 + COLS * CELL / 2, Y0 + ROWS * CELL / 2
    tiles = []
    for z in (13, 14, 15):
        cx, cy = tile_xy(lon, lat, z)
        tiles += [(layer, z, cx + dx, cy + dy) for layer in ("grids", "cases") for dx in range(-2, 2)
                  for dy in range(-2, 2)]
    for z in (9, 10, 11, 12):
        cx, cy = tile_xy(lon, lat, z)
        tiles.append(("divisions", z, cx, cy))
    return tiles


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def empty_flask_client() -> Callable[[str], object]:
    """GET on a Flask app whose one route returns nothing: what any Flask endpoint costs before its work."""
    app = Flask("floor")
    app.add_url_rule("/tiles/<layer>/<int:z>/<int:x>/<int:y>.pbf", "tile", lambda **_: b"")
    return app.test_client().get


def run(url: str, rounds: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        started = time.perf_counter()
        conn.execute(text(CITY_SQL))
        grids = conn.execute(text("SELECT count(*) FROM grids")).scalar()
        print(f"built {grids:,} grids, {CASES:,} cases in {time.perf_counter() - started:.1f}s")
    with Session(engine) as session, session.begin():
        user_id = add_user(session, CITY, "bench", "dispatcher", "bench-password-1").id
    app = create_app({"DATABASE_URL": url, "GRIDLINK_CITY": CITY, "SECRET_KEY": "bench", "GRIDLINK_MODE": "test"})
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user_id
    tiles = tile_set()
    load_before = os.getloadavg()
    bare_statements = {t: tile_query(*t, city=CITY, zone=Zone()) for t in tiles}
    ours: list[float] = []
    bare: list[float] = []
    floor: list[float] = []
    empty_get = empty_flask_client()
    sizes = 0
    with engine.connect() as conn:
        for round_no in range(rounds + 1):  # round 0 warms caches and is not counted
            for t in tiles:
                layer, z, x, y = t
                endpoint = timed(lambda: client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf"))  # noqa: B023
                baseline = timed(lambda: conn.execute(*bare_statements[t]).scalar())  # noqa: B023
                empty = timed(lambda: empty_get(f"/tiles/{layer}/{z}/{x}/{y}.pbf"))  # noqa: B023
                if round_no:
                    ours.append(endpoint)
                    bare.append(baseline)
                    floor.append(empty)
        sizes = sum(len(client.get("/tiles/{}/{}/{}/{}.pbf".format(*t)).data) for t in tiles)
    engine.dispose()
    load = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(load_before, os.getloadavg(), strict=True))
    print(f"load average 1/5/15 min, before/after: {load}")
    print(f"{len(tiles)} tiles x {rounds} rounds, {sizes / len(tiles) / 1024:.1f} KiB per tile on average")
    print(f"endpoint  p50 {pct(ours, 50):7.2f} ms   p95 {pct(ours, 95):7.2f} ms")
    print(f"bare SQL  p50 {pct(bare, 50):7.2f} ms   p95 {pct(bare, 95):7.2f} ms")
    print(f"ratio     p50 {pct(ours, 50) / pct(bare, 50):7.2f} x    p95 {pct(ours, 95) / pct(bare, 95):7.2f} x"
          "   (target <= 1.2x)")
    overhead = statistics.median(o - b for o, b in zip(ours, bare, strict=True)) * 1000
    print(f"per-request overhead (median of endpoint - bare): {overhead:.2f} ms, of which an empty Flask route "
          f"through the same test client takes {statistics.median(floor) * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for url in _fresh_database("gridlink_bench"):
        upgrade(url)
        run(url, args.rounds)


if __name__ == "__main__":
    main()
