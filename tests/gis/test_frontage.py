"""Frontage areas over real West Oakland buildings, shops and roads (OpenStreetMap), in metres."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box, shape

from gis.crs import to_metric, utm_epsg_for
from gis.frontage import frontage_areas

EPSG = utm_epsg_for(-122.30, 37.81)
NOT_STREETS = {"footway", "cycleway", "path", "steps", "pedestrian", "motorway", "motorway_link"}


def _features(shared_data: Path, name: str) -> list[dict]:
    path = shared_data / "west-oakland" / f"west_oakland_{name}.geojson"
    return json.loads(path.read_text(encoding="utf-8"))["features"]


@pytest.fixture(scope="module")
def west_oakland(shared_data: Path) -> dict:
    buildings = [shapely.make_valid(to_metric(shape(f["geometry"]), EPSG))
                 for f in _features(shared_data, "buildings_and_poi_areas") if "building" in f["properties"]]
    roads = [to_metric(shape(f["geometry"]), EPSG) for f in _features(shared_data, "roads")
             if f["properties"].get("highway") not in NOT_STREETS]
    shops = [to_metric(shape(f["geometry"]), EPSG) for f in _features(shared_data, "poi_points")
             if f["properties"].get("name")]
    return {"buildings": buildings, "roads": roads, "shops": shops,
            "areas": frontage_areas(buildings, roads, shops, max_depth=15.0)}


def test_every_named_shop_gets_an_area_and_none_overlap(west_oakland: dict) -> None:
    areas = [a.geometry for a in west_oakland["areas"]]
    assert len(areas) == 20 and all(not a.is_empty for a in areas)
    left, right = shapely.STRtree(areas).query(areas, predicate="intersects")
    overlaps = [shapely.intersection(areas[i], areas[j]).area for i, j in zip(left, right, strict=True) if i < j]
    assert max(overlaps, default=0.0) < 0.01


def test_areas_stay_out_of_buildings_and_on_their_side_of_the_road(west_oakland: dict) -> None:
    buildings = shapely.union_all(west_oakland["buildings"])
    roads = shapely.union_all(west_oakland["roads"])
    for area in west_oakland["areas"]:
        assert area.geometry.intersection(buildings).area < 0.01
        assert not area.geometry.buffer(-0.005).intersects(roads)


def test_building_areas_touch_their_buildings_street_side(west_oakland: dict) -> None:
    with_building = [a for a in west_oakland["areas"] if a.building is not None]
    assert len(with_building) >= 8
    for area in with_building:
        assert area.geometry.distance(west_oakland["buildings"][area.building]) < 0.1
        assert area.facade_m > 0 and "street-facing side" in area.notes[0]
        # the depth limit holds: nothing lies farther than max_depth (+ the sideways reach) from the wall
        corners = shapely.points(shapely.get_coordinates(area.geometry))
        assert shapely.distance(corners, west_oakland["buildings"][area.building]).max() < 15.0 * 1.5


def test_shops_in_one_building_share_its_facade(west_oakland: dict) -> None:
    by_building: dict[int, list] = {}
    for area in west_oakland["areas"]:
        if area.building is not None:
            by_building.setdefault(area.building, []).append(area)
    shared = [group for group in by_building.values() if len(group) > 1]
    assert shared, "Mandela Foods, Subway, 99 Cents Only and Community Trust share one building"
    for group in shared:
        assert all(f"façade shared by {len(group)} units" in a.notes for a in group)


def test_a_gap_between_neighbours_is_split_at_its_midpoint() -> None:
    road = LineString([(-50, 0), (80, 0)])
    left, right = box(0, 5, 10, 20), box(20, 5, 30, 20)  # a 10 m gap between them, 5 m from the road
    areas = frontage_areas([left, right], [road], [Point(5, 12), Point(25, 12)], max_depth=15.0)
    a, b = (x.geometry for x in areas)
    assert a.bounds[2] == pytest.approx(15.0, abs=0.6) and b.bounds[0] == pytest.approx(15.0, abs=0.6)
    assert a.bounds[1] == pytest.approx(0.01, abs=0.01)  # down to the centre line, not beyond it
    assert a.intersection(b).area < 0.01


def test_a_unit_without_a_building_gets_a_strip_cut_from_the_nearest_road() -> None:
    road = LineString([(0, 0), (100, 0)])
    (area,) = frontage_areas([Polygon([(200, 200), (210, 200), (210, 210)])], [road], [Point(50, 8)])
    assert area.building is None and "fallback" in area.notes[-1]
    assert area.geometry.area == pytest.approx(80.0, rel=0.01)  # 10 m wide by the 8 m to the road
