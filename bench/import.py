"""`import_cases` vs the bare PostGIS spatial join of the same points, in the same run (target <= 2x).

Builds the 150,000-grid scratch city of bench/tiles.py (its CITY_SQL) in a scratch database, streams a
hotline-style CSV of N cases to disk (GCJ-02 points, Chinese text, times spread over a year, ~2% bad rows,
~1% repeated case numbers), then times
1. the bare baseline: COPY of the file into a table of text columns plus the one LATERAL ST_Covers join
   of its points against the grids (GiST index, lowest code on a shared edge), into a new table;
2. `grids.incident_io.import_cases` (parse, convert, reject, COPY, place, route, insert cases and events),
   committed;
3. the bare baseline again, so load that changes during the run shows as two different bare times;
4. the bare join written straight into incidents and case_events (rolled back): the share of the
   schema (since migration 0009 a case and its event write 12 index entries, 21 before, and pass 14
   foreign-key checks), which any import of cases pays.
Prints wall seconds, rows/s and CPU seconds (the backend's, read from /proc, plus this process's: what a
shared, loaded machine cannot inflate), the ratios to the mean bare cost, peak memory and the load average.

    .venv/bin/python bench/import.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.measure import process_cpu_seconds  # noqa: E402
from bench.tiles import CELL, CITY, CITY_SQL, COLS, ROWS, X0, Y0  # noqa: E402
from gis.crs import geometry_from_wgs84  # noqa: E402
from grids.incident_io import import_cases  # noqa: E402
from grids.migrate import upgrade  # noqa: E402
from tests.conftest import _fresh_database  # noqa: E402

HEADER = ["工单编号", "受理时间", "办结时间", "问题类型", "纬度", "经度", "事发地址", "问题描述", "处理状态"]
MAPPING = {
    "external_id": "工单编号",
    "created": {"column": "受理时间", "format": "%Y/%m/%d %H:%M", "tz": "Asia/Shanghai"},
    "closed": {"column": "办结时间", "format": "%Y/%m/%d %H:%M"},
    "category": "问题类型", "lat": "纬度", "lon": "经度", "address": "事发地址", "description": "问题描述",
    "status": {"column": "处理状态", "closed_values": ["已办结"]},
}
# What tiles.py's city lacks for an import: a minor class.
IMPORT_SETUP = f"""
INSERT INTO categories (city_code, code, name, name_en, type, parent_id, time_limit)
SELECT '{CITY}', 'E010101', '暴露垃圾', 'Exposed garbage', 'event', id, '2h' FROM categories WHERE code = 'E0101';
"""
BARE_TABLE = f"CREATE TABLE bare ({', '.join(f'c{i} text' for i in range(len(HEADER)))})"
BARE_JOIN = """
CREATE TABLE bare_placed AS
SELECT b.c0, g.id AS grid_id FROM bare b
LEFT JOIN LATERAL (SELECT id FROM grids
                   WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(b.c5::float8, b.c4::float8), 4326))
                   ORDER BY code LIMIT 1) g ON true
WHERE b.c5 ~ '^[0-9.]+$' AND b.c4 ~ '^[0-9.]+$'"""
# The schema's share: the same join written straight into incidents and case_events (their indexes and
# foreign keys), no parsing, routing or history text. Rolled back, under other case numbers.
STORED_JOIN = f"""
WITH stored AS (
    INSERT INTO incidents (city_code, external_id, source, category_id, status, description, location, grid_id,
                           version)
    SELECT DISTINCT ON (b.c0) '{CITY}', 'floor-' || b.c0, 'bench',
           (SELECT id FROM categories WHERE code = 'E010101'), 'reported', '', p.pt, g.id, 1
    FROM bare b CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(b.c5::float8, b.c4::float8), 4326) AS pt) p
    LEFT JOIN LATERAL (SELECT id FROM grids WHERE ST_Covers(geom, p.pt) ORDER BY code LIMIT 1) g ON true
    WHERE b.c5 ~ '^[0-9.]+$' AND b.c4 ~ '^[0-9.]+$' ORDER BY b.c0
    RETURNING id)
