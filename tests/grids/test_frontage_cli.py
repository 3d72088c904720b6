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
    swapped = run("frontage", "generate", "--division", f"{CITY}001",  # the files swapped: refused, areas kept
                  "--buildings", DATA / "west_oakland_roads.geojson",
                  "--roads", DATA / "west_oakland_buildings_and_poi_areas.geojson", "--city", CITY)
    assert swapped.exit_code == 1 and "west_oakland_roads.geojson holds no building polygons" in swapped.output
    assert generated.output.count("dirty building polygon") == 2 and "Self-intersection" in generated.output
    out = tmp_path / "units.csv"
    exported = run("frontage", "export", "--format", "csv", out, "--city", CITY)
    assert exported.exit_code == 0 and "20 units written" in exported.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 21
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM: Excel showed the Chinese as mojibake
    assert all("POLYGON" in row for row in out.read_text(encoding="utf-8").splitlines()[1:])  # the swap wiped none


def test_a_unit_outside_the_city_or_a_name_field_the_file_lacks_is_said(cli_db: str, tmp_path: Path) -> None:  # noqa: F811
    """A point 7,000 km away was stored as a unit ("3 units created"); --name-field name on a file without it
    skipped every row and answered success."""
    assert run("divisions", "import", _township_file(tmp_path), "--level", "township", "--crs", "wgs84",
               "--code-field", "code", "--name-field", "name", "--city", CITY).exit_code == 0
    shops = tmp_path / "shops.csv"
    shops.write_text("name,lon,lat\nFar Away Store,120.0,30.0\n", encoding="utf-8")
    far = run("frontage", "import", shops, "--name-field", "name", "--crs", "wgs84", "--city", CITY)
    assert far.exit_code == 0 and "0 units created" in far.output
    assert "#1: (120.000000, 30.000000) lies outside city 999602" in far.output
    nameless = run("frontage", "import", shops, "--name-field", "shop_name", "--crs", "wgs84", "--city", CITY)
    assert nameless.exit_code == 1 and "no field 'shop_name' in the file; its fields: lat, lon, name" in nameless.output


def test_generate_for_an_unknown_division_says_how_to_find_one(cli_db: str) -> None:  # noqa: F811
    result = CliRunner().invoke(main, ["frontage", "generate", "--division", "999999001", "--buildings",
                                       str(DATA / "west_oakland_buildings_and_poi_areas.geojson"),
                                       "--roads", str(DATA / "west_oakland_roads.geojson"), "--city", CITY])
    assert result.exit_code == 1 and "no division with code 999999001" in result.output
