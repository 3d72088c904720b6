"""门前三包 over real West Oakland data in PostGIS: import shops, draw areas, look up, inspect, export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gis.crs import from_metric, to_metric, utm_epsg_for
from grids.divisions import upsert_division
from grids.frontage import (
    black_list,
    export_units,
    frontage_unit_at,
    generate_areas,
    import_units,
    inspect_unit,
    read_unit_file,
    red_list,
    unit_view,
)
from grids.layouts import generate_layout, publish_layout
from grids.models import CasePhoto, Category, City, FrontageUnit, Incident
from tests.conftest import SHARED_DATA

CITY, TOWNSHIP = "999601", "999601001"
DATA = SHARED_DATA / "west-oakland"
ROADS, BUILDINGS, SHOPS = (DATA / f"west_oakland_{n}.geojson" for n in ("roads", "buildings_and_poi_areas",
                                                                       "poi_points"))
EPSG = utm_epsg_for(-122.30, 37.81)


def _extent() -> MultiPolygon:
    features = json.loads(ROADS.read_text(encoding="utf-8"))["features"]
    return MultiPolygon([box(*shapely.total_bounds([shapely.geometry.shape(f["geometry"]) for f in features]))])


@pytest.fixture(scope="module")
def oakland(engine: Engine) -> Iterator[tuple[Session, dict]]:
    """West Oakland as a test city with one township, a square grid layout, its shops and their areas."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:  # a setup that fails must still roll back: its open transaction would hold up every later test
        session.add(City(code=CITY, name="West Oakland (test)"))
        session.flush()
        session.add_all([Category(city_code=CITY, code=code, name=name, type="event", time_limit="4h")
                         for code, name in (("E0101", "暴露垃圾"), ("E0105", "乱堆物堆料"), ("E0501", "店外经营"),
                                            ("E0201", "非法小广告"))])
        city = upsert_division(session, CITY, CITY, "West Oakland", "city", _extent())
        upsert_division(session, CITY, TOWNSHIP, "West Oakland township", "township", _extent(), parent=city)
        publish_layout(session, generate_layout(session, CITY, TOWNSHIP, method="square").id)
        imported = import_units(session, CITY, read_unit_file(SHOPS), "name", "shop", "wgs84")
        generated = generate_areas(session, CITY, TOWNSHIP, BUILDINGS, ROADS, "wgs84", 15.0)
        yield session, {"import": imported, "generate": generated}
    finally:
        session.close()
        transaction.rollback()
        connection.close()


def _units(session: Session) -> list[FrontageUnit]:
    return list(session.scalars(select(FrontageUnit).where(FrontageUnit.city_code == CITY)
                                .order_by(FrontageUnit.id)))


def _metric(geom) -> shapely.Geometry:
    return to_metric(to_shape(geom), EPSG)


def test_named_shops_are_imported_and_unnamed_points_reported(oakland) -> None:
    _, result = oakland
    assert result["import"]["created"] == 20
    assert len(result["import"]["skipped"]) == 2
    assert all("no name" in s["reason"] for s in result["import"]["skipped"])


def test_the_two_self_intersecting_building_polygons_are_reported(oakland) -> None:
    _, result = oakland
    problems = result["generate"]["invalid_buildings"]
    assert sorted(p["index"] for p in problems) == [89, 111]
    assert all(p["reason"] == "Self-intersection" and -122.3 < p["location"][0] < -122.28 for p in problems)


def test_areas_do_not_overlap_and_stay_out_of_buildings_on_their_side_of_the_road(oakland) -> None:
    session, result = oakland
    assert result["generate"]["with_area"] == 20
    areas = [_metric(u.area) for u in _units(session)]
    for i, a in enumerate(areas):
        for b in areas[i + 1:]:
            assert a.intersection(b).area < 0.05
    features = json.loads(BUILDINGS.read_text(encoding="utf-8"))["features"]
    buildings = shapely.union_all([shapely.make_valid(to_metric(shapely.geometry.shape(f["geometry"]), EPSG))
                                   for f in features if "building" in f["properties"]])
    roads = shapely.union_all([to_metric(shapely.geometry.shape(f["geometry"]), EPSG)
                               for f in json.loads(ROADS.read_text(encoding="utf-8"))["features"]
                               if f["properties"]["highway"] in ("residential", "secondary", "primary", "tertiary")])
    for area in areas:
        assert area.intersection(buildings).area < 0.05
        assert not area.buffer(-0.02).intersects(roads)