INSERT INTO case_events (city_code, incident_id, seq, action) SELECT '{CITY}', id, 1, 'bench' FROM stored"""
CHUNK = 50_000
YEAR_START = np.datetime64("2025-01-01T00:00")


def _chunk_rows(start: int, count: int, rng: np.random.Generator) -> list[list[str]]:
    """Rows start..start+count: every 50th without a point, every 75th swapped, every 150th of an unknown
    class, every 100th repeating the previous case number; the points converted to GCJ-02 in one pass."""
    n = np.arange(start, start + count)
    wgs = np.column_stack([X0 + rng.random(count) * COLS * CELL, Y0 + rng.random(count) * ROWS * CELL])
    gcj = shapely.get_coordinates(geometry_from_wgs84(shapely.multipoints(wgs), "gcj02")).tolist()
    created = YEAR_START + rng.integers(0, 365 * 24 * 60, count).astype("timedelta64[m]")
    closed = created + rng.integers(10, 72 * 60, count).astype("timedelta64[m]")
    rows = []
    for i, k in enumerate(n.tolist()):
        lon, lat = ("", "") if k % 50 == 0 else (f"{gcj[i][0]:.7f}", f"{gcj[i][1]:.7f}")
        if k % 75 == 1:
            lon, lat = lat, lon
        done = k % 2 == 0
        rows.append([f"RX{k - 1 if k % 100 == 99 else k:09d}", _hotline_time(created[i]),
                     _hotline_time(closed[i]) if done else "",
                     "不存在" if k % 150 == 49 else ("E010101", "暴露垃圾", "Exposed garbage")[k % 3], lat, lon,
                     f"兰溪市某路{k}号", "垃圾桶满溢，垃圾散落路面", "已办结" if done else "处理中"])
    return rows


def _hotline_time(moment: np.datetime64) -> str:
    return str(moment).replace("-", "/").replace("T", " ")


def write_hotline_csv(path: Path, rows: int, seed: int = 7) -> None:
    """N hotline rows, written CHUNK rows at a time so memory stays flat at any N."""
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for start in range(0, rows, CHUNK):
            writer.writerows(_chunk_rows(start, min(CHUNK, rows - start), rng))


@dataclass
class Cost:
    """Wall seconds, and CPU seconds of the database backend and of this process (what load cannot inflate)."""

    wall: float
    cpu: float

    def line(self, label: str, rows: int) -> str:
        return f"{label:26s}{self.wall:7.1f} s wall {rows / self.wall:9,.0f} rows/s {self.cpu:7.1f} s CPU   ({load()})"


def backend_cpu(cursor: Any) -> float:
    """CPU seconds used so far by the PostgreSQL backend serving `cursor` (the server runs on this machine)."""
    cursor.execute("SELECT pg_backend_pid()")
    return process_cpu_seconds(cursor.fetchone()[0])


@contextmanager
def measured(cursor: Any) -> Iterator[list[Cost]]:
    """Yields a list that holds the Cost of the block once it ends."""
    out: list[Cost] = []
    wall, mine, server = time.perf_counter(), time.process_time(), backend_cpu(cursor)
    yield out
    out.append(Cost(time.perf_counter() - wall, time.process_time() - mine + backend_cpu(cursor) - server))


def bare(engine: Engine, csv_path: Path, join: str = BARE_JOIN, keep: bool = True) -> Cost:
    """COPY of the file into `bare` plus the one spatial join, in one transaction (committed if `keep`)."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bare_placed; DROP TABLE IF EXISTS bare; SET jit = off; " + BARE_TABLE)
            raw.commit()
            with measured(cursor) as cost, csv_path.open(encoding="utf-8") as handle:
                cursor.copy_expert("COPY bare FROM STDIN WITH (FORMAT csv, HEADER)", handle)
                cursor.execute(join)
                raw.commit() if keep else raw.rollback()
        return cost[0]
    finally:
        raw.close()


def ours(engine: Engine, csv_path: Path) -> tuple[Cost, dict]:
    with Session(engine) as session:
        cursor = session.connection().connection.cursor()
        with measured(cursor) as cost:
            result = import_cases(session, CITY, csv_path, MAPPING, crs="gcj02")
            session.commit()
        return cost[0], result


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def run(rows: int) -> None:
    for url in _fresh_database("gridlink_bench_import"):
        upgrade(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(CITY_SQL + IMPORT_SETUP))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "hotline.csv"
            write_hotline_csv(path, rows)
            size_mb = path.stat().st_size / 1e6
            print(f"{rows:,} rows ({size_mb:.0f} MB), 150,000-grid city; {load()}", flush=True)
            before = bare(engine, path)
            print(before.line("bare COPY + spatial join", rows), flush=True)
            cost, result = ours(engine, path)
            print(cost.line("import_cases", rows), flush=True)
            after = bare(engine, path)
            print(after.line("bare COPY + spatial join", rows))
            stored = bare(engine, path, STORED_JOIN, keep=False)
            print(stored.line("bare, stored as cases", rows))
        engine.dispose()
        assert result["rows"] == result["imported"] + result["rejected"] == rows
        print(f"imported {result['imported']:,} ({result['unlocated']:,} in no grid), rejected "
              f"{result['rejected']:,} {result['reasons']}, duplicates {result['duplicates']:,}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"ratio import / bare: {cost.wall / ((before.wall + after.wall) / 2):.2f}x wall, "
              f"{cost.cpu / ((before.cpu + after.cpu) / 2):.2f}x CPU (target <= 2x); "
              f"import / bare stored as cases: {cost.wall / stored.wall:.2f}x wall, {cost.cpu / stored.cpu:.2f}x CPU; "
              f"peak memory of this process {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    run(parser.parse_args().rows)


if __name__ == "__main__":
    main()
