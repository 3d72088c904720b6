"""The frontage commands as an operator types them, over West Oakland's real shops, buildings and roads."""

from __future__ import annotations

import json
from pathlib import Path

import shapely
from click.testing import CliRunner
from shapely.geometry import box, mapping, shape

from tests.conftest import SHARED_DATA
from tests.grids.test_cli_foundation import cli_db  # noqa: F401  (fixture)
from webapp.cli import main

DATA = SHARED_DATA / "west-oakland"
CITY = "999602"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _township_file(tmp_path: Path) -> Path:
    roads = json.loads((DATA / "west_oakland_roads.geojson").read_text(encoding="utf-8"))["features"]
    extent = box(*shapely.total_bounds([shape(f["geometry"]) for f in roads]))
    path = tmp_path / "township.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": f"{CITY}001", "name": "West Oakland"},
         "geometry": mapping(extent)}]}), encoding="utf-8")
    return path


def test_import_generate_export(cli_db: str, tmp_path: Path) -> None:  # noqa: F811
    divisions = run("divisions", "import", _township_file(tmp_path), "--level", "township", "--crs", "wgs84",
                    "--code-field", "code", "--name-field", "name", "--city", CITY)
    assert divisions.exit_code == 0, divisions.output
    imported = run("frontage", "import", DATA / "west_oakland_poi_points.geojson", "--name-field", "name",
                   "--type-field", "shop", "--crs", "wgs84", "--city", CITY, "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["created"] == 20
    generated = run("frontage", "generate", "--division", f"{CITY}001",
                    "--buildings", DATA / "west_oakland_buildings_and_poi_areas.geojson",
                    "--roads", DATA / "west_oakland_roads.geojson", "--max-depth", "12", "--city", CITY)
    assert generated.exit_code == 0, generated.output
    assert "20 of 20 units have an area" in generated.output
    assert generated.output.count("dirty building polygon") == 2 and "Self-intersection" in generated.output
    out = tmp_path / "units.csv"
    exported = run("frontage", "export", "--format", "csv", out, "--city", CITY)
    assert exported.exit_code == 0 and "20 units written" in exported.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 21


def test_generate_for_an_unknown_division_says_how_to_find_one(cli_db: str) -> None:  # noqa: F811
    result = CliRunner().invoke(main, ["frontage", "generate", "--division", "999999001", "--buildings",
                                       str(DATA / "west_oakland_buildings_and_poi_areas.geojson"),
                                       "--roads", str(DATA / "west_oakland_roads.geojson"), "--city", CITY])
    assert result.exit_code == 1 and "no division with code 999999001" in result.output