def test_building_shops_touch_their_building_and_every_area_is_attached_to_a_grid(oakland) -> None:
    session, _ = oakland
    units = _units(session)
    assert all(u.grid_id is not None and u.grids for u in units)
    assert all(u.grid_id in {g.id for g in u.grids} for u in units)
    in_buildings = [u for u in units if u.area_notes[0].startswith("building")]
    assert len(in_buildings) >= 8


def test_the_point_halfway_between_a_shop_and_its_street_names_that_shop(oakland) -> None:
    session, _ = oakland
    roads = [to_metric(shapely.geometry.shape(f["geometry"]), EPSG)
             for f in json.loads(ROADS.read_text(encoding="utf-8"))["features"]
             if f["properties"]["highway"] in ("residential", "secondary", "primary", "tertiary", "unclassified")]
    tree = shapely.STRtree(roads)
    checked = 0
    for unit in _units(session):
        shop = _metric(unit.location)
        street = roads[tree.query_nearest(shop)[0]]
        halfway = shapely.shortest_line(shop, street).interpolate(0.5, normalized=True)
        if not _metric(unit.area).contains(halfway):
            continue  # a shop deep inside its building: halfway is indoors, no frontage there
        found = frontage_unit_at(session, CITY, from_metric(halfway, EPSG))
        assert found is not None and found.id == unit.id, unit.name
        checked += 1
    assert checked >= 10


def test_a_point_outside_every_area_names_no_unit(oakland) -> None:
    session, _ = oakland
    assert frontage_unit_at(session, CITY, Point(-122.2, 37.9)) is None


def test_contact_details_are_hidden_from_roles_without_the_grant(oakland) -> None:
    session, _ = oakland
    unit = _units(session)[0]
    unit.contact_name, unit.contact_phone = "王先生", "13800000000"
    viewer, officer = unit_view(unit, "viewer"), unit_view(unit, "officer")
    assert viewer["contact_name"] is None and viewer["contact_phone"] is None and viewer["personal_data_hidden"]
    assert officer["contact_phone"] == "13800000000" and not officer["personal_data_hidden"]
    assert "13800000000" not in json.dumps(unit_view(unit, "planner"), default=str)


def test_an_inspection_with_deductions_scores_and_opens_a_case_on_the_unit(oakland) -> None:
    session, _ = oakland
    unit = next(u for u in _units(session) if u.name == "Subway")
    inspection = inspect_unit(session, unit.id, None, {"O1": 1, "S2": 2, "G1": 5}, ["photos/1.jpg"], "门前摆摊")
    # 1000 - 100 (店外经营) - 2 x 30 (油污) - min(5 x 50, 200) (绿化 section capped at its 200 points)
    assert inspection.score == 1000 - 100 - 60 - 200
    assert inspection.violations == 1
    case = session.get(Incident, inspection.incident_ids[0])
    assert case.frontage_unit_id == unit.id and case.category.code == "E0501"
    assert case.grid_id is not None
    evidence = session.scalars(select(CasePhoto).where(CasePhoto.incident_id == case.id)).all()
    assert [(p.kind, p.path) for p in evidence] == [("before", "photos/1.jpg")]  # the inspector's photo, on the case


def test_red_and_black_lists_per_township(oakland) -> None:
    session, _ = oakland
    good, bad = _units(session)[:2]
    inspect_unit(session, good.id, None, {})
    for _ in range(3):
        inspect_unit(session, bad.id, None, {"S1": 1})
    assert red_list(session, CITY, TOWNSHIP)[0]["unit"] == good.id
    assert [row["unit"] for row in black_list(session, CITY, TOWNSHIP)] == [bad.id]


def test_export_geojson_and_csv(oakland, tmp_path: Path) -> None:
    session, _ = oakland
    out = tmp_path / "units.geojson"
    assert export_units(session, "geojson", out, CITY)["units"] == 20
    feature = json.loads(out.read_text(encoding="utf-8"))["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon" and feature["properties"]["grid"]
    assert feature["properties"]["duties"] == ["包市容/秩序", "包环境卫生", "包绿化/设施"]
    _units(session)[0].name = '=HYPERLINK("http://evil.example","点我")'
    session.flush()
    csv_out = tmp_path / "units.csv"
    export_units(session, "csv", csv_out, CITY)
    rows = list(csv.reader(csv_out.open(encoding="utf-8-sig")))  # with the BOM Excel needs
    assert ",".join(rows[0]) == ("unit,name,type,kind,duties,grid,grids,latest_score,agreement_no,"
                                 "agreement_signed_on,agreement_expires_on,area_wkt")
    assert "'=HYPERLINK(\"http://evil.example\",\"点我\")" in [row[1] for row in rows]  # shown, never run
