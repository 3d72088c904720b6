"""The divisions and grids commands end to end, on their own committed database (the CLI commits)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from gis.readers import read_features
from grids.cli import divisions_group, grids_group
from tests.grids.conftest import JIUJIANG, JIUJIANG_FILE, XUNYANG


@pytest.fixture()
def run(migrated_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("GRIDLINK_CITY", JIUJIANG)
    runner = CliRunner()

    def invoke(group, *args: str, code: int = 0) -> dict:
        result = runner.invoke(group, [*args, "--json"])
        assert result.exit_code == code, result.output
        return json.loads(result.output)

    return invoke


IMPORT = ("import", str(JIUJIANG_FILE), "--level", "district", "--crs", "gcj02", "--code-field", "adcode",
          "--name-field", "district")


def test_import_list_generate_check_export_publish_assign(run, tmp_path) -> None:
    elsewhere = run(divisions_group, *IMPORT, "--city", "330781", code=1)["error"]  # GRIDLINK_CITY left as it was
    assert elsewhere["code"] == "another_city" and "not of city 330781" in elsewhere["message"]
    assert "perhaps 360402 or 360400" in elsewhere["message"]
    as_cities = run(divisions_group, *IMPORT[:3], "city", *IMPORT[4:], code=1)["error"]  # 13 districts, 13 "cities"
    assert as_cities["code"] == "bad_level" and "city-level boundary has the city's own code 360400" in \
        as_cities["message"]
    first = run(divisions_group, *IMPORT)
    again = run(divisions_group, *IMPORT)
    assert len(first["created"]) == 13 and len(again["unchanged"]) == 13
    # Jiujiang publishes no outline of its own: without one no case could be taken ("load its divisions first")
    assert first["outline"] == "the city outline is the union of its 13 top-level divisions"
    town = tmp_path / "town.geojson"  # a township beside its district, as if it were one of the city's districts
    town.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
        "adcode": "360403001", "district": "甘棠"}, "geometry": {"type": "Polygon", "coordinates": [[
            [115.98, 29.70], [115.99, 29.70], [115.99, 29.71], [115.98, 29.71], [115.98, 29.70]]]}}]}))
    unparented = run(divisions_group, "import", str(town), "--level", "township", "--crs", "gcj02", "--code-field",
                     "adcode", "--name-field", "district", code=1)["error"]
    assert unparented["code"] == "missing_parent" and "perhaps --parent 360403" in unparented["message"]
    [outline] = run(divisions_group, "list", "--level", "city")["divisions"]
    assert outline["code"] == JIUJIANG and outline["area_m2"] > 0.99 * sum(
        d["area_m2"] for d in run(divisions_group, "list", "--level", "district")["divisions"])
    from grids.catalog import upsert_city  # the catalog, imported next, names the city and its outline
    from grids.db import make_engine

    engine = make_engine(os.environ["DATABASE_URL"])
    with Session(engine) as session:
        upsert_city(session, {"code": JIUJIANG, "name": "九江市", "timezone": "Asia/Shanghai"})
        session.commit()
    engine.dispose()
    assert run(divisions_group, "list", "--level", "city")["divisions"][0]["name"] == "九江市"
    listed = run(divisions_group, "list", "--level", "district")["divisions"]
    assert len(listed) == 13 and {"code", "name", "level", "parent", "area_m2"} <= set(listed[0])

    made = run(grids_group, "generate", "--division", XUNYANG, "--method", "square", "--target-area", "500000")
    assert made["count"] > 50 and made["ok"]
    report = run(grids_group, "check", str(made["layout"]))
    assert {"count", "invalid", "overlap_area_m2", "gap_area_m2", "outside_parent", "ok"} <= set(report)
    assert set(report["area_m2"]) == {"min", "median", "max"} and report["ok"]

    out = tmp_path / "grids.gpkg"
    exported = run(grids_group, "export", str(made["layout"]), str(out), "--format", "gpkg")
    assert exported["count"] == made["count"] == len(read_features(out).features)

    preview = run(grids_group, "publish", str(made["layout"]), "--preview")
    assert preview["impact"]["open_cases"]["count"] == 0
    published = run(grids_group, "publish", str(made["layout"]), "--effective", "2026-01-01")
    assert published["effective_from"] == "2026-01-01" and published["retired"] is None
    again = run(grids_group, "publish", str(made["layout"]), code=1)
    assert again["error"]["code"] == "not_draft"

    refused = run(grids_group, "assign", str(made["layout"]), "--codes", "360403000000001", code=1)["error"]
    assert refused["code"] == "no_township" and "360403000000001" in refused["message"]  # no township drawn


def test_a_refused_import_lists_every_bad_feature_as_json(run, tmp_path) -> None:
    ring = [[115.9, 29.7], [115.91, 29.71], [115.91, 29.7], [115.9, 29.71], [115.9, 29.7]]
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"adcode": "360499", "district": "bow"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    error = run(divisions_group, "import", str(path), "--level", "district", "--crs", "wgs84", "--code-field",
                "adcode", "--name-field", "district", code=1)["error"]
    [bad] = error["details"]["invalid"]
    assert bad["code"] == "360499" and "Self-intersection" in bad["reason"] and bad["location"]
