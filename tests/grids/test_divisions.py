"""Importing real boundaries: all or nothing by default, every bad feature listed, versions not duplicates."""

from __future__ import annotations

import json
import zipfile

import pytest
from shapely.geometry import Point, box, mapping
from sqlalchemy import func, select

from gis.crs import area_m2
from grids.divisions import division_at, import_divisions, list_divisions, tolerance_m2
from grids.errors import Invalid
from grids.models import Division, DivisionPart
from tests.grids.conftest import JIUJIANG, LANXI_FILE, XUNYANG, import_jiujiang

CITY = "990100"
SQUARE = [[119.46, 29.21], [119.47, 29.21], [119.47, 29.22], [119.46, 29.22], [119.46, 29.21]]
BOW_TIE = [[119.46, 29.21], [119.47, 29.22], [119.47, 29.21], [119.46, 29.22], [119.46, 29.21]]


def _polygon(ring: list) -> dict:
    return {"type": "Polygon", "coordinates": [ring]}


def _props(code: str, name: str = "t") -> dict:
    return {"code": code, "name": name}


def _import(db, path, **options):
    options = {"level": "district", "crs": "wgs84", "code_field": "code", "name_field": "name", **options}
    return import_divisions(db, CITY, path, **options)


def test_lanxi_outline_imports_from_gcj02_with_its_real_area(db) -> None:
    result = import_divisions(db, "330781", LANXI_FILE, level="city", crs="gcj02", code_field="adcode",
                              name_field="district")
    rows = list_divisions(db, "330781", "city")
    assert result["stored"] == 1 and rows[0]["code"] == "330781" and rows[0]["name"] == "兰溪市"
    assert rows[0]["area_m2"] == pytest.approx(1.313e9, rel=0.01)  # Lanxi is about 1,313 km²
    parts = db.scalar(select(func.count()).select_from(DivisionPart).join(Division).where(Division.code == "330781"))
    assert parts > 1  # the 872-vertex outline is subdivided for point lookups


def test_jiujiang_districts_import_and_reimport_updates_versions_never_duplicates(jdb) -> None:
    listed = {r["code"]: r for r in list_divisions(jdb, JIUJIANG, "district")}
    assert len(listed) == 13 and listed[XUNYANG]["name"] == "浔阳区"
    assert listed[XUNYANG]["area_m2"] == pytest.approx(48.0e6, rel=0.01)
    again = import_jiujiang(jdb)
    assert sorted(again["unchanged"]) == sorted(listed) and again["created"] == again["updated"] == []
    assert jdb.scalar(select(func.count()).select_from(Division)) == 14  # and the outline made of them, once
    assert {r["version"] for r in list_divisions(jdb, JIUJIANG)} == {1}  # the outline remade the same


def test_changed_boundary_becomes_a_new_version(db, tmp_geojson) -> None:
    _import(db, tmp_geojson((_polygon(SQUARE), _props("990101"))))
    smaller = [[119.46, 29.21], [119.465, 29.21], [119.465, 29.22], [119.46, 29.22], [119.46, 29.21]]
    result = _import(db, tmp_geojson((_polygon(smaller), _props("990101", "renamed"))))
    row = db.scalar(select(Division).where(Division.code == "990101"))
    assert result["updated"] == ["990101"] and row.version == 2 and row.name == "renamed"


def test_bad_features_store_nothing_and_are_all_listed(db, tmp_geojson) -> None:
    unclosed = _polygon(SQUARE[:-1])
    line = {"type": "LineString", "coordinates": SQUARE[:2]}
    path = tmp_geojson((_polygon(SQUARE), _props("990101")), (_polygon(BOW_TIE), _props("990102", "bow")),
                       (unclosed, _props("990103")), (None, _props("990104")), (line, _props("990105")))
    with pytest.raises(Invalid) as caught:
        _import(db, path)
    bad = {p["index"]: p for p in caught.value.details["invalid"]}
    assert set(bad) == {1, 2, 3, 4}
    assert "Self-intersection" in bad[1]["reason"] and bad[1]["code"] == "990102" and bad[1]["name"] == "bow"
    assert bad[1]["location"] == pytest.approx([119.465, 29.215])
    assert "unclosed ring" in bad[2]["reason"] and "null geometry" in bad[3]["reason"]
    assert "expected a polygon" in bad[4]["reason"]
    assert db.scalar(select(func.count()).select_from(Division).where(Division.city_code == CITY)) == 0


def test_skip_invalid_stores_the_good_and_repair_reports_areas(db, tmp_geojson) -> None:
    east_bow_tie = [[x + 0.02, y] for x, y in BOW_TIE]
    path = tmp_geojson((_polygon(SQUARE), _props("990101")), (_polygon(east_bow_tie), _props("990102")))
    skipped = _import(db, path, invalid="skip")
    assert skipped["created"] == ["990101"] and [p["index"] for p in skipped["skipped"]] == [1]
    repaired = _import(db, path, invalid="repair")
    fix = repaired["repaired"][0]
    assert fix["code"] == "990102" and fix["area_before_m2"] != fix["area_after_m2"] > 0


