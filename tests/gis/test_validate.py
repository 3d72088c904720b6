"""Input geometry checks: bad shapes are refused with a reason and a place, never a crash."""

import json

import pytest
import shapely
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box, shape

from gis import validate
from gis.validate import GeometryProblem

BOW_TIE = Polygon([(119.46, 29.21), (119.47, 29.22), (119.47, 29.21), (119.46, 29.22), (119.46, 29.21)])


def _square(x: float = 119.46, y: float = 29.21, size: float = 0.01) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


def test_real_dirty_oakland_buildings_exactly_two_self_intersections(shared_data):
    path = shared_data / "west-oakland" / "west_oakland_buildings_and_poi_areas.geojson"
    features = json.loads(path.read_text())["features"]
    problems = {}
    for index, feature in enumerate(features):
        problem = validate.explain_invalid(shape(feature["geometry"]))
        if problem:
            problems[index] = problem
    assert sorted(problems) == [89, 111]
    assert features[89]["properties"]["name"] == "Peralta Studios"
    for index, problem in problems.items():
        assert problem.reason == "Self-intersection"
        x, y = problem.location
        assert shape(features[index]["geometry"]).exterior.distance(Point(x, y)) < 1e-9
        assert "Self-intersection at (-122.29" in str(problem)


def test_bow_tie_is_refused_and_repair_reports_the_area_change():
    problem = validate.explain_invalid(BOW_TIE)
    assert problem.reason == "Self-intersection"
    assert problem.location == pytest.approx((119.465, 29.215))
    with pytest.raises(GeometryProblem, match="Self-intersection"):
        validate.validated_polygon(BOW_TIE, "wgs84")
    repaired, before, after = validate.repair(BOW_TIE)
    assert repaired.is_valid and len(repaired.geoms) == 2
    assert before == pytest.approx(0, abs=1.0)  # the two lobes of a bow-tie cancel in the ring formula
    assert after > 500_000  # half of a ~1 km x 1.1 km square survives as two triangles


def test_hole_outside_shell_is_refused_with_location():
    polygon = Polygon(_square(), [_square(119.5, 29.3, 0.001)[::-1]])
    problem = validate.explain_invalid(polygon)
    assert problem.reason == "Hole lies outside shell"
    assert problem.location == pytest.approx((119.5, 29.3))


def test_unclosed_ring_is_reported_not_silently_closed():
    ring = _square()[:-1]
    problem = validate.parse_geojson_geometry({"type": "Polygon", "coordinates": [ring]})
    assert isinstance(problem, GeometryProblem)
    assert "unclosed ring" in problem.reason and problem.location == (119.46, 29.21)


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}, "at least 4 positions, got 3"),
        (None, "null geometry"),
        ({"type": "Polygon", "coordinates": []}, "empty Polygon"),
        ({"type": "MultiPolygon", "coordinates": [[]]}, "empty polygon"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, "x"], [1, 1], [0, 0]]]}, "two finite numbers"),
        ({"type": "Circle", "coordinates": [0, 0]}, "not a GeoJSON geometry"),
    ],
)
def test_malformed_geojson_becomes_a_problem(obj, reason):
    problem = validate.parse_geojson_geometry(obj)
    assert isinstance(problem, GeometryProblem)
    assert reason in problem.reason


def test_good_geojson_parses():
    geom = validate.parse_geojson_geometry({"type": "Polygon", "coordinates": [_square()]})
    assert geom.equals(box(119.46, 29.21, 119.46 + 0.01, 29.21 + 0.01))


def test_collection_keeps_polygons_but_refuses_to_drop_a_line():
    square = box(0, 0, 1, 1)
    on_edge = GeometryCollection([square, LineString([(0, 0), (1, 0)])])
    assert validate.to_polygonal(on_edge).equals(MultiPolygon([square]))
    with pytest.raises(GeometryProblem, match="would drop"):
        validate.to_polygonal(GeometryCollection([square, LineString([(2, 2), (3, 3)])]))


@pytest.mark.parametrize("geom", [LineString([(0, 0), (1, 1)]), Point(0, 0)])
def test_non_polygons_are_refused(geom):
    with pytest.raises(GeometryProblem, match=f"expected a polygon, got {geom.geom_type}"):
        validate.to_polygonal(geom)


@pytest.mark.parametrize("geom", [None, Polygon()])
def test_empty_is_refused(geom):
    with pytest.raises(GeometryProblem, match="empty geometry"):
        validate.to_polygonal(geom)


def test_3d_polygon_is_flattened():
    flat = validate.to_polygonal(Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 6), (0, 0, 5)]))
    assert isinstance(flat, MultiPolygon) and not flat.has_z and flat.area == pytest.approx(0.5)


def test_web_mercator_metres_are_recognised():
    metres = box(13_298_000, 3_400_000, 13_299_000, 3_401_000)
    with pytest.raises(GeometryProblem, match="projected metres"):
        validate.check_in_range(metres, "wgs84")
    with pytest.raises(GeometryProblem, match="outside longitude"):
        validate.check_in_range(box(179, 29, 181, 30), "gcj02")
    validate.check_in_range(box(119.46, 29.21, 119.47, 29.22), "gcj02")


def test_vertex_limit():
    circle = Point(0, 0).buffer(1, quad_segs=500)
    assert validate.count_vertices(circle) == 2001
    with pytest.raises(GeometryProblem, match="2,001 vertices, more than the limit of 2,000"):
        validate.count_vertices(circle, limit=2000)
    assert shapely.get_num_coordinates(validate.validated_polygon(box(119, 29, 120, 30), "gcj02")) == 5
