"""Benchmark: check_layout on 150,000 grids vs a bare SQL count + area query over the same rows.

Run: .venv/bin/python bench/check.py   (creates and drops its own scratch database)
The grids are made in SQL (ST_SquareGrid, 100 m cells in UTM 50N) so set-up takes seconds, not minutes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generate import scratch_database  # noqa: E402

from grids.layouts import check_layout  # noqa: E402

SIDE_CELLS = 388  # 388 x 388 = 150,544 cells of 100 m
UTM = 32650
SETUP = [
    "INSERT INTO cities (code, name, timezone) VALUES ('360400', 'bench', 'Asia/Shanghai')",
    # The division's edges pass through every cell corner, so the square grid covers it exactly.
    f"""INSERT INTO divisions (city_code, code, name, level, geom, illustrative, version)
        SELECT '360400', '360402901', 'bench', 'township', ST_Multi(ST_Transform(ST_Segmentize(
            ST_MakeEnvelope(400000, 3280000, 400000 + {SIDE_CELLS} * 100, 3280000 + {SIDE_CELLS} * 100, {UTM}),
            100), 4326)), false, 1""",
    """INSERT INTO grid_layouts (city_code, division_id, name, status, revision)
        SELECT '360400', id, 'bench', 'draft', 1 FROM divisions""",
    f"""INSERT INTO grids (city_code, layout_id, code, division_id, geom, area_m2)
        SELECT '360400', l.id, '360402901' || lpad(row_number() OVER (ORDER BY s.j DESC, s.i)::text, 6, '0'),
               l.division_id, ST_Multi(ST_Transform(s.geom, 4326)), 10000
        FROM grid_layouts l, ST_SquareGrid(100, ST_MakeEnvelope(400000, 3280000, 400000 + {SIDE_CELLS} * 100 - 1,
             3280000 + {SIDE_CELLS} * 100 - 1, {UTM})) s""",
    "ANALYZE grids",
]
BARE = text("SELECT count(*), sum(ST_Area(geom::geography)) FROM grids WHERE layout_id = :l")


def main() -> None:
    with scratch_database() as url:
        engine = create_engine(url)
        with Session(engine) as session, session.begin():
            start = time.perf_counter()
            for statement in SETUP:
                session.execute(text(statement))
            layout = session.scalar(text("SELECT id FROM grid_layouts"))
            print(f"set-up: {time.perf_counter() - start:.1f} s")
            start = time.perf_counter()
            report = check_layout(session, layout)
            ours = time.perf_counter() - start
            start = time.perf_counter()
            session.execute(BARE, {"l": layout}).one()
            bare = time.perf_counter() - start
        engine.dispose()
    print(f"check_layout: {report['count']} grids in {ours:.2f} s; ok={report['ok']} overlaps={report['overlap_pairs']}"
          f" gaps={report['gap_area_m2']} m² outside={report['outside_parent']}")
    print(f"bare count + area: {bare:.2f} s")
    print(f"ratio ours / bare: {ours / bare:.1f}x")


if __name__ == "__main__":
    main()
