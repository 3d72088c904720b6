"""The README's catalog example is a file a reader can import as it stands, not a sketch that fails."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select

from grids.catalog import import_catalog
from grids.incidents import locate
from grids.models import Category, Division

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_catalog() -> dict:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### City catalog format"):]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


def test_the_readme_catalog_example_imports_and_its_township_rule_routes(db, demo_city) -> None:
    counts = import_catalog(db, readme_catalog())
    assert counts == {"departments": 2, "categories": 6, "routing_rules": 2, "stage_limits": 5}
    stall = db.scalar(select(Category).where(Category.city_code == "330781", Category.code == "E0501"))
    youbu = db.scalar(select(Division).where(Division.code == "330781102"))
    point = db.execute(select(youbu.geom.ST_PointOnSurface().ST_X(), youbu.geom.ST_PointOnSurface().ST_Y())).one()
    assert locate(db, "330781", *point, category=stall).department.code == "market"