def test_z_coordinates_are_flattened(db, tmp_geojson) -> None:
    ring = [[x, y, 12.5] for x, y in SQUARE]
    _import(db, tmp_geojson((_polygon(ring), _props("990101"))))
    assert db.scalar(select(func.ST_NDims(Division.geom)).where(Division.code == "990101")) == 2


def test_web_mercator_metres_are_refused(db, tmp_geojson) -> None:
    metres = [[13298000, 3404000], [13299000, 3404000], [13299000, 3405000], [13298000, 3404000]]
    with pytest.raises(Invalid) as caught:
        _import(db, tmp_geojson((_polygon(metres), _props("990101"))))
    assert "projected metres" in caught.value.details["invalid"][0]["reason"]


def test_zip_with_parent_path_and_too_many_features_are_refused(db, tmp_path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../evil.shp", b"x")
    with pytest.raises(Invalid, match="points outside the archive"):
        _import(db, evil)
    many = tmp_path / "many.geojson"
    row = json.dumps({"type": "Feature", "properties": {}, "geometry": None})
    many.write_text('{"type": "FeatureCollection", "features": [' + ",".join([row] * 100_001) + "]}")
    with pytest.raises(Invalid, match="more than the limit of 100,000"):
        _import(db, many)


def test_children_outside_the_parent_are_refused_and_slivers_trimmed(db, tmp_geojson) -> None:
    _import(db, tmp_geojson((mapping(box(119.46, 29.21, 119.48, 29.23)), _props("990101"))))
    inside = box(119.46, 29.21, 119.47, 29.22)
    sliver = box(119.47, 29.21, 119.4800001, 29.22)  # sticks out by ~1 m²: within tolerance, trimmed
    outside = box(119.475, 29.22, 119.49, 29.23)
    path = tmp_geojson((mapping(inside), _props("990101001")), (mapping(sliver), _props("990101002")),
                       (mapping(outside), _props("990101003")))
    with pytest.raises(Invalid) as caught:
        _import(db, path, level="township", parent_code="990101")
    [problem] = caught.value.details["invalid"]
    assert problem["code"] == "990101003" and "outside its parent 990101" in problem["reason"]
    result = _import(db, path, level="township", parent_code="990101", invalid="skip")
    assert [t["code"] for t in result["trimmed"]] == ["990101002"]
    assert tolerance_m2(area_m2(inside)) == pytest.approx(1e-4 * area_m2(inside))


def test_overlapping_siblings_are_listed_or_clipped_to_the_first(db, tmp_geojson) -> None:
    west, east = box(119.46, 29.21, 119.47, 29.22), box(119.469, 29.21, 119.48, 29.22)
    path = tmp_geojson((mapping(west), _props("990101")), (mapping(east), _props("990102")))
    with pytest.raises(Invalid) as caught:
        _import(db, path)
    [pair] = caught.value.details["overlaps"]
    overlap = area_m2(box(119.469, 29.21, 119.47, 29.22))
    assert (pair["a"], pair["b"]) == ("990101", "990102") and pair["area_m2"] == pytest.approx(overlap, rel=1e-3)
    result = _import(db, path, clip_overlaps=True)
    assert [(m["from"], m["to"]) for m in result["moved"]] == [("990102", "990101")]
    areas = {r["code"]: r["area_m2"] for r in list_divisions(db, CITY)}
    assert areas["990101"] == pytest.approx(area_m2(west), rel=1e-6)
    assert areas["990102"] == pytest.approx(area_m2(east) - overlap, rel=1e-4)


def test_point_lookup_uses_the_subdivided_parts(jdb) -> None:
    hit = division_at(jdb, JIUJIANG, Point(115.99, 29.72), "district")  # central Jiujiang, 浔阳区
    assert hit is not None and hit.code == XUNYANG
    assert division_at(jdb, JIUJIANG, Point(100.0, 20.0), "district") is None


def test_a_level_that_does_not_fit_the_codes_or_the_parent_is_refused(db, tmp_geojson) -> None:
    """Two communities (12 digits) imported as townships under a township were stored as townships, and then
    ranked with the townships on 统计评价 and offered in every township filter."""
    _import(db, tmp_geojson((mapping(box(119.46, 29.21, 119.48, 29.23)), _props("990101"))))
    _import(db, tmp_geojson((mapping(box(119.46, 29.21, 119.47, 29.22)), _props("990101001"))), level="township",
            parent_code="990101")
    communities = tmp_geojson((mapping(box(119.46, 29.21, 119.465, 29.215)), _props("990101001201")),
                              (mapping(box(119.465, 29.21, 119.47, 29.215)), _props("990101001202")))
    with pytest.raises(Invalid) as under_township:
        _import(db, communities, level="township", parent_code="990101001")
    assert under_township.value.code == "bad_parent"
    assert "990101001 t is a township: a township lies in a division of a level above it" in str(under_township.value)
    with pytest.raises(Invalid) as as_township:
        _import(db, communities, level="township", parent_code="990101")
    reasons = [p["reason"] for p in as_township.value.details["invalid"]]
    assert len(reasons) == 2 and "not a township's 9-digit division code" in reasons[0]
    stored = _import(db, communities, level="community", parent_code="990101001")
    assert stored["created"] == ["990101001201", "990101001202"]
