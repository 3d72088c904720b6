"""Coordinate conversion: the same place from GPS, Amap and Baidu must land in the same spot."""

import json
import math

import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import Point, box, shape

from gis import crs

_GEOD = pyproj.Geod(ellps="WGS84")


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return _GEOD.inv(a[0], a[1], b[0], b[1])[2]


def test_tiananmen_matches_the_published_gcj02_offset():
    # The widely quoted pair for Tiananmen (e.g. the coordtransform / eviltransform READMEs) is
    # WGS84 116.391275, 39.906217 -> GCJ-02 ~116.397519, 39.907612: the public algorithm moves Beijing
    # about +0.0062 deg east and +0.0014 deg north (roughly 530 m east, 155 m north).
    lon, lat = crs.from_wgs84(116.391275, 39.906217, "gcj02")
    assert lon == pytest.approx(116.397519, abs=1e-5)
    assert lat == pytest.approx(39.907612, abs=1e-5)
    assert crs.to_wgs84(lon, lat, "gcj02") == pytest.approx((116.391275, 39.906217), abs=1e-9)


def test_gcj02_round_trip_is_sub_centimetre_across_china():
    rng = np.random.default_rng(7)
    lons, lats = rng.uniform(75, 134, 2000), rng.uniform(18, 53, 2000)
    points = shapely.points(lons, lats)
    shifted = crs.geometry_from_wgs84(points, "gcj02")
    back = shapely.get_coordinates(crs.geometry_to_wgs84(shifted, "gcj02"))
    assert np.abs(shapely.get_coordinates(shifted) - back).max(axis=1).min() > 1e-4  # it really moved
    assert np.abs(back - np.column_stack([lons, lats])).max() < 1e-7


def test_bd09_round_trip_and_gps_equals_map_pick():
    gps = (119.4628, 29.2081)
    bd = crs.from_wgs84(*gps, "bd09")
    assert _metres(gps, bd) > 300  # Baidu shows it far away ...
    assert crs.to_wgs84(*bd, "BD-09") == pytest.approx(gps, abs=1e-8)  # ... but we bring it back
    assert crs.to_wgs84(*bd, "BD-09") == pytest.approx(crs.to_wgs84(*crs.from_wgs84(*gps, "gcj02"), "gcj02"))


def test_bd09_round_trip_over_many_points():
    rng = np.random.default_rng(3)
    points = shapely.points(rng.uniform(75, 134, 1000), rng.uniform(18, 53, 1000))
    back = crs.geometry_to_wgs84(crs.geometry_from_wgs84(points, "bd09"), "bd09")
    assert np.abs(shapely.get_coordinates(back) - shapely.get_coordinates(points)).max() < 1e-7


def test_points_outside_china_are_not_shifted():
    oakland = (-122.3, 37.81)
    assert crs.from_wgs84(*oakland, "gcj02") == oakland
    assert crs.to_wgs84(*oakland, "gcj02") == oakland


def test_lanxi_offset_is_a_few_hundred_metres():
    wgs = crs.to_wgs84(119.46, 29.21, "gcj02")
    assert 300 < _metres((119.46, 29.21), wgs) < 700


def test_lanxi_outline_conversion_keeps_vertices_and_moves_them(shared_data):
    data = json.loads((shared_data / "lanxi" / "lanxi_330781_county.gcj02.geojson").read_text())
    outline = shape(data["features"][0]["geometry"])
    converted = crs.geometry_to_wgs84(outline, "gcj02")
    assert shapely.get_num_coordinates(converted) == shapely.get_num_coordinates(outline) == 872
    before, after = shapely.get_coordinates(outline), shapely.get_coordinates(converted)
    moves = [_metres(tuple(a), tuple(b)) for a, b in zip(before[::50], after[::50], strict=True)]
    assert 300 < min(moves) and max(moves) < 700
    assert converted.is_valid


def test_100k_points_convert_quickly():
    rng = np.random.default_rng(1)
    points = shapely.points(rng.uniform(119, 120, 100_000), rng.uniform(29, 30, 100_000))
    converted = crs.geometry_to_wgs84(points, "gcj02")
    assert len(converted) == 100_000


def test_area_of_small_square_near_lanxi_matches_ellipsoid_formula():
    # Area of a 0.001 deg cell = M * dphi * N * cos(phi) * dlambda with the WGS84 radii of curvature.
    a, e2, phi = 6378137.0, 0.0066943799901413165, math.radians(29.2105)
    w = 1 - e2 * math.sin(phi) ** 2
    meridian, normal = a * (1 - e2) / w**1.5, a / math.sqrt(w)
    expected = meridian * math.radians(0.001) * normal * math.cos(phi) * math.radians(0.001)
    assert crs.area_m2(box(119.46, 29.21, 119.461, 29.211)) == pytest.approx(expected, rel=0.005)


def test_area_counts_clockwise_parts_and_subtracts_holes():
    cell = box(119.46, 29.21, 119.461, 29.211)
    clockwise = shapely.reverse(box(119.47, 29.21, 119.471, 29.211))
    both = shapely.MultiPolygon([cell, clockwise])
    assert crs.area_m2(both) == pytest.approx(2 * crs.area_m2(cell), rel=1e-3)
    holed = cell.difference(box(119.4602, 29.2102, 119.4608, 29.2108))
    assert crs.area_m2(holed) == pytest.approx(crs.area_m2(cell) * (1 - 0.36), rel=1e-3)


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        (float("nan"), 29.2, "longitude must be a finite"),
        (119.4, float("inf"), "latitude must be a finite"),
        (119.4, 91, "latitude 91 is outside"),
        (181, 29.2, "longitude 181 is outside"),
    ],
)
def test_impossible_points_are_refused_with_a_reason(lon, lat, message):
    with pytest.raises(crs.CoordinateError, match=message):
        crs.check_lonlat(lon, lat)


def test_swapped_latitude_longitude_is_recognised():
    lanxi_bbox = (119.2, 29.0, 119.8, 29.5)
    assert crs.looks_swapped(29.21, 119.46, lanxi_bbox)
    assert not crs.looks_swapped(119.46, 29.21, lanxi_bbox)
    with pytest.raises(crs.CoordinateError, match="swapped"):
        crs.check_lonlat(29.21, 119.46)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("EPSG:4326", "wgs84"), ("4326", "wgs84"), ("WGS84", "wgs84"), ("EPSG:4490", "cgcs2000"),
     ("cgcs2000", "cgcs2000"), ("GCJ-02", "gcj02"), ("gcj02", "gcj02"), ("BD-09", "bd09"), ("bd09", "bd09")],
)
def test_common_crs_spellings_are_accepted(spelling, name):
    assert crs.normalize_crs_name(spelling) == name


def test_unknown_crs_lists_the_accepted_ones():
    with pytest.raises(crs.CoordinateError, match="wgs84, cgcs2000, gcj02, bd09"):
        crs.normalize_crs_name("EPSG:3857")


def test_cgcs2000_is_passed_through():
    assert crs.to_wgs84(119.46, 29.21, "EPSG:4490") == (119.46, 29.21)


def test_metric_round_trip_and_utm_zone():
    assert crs.utm_epsg_for(119.46, 29.21) == 32650
    assert crs.utm_epsg_for(-122.3, 37.8) == 32610
    assert crs.utm_epsg_for(151.2, -33.9) == 32756
    point = Point(119.46, 29.21)
    metric = crs.to_metric(point, 32650)
    assert 100_000 < metric.x < 900_000
    back = crs.from_metric(metric, 32650)
    assert (back.x, back.y) == pytest.approx((119.46, 29.21), abs=1e-9)
