"""`import_cases` vs a bare COPY of the same CSV (and vs that COPY plus a bare spatial join), same run.

Builds the 150,000-grid scratch city of bench/tiles.py in a scratch database, writes a hotline-style CSV
of N cases (GCJ-02 points, Chinese text, ~2% bad rows, ~1% repeated case numbers), then times
1. the bare floor: COPY of the file into a table of text columns;
2. the bare spatial floor: that COPY plus one INSERT ... SELECT finding each point's grid (LATERAL ST_Covers);
3. `grids.incident_io.import_cases` (parse, convert, reject, COPY, place, route, insert cases and events).
Prints seconds, rows/s and the ratios. Target: 100,000 rows in about a minute on 2 cores.

    .venv/bin/python bench/import_cases.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.tiles import CELL, CITY, CITY_SQL, COLS, ROWS, X0, Y0  # noqa: E402
from gis.crs import wgs84_to_gcj02  # noqa: E402
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
# What tiles.py's city lacks for an import: a minor class, and a date its layout is in force from.
IMPORT_SETUP = f"""
UPDATE grid_layouts SET effective_from = current_date - 1 WHERE city_code = '{CITY}';
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


def write_hotline_csv(path: Path, rows: int, seed: int = 7) -> None:
    """N rows in the city; every 50th row bad (empty or swapped point, unknown class), every 100th repeated."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            lon, lat = wgs84_to_gcj02(X0 + rng.random() * COLS * CELL, Y0 + rng.random() * ROWS * CELL)
            number = f"RX{n - 1 if n % 100 == 99 else n:09d}"
            category = "不存在" if n % 150 == 49 else ("E010101", "暴露垃圾", "Exposed garbage")[n % 3]
            point = [("", ""), (f"{lon}", f"{lat}")][n % 50 != 0]
            lat_s, lon_s = (point[0], point[1]) if n % 75 == 1 else (point[1], point[0])
            closed = n % 2 == 0
            writer.writerow([number, f"2025/10/{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}",
                             f"2025/10/{1 + n % 28:02d} 23:59" if closed else "", category, lat_s, lon_s,
                             f"兰溪市某路{n}号", "垃圾桶满溢，垃圾散落路面", "已办结" if closed else "处理中"])


def timed(engine: Engine, statements: list[str], csv_path: Path) -> float:
    """Seconds for COPY of the file into `bare` plus the given statements, in one committed transaction."""
    raw = engine.raw_connection()
    try:
        start = time.perf_counter()
        with raw.cursor() as cursor, csv_path.open(encoding="utf-8") as handle:
            cursor.execute("DROP TABLE IF EXISTS bare_placed; DROP TABLE IF EXISTS bare; " + BARE_TABLE)
            cursor.copy_expert("COPY bare FROM STDIN WITH (FORMAT csv, HEADER)", handle)
            for statement in statements:
                cursor.execute(statement)
        raw.commit()
        return time.perf_counter() - start
    finally:
        raw.close()


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
            bare = timed(engine, [], path)
            joined = timed(engine, [BARE_JOIN], path)
            with Session(engine) as session:
                start = time.perf_counter()
                result = import_cases(session, CITY, path, MAPPING, crs="gcj02")
                session.commit()
                ours = time.perf_counter() - start
        engine.dispose()
        assert result["rows"] == result["imported"] + result["rejected"] + result["duplicates"] == rows
        print(f"{rows} rows ({size_mb:.1f} MB): imported {result['imported']}, rejected "
              f"{result['rejected']} {result['reasons']}, duplicates {result['duplicates']}, "
              f"unlocated {result['unlocated']}")
        print(f"bare COPY                 {bare:7.2f} s  {rows / bare:9.0f} rows/s")
        print(f"bare COPY + spatial join  {joined:7.2f} s  {rows / joined:9.0f} rows/s")
        print(f"import_cases              {ours:7.2f} s  {rows / ours:9.0f} rows/s")
        print(f"ratio vs bare COPY: {ours / bare:.1f}x; vs bare COPY + spatial join: {ours / joined:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    run(parser.parse_args().rows)


if __name__ == "__main__":
    main()
