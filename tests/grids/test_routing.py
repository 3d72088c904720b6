"""Locate and route: one accountable owner for every point, the reason in words, bad points refused."""

import json
from datetime import timedelta
from importlib import resources

import pytest
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point
from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from gis.crs import from_wgs84
from grids.catalog import import_catalog
from grids.errors import Invalid
from grids.incidents import locate, open_case
from grids.layouts import city_date, generate_layout, grid_at, publish_layout
from grids.models import (
    Category,
    Department,
    Division,
    DivisionPart,
    FrontageUnit,
    Grid,
    Incident,
    RoutingRule,
)

CITY = "330781"
YOUBU = "330781102"  # 游埠镇: has a stationed squad in the demo city
NO_SQUAD_TOWNSHIP = "330781001"
UNGRIDDED = "330781104"  # 诸葛镇: a squad, but no grids drawn in the tests' demo city


def inner_point(db, code: str) -> Point:
    x, y = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                             func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == code)).one()
    return Point(x, y)


def by_code(db, model, code: str):
    return db.scalar(select(model).where(model.city_code == CITY, model.code == code))


@pytest.fixture()
def grid(db, demo_city) -> Grid:
    """The demo's published 10,000 m² grid under the inner point of 游埠镇 (it has a co-manager)."""
    center = inner_point(db, YOUBU)
    found = grid_at(db, CITY, center.x, center.y)
    assert found is not None and found.co_manager_id is not None
    return found


def test_point_in_a_grid_gets_grid_squad_co_manager_and_city_wide_department(db, grid) -> None:
    center = inner_point(db, YOUBU)
    loc = locate(db, CITY, center.x, center.y, category=by_code(db, Category, "E0101"))
    assert [d.level for d in loc.divisions] == ["city", "township"]
    assert loc.grid.id == grid.id and loc.co_manager.id == grid.co_manager_id
    assert loc.squad.code == f"SQ{YOUBU}"
    assert loc.department.code == "sanitation" and loc.owner_type == "department"
    assert not loc.needs_triage
    assert f"grid {grid.code}" in loc.routing_reason and "city-wide rule of category E0101" in loc.routing_reason


def test_a_rule_scoped_to_the_township_beats_the_city_wide_rule_then_category_default(db, grid) -> None:
    center = inner_point(db, YOUBU)
    garbage = by_code(db, Category, "E0101")
    db.add(RoutingRule(city_code=CITY, category_id=garbage.id, division_id=by_code(db, Division, YOUBU).id,
                       department_id=by_code(db, Department, "bureau").id))
    db.flush()
    loc = locate(db, CITY, center.x, center.y, category=garbage)
    assert loc.department.code == "bureau" and "rule for 游埠镇" in loc.routing_reason
    db.execute(delete(RoutingRule).where(RoutingRule.category_id == garbage.id))
    loc = locate(db, CITY, center.x, center.y, category=garbage)
    assert loc.department.code == "sanitation" and "default of category E0101" in loc.routing_reason


def test_without_department_the_squad_answers_and_without_squad_the_township_government(db, demo_city) -> None:
    here = inner_point(db, YOUBU)
    assert locate(db, CITY, here.x, here.y).owner_type == "squad"
    there = inner_point(db, NO_SQUAD_TOWNSHIP)
    loc = locate(db, CITY, there.x, there.y)
    assert loc.squad is None and loc.owner_type == "township" and "owner: township" in loc.routing_reason


def test_the_frontage_unit_covering_the_point_is_named(db, grid) -> None:
    center = inner_point(db, YOUBU)
    db.add(FrontageUnit(city_code=CITY, name="游埠老街水果店", location=from_shape(center, 4326),
                        area=from_shape(MultiPolygon([center.buffer(0.0002)]), 4326)))
    db.flush()
    loc = locate(db, CITY, center.x, center.y)
    assert loc.frontage_unit.name == "游埠老街水果店" and "门前三包" in loc.routing_reason


def test_the_same_place_as_gps_amap_and_baidu_lands_in_the_same_grid(db, grid) -> None:
    """RELIABILITY 9: converted, not taken at face value (the offsets are 300-600 m, a grid 100 m)."""
    center = inner_point(db, YOUBU)
    gcj = from_wgs84(center.x, center.y, "gcj02")
    bd = from_wgs84(center.x, center.y, "bd09")
    for x, y, crs in ((center.x, center.y, "wgs84"), (*gcj, "gcj02"), (*bd, "bd09"), (*gcj, "GCJ-02")):
        loc = locate(db, CITY, x, y, crs=crs)
        assert loc.grid is not None and loc.grid.id == grid.id, crs
    assert locate(db, CITY, *gcj, crs="wgs84").grid.id != grid.id  # GCJ-02 taken as GPS: another grid


@pytest.mark.parametrize(("x", "y", "code", "words"), [
    (29.21, 119.47, "swapped_coordinates", "swapped.*send 119.47 as the longitude and 29.21 as the latitude"),
    (119.47, 91.0, "bad_coordinates", "latitude 91.0 is outside"),
    (float("nan"), 29.21, "bad_coordinates", "finite"),
    (119.47, float("inf"), "bad_coordinates", "finite"),
    (116.40, 39.90, "outside_city", "outside the boundary of 兰溪市"),
])
def test_bad_points_are_refused_with_a_message_saying_what_to_fix(db, demo_city, x, y, code, words) -> None:
    """RELIABILITY 7: never routed to some wrong grid."""
    with pytest.raises(Invalid, match=words) as caught:
        locate(db, CITY, x, y)
    assert caught.value.status == 422 and caught.value.code == code


def test_an_unknown_crs_is_refused(db, demo_city) -> None:
    with pytest.raises(Invalid, match="gcj02"):
        locate(db, CITY, 119.47, 29.21, crs="mercator")


def test_a_case_in_the_city_but_in_no_grid_waits_in_triage_with_its_owner(db, demo_city) -> None:
    """RELIABILITY 8: kept, flagged, still owned (the tests draw grids only in 游埠镇)."""
    here = inner_point(db, UNGRIDDED)
    case = open_case(db, CITY, by_code(db, Category, "E0501"), here.x, here.y, source="test",
                     description="店外经营")
    stored = db.get(Incident, case.id)
    assert stored.status == "reported" and stored.needs_triage and stored.grid_id is None
    assert stored.owner_type == "department" and stored.township_id == by_code(db, Division, UNGRIDDED).id
    assert "triage" in stored.routing_reason
    assert (stored.input_crs, stored.input_x) == ("wgs84", here.x)


def test_a_grid_rule_beats_the_township_rule_beats_the_city_wide_rule(db, grid) -> None:
    """Most specific scope wins: grid > township > city; each case says which rule matched."""
    center = inner_point(db, YOUBU)
    garbage = by_code(db, Category, "E0101")
    township_rule = RoutingRule(city_code=CITY, category_id=garbage.id, division_id=by_code(db, Division, YOUBU).id,
                                department_id=by_code(db, Department, "bureau").id)
    grid_rule = RoutingRule(city_code=CITY, category_id=garbage.id, grid_code=grid.code,
                            department_id=by_code(db, Department, "market").id)
    db.add_all([township_rule, grid_rule])
    db.flush()
    case = open_case(db, CITY, garbage, center.x, center.y, source="test", description="垃圾")
    assert db.get(Department, case.department_id).code == "market"
    assert ["grid_rule", {"name": by_code(db, Department, "market").name, "category": "E0101",
                          "grid": grid.code}] in case.routing_steps
    assert f"rule for grid {grid.code} of category E0101" in case.routing_reason
    db.delete(grid_rule)
    db.flush()
    assert locate(db, CITY, center.x, center.y, category=garbage).department.code == "bureau"
    db.delete(township_rule)
    db.flush()
    assert locate(db, CITY, center.x, center.y, category=garbage).department.code == "sanitation"


def test_a_grid_rule_applies_only_in_its_grid(db, grid) -> None:
    """The demo catalog sends hawkers (E0502) in the old-street grid to the enforcement bureau; elsewhere
    the city-wide rule (market supervision) answers."""
    hawkers = by_code(db, Category, "E0502")
    center = inner_point(db, YOUBU)
    assert grid.code == "330781102004553"
    here = locate(db, CITY, center.x, center.y, category=hawkers)
    assert here.department.code == "bureau" and "rule for grid 330781102004553" in here.routing_reason
    away = locate(db, CITY, center.x + 0.01, center.y, category=hawkers)
    assert away.grid is not None and away.grid.code != grid.code
    assert away.department.code == "market" and "city-wide rule of category E0502" in away.routing_reason


@pytest.mark.parametrize("scope", ["city", "township", "grid"])
def test_the_database_keeps_one_rule_per_category_and_scope(db, grid, scope) -> None:
    garbage = by_code(db, Category, "E0101")
    where = {"city": {}, "township": {"division_id": by_code(db, Division, YOUBU).id},
             "grid": {"grid_code": grid.code}}[scope]
    departments = [by_code(db, Department, code).id for code in ("bureau", "market")]
    db.add_all([RoutingRule(city_code=CITY, category_id=garbage.id, department_id=d, **where) for d in departments])
    with pytest.raises(IntegrityError, match="uq_routing_rules"), db.begin_nested():
        db.flush()


def test_a_rule_for_a_grid_and_a_division_at_once_is_refused(db, grid) -> None:
    db.add(RoutingRule(city_code=CITY, category_id=by_code(db, Category, "E0101").id, grid_code=grid.code,
                       division_id=by_code(db, Division, YOUBU).id, department_id=by_code(db, Department, "bureau").id))
    with pytest.raises(IntegrityError, match="one_scope"), db.begin_nested():
        db.flush()


def test_a_catalog_with_two_rules_for_one_scope_is_refused_naming_them(db, demo_city) -> None:
    doc = json.loads(resources.files("grids").joinpath("data/lanxi_catalog.json").read_text(encoding="utf-8"))
    doc["routing"] += [{"category": "E0502", "grid": "330781102004553", "department": "market"},
                       {"category": "E0101", "department": "bureau"},
                       {"category": "E0101", "scope": "330781102", "grid": "330781102004553", "department": "bureau"}]
    with pytest.raises(Invalid) as caught:
        import_catalog(db, doc)
    assert caught.value.code == "bad_catalog"
    message = caught.value.message
    assert "routing/" in message or "2 rules for grid 330781102004553" in message
    doc["routing"].pop()  # the schema refuses a rule with both scope and grid; then the duplicates are named
    with pytest.raises(Invalid) as caught:
        import_catalog(db, doc)
    assert "E0502: 2 rules for grid 330781102004553" in caught.value.message
    assert "E0101: 2 rules for the whole city" in caught.value.message


def test_a_catalog_rule_for_a_grid_no_layout_draws_is_refused_and_nothing_is_stored(db, grid) -> None:
    """A mistyped grid code would route nothing: the import names it and the fix, and changes nothing."""
    doc = json.loads(resources.files("grids").joinpath("data/lanxi_catalog.json").read_text(encoding="utf-8"))
    doc["departments"][0]["name"] = "改过的名字"
    doc["routing"].append({"category": "E0101", "grid": "330781102999999", "department": "bureau"})
    rules_before = db.scalar(select(func.count()).select_from(RoutingRule))
    with pytest.raises(Invalid) as caught:
        import_catalog(db, doc)
    error = caught.value
    assert (error.status, error.code) == (422, "unknown_grid")
    assert "category E0101): no published grid has the code 330781102999999" in error.message
    assert "gridlink grids publish" in error.message and "330781102004553" not in error.message
    assert by_code(db, Department, doc["departments"][0]["code"]).name != "改过的名字"
    assert db.scalar(select(func.count()).select_from(RoutingRule)) == rules_before
    doc["routing"][-1]["grid"] = grid.code  # the grid the demo drew: accepted
    import_catalog(db, doc)
    garbage = by_code(db, Category, "E0101")
    rule = db.scalar(select(RoutingRule).where(RoutingRule.grid_code == grid.code,
                                               RoutingRule.category_id == garbage.id))
    assert rule.department_id == by_code(db, Department, "bureau").id


def test_a_grid_rule_stays_accepted_while_its_layout_is_in_force_before_a_redraw_takes_over(db, grid) -> None:
    """A redraw published for next month retires today's layout from that day: until then its grids are
    the ones cases land in, so a catalog rule for one of them is still a rule that applies."""
    township = db.scalar(select(Division).where(Division.id == grid.division_id))
    redraw = generate_layout(db, CITY, township.code, target_area=1_000_000, method="square")
    publish_layout(db, redraw.id, city_date(db, CITY) + timedelta(days=30))
    assert grid.code not in set(db.scalars(select(Grid.code).where(Grid.layout_id == redraw.id)))
    doc = json.loads(resources.files("grids").joinpath("data/lanxi_catalog.json").read_text(encoding="utf-8"))
    doc["routing"].append({"category": "E0101", "grid": grid.code, "department": "bureau"})
    import_catalog(db, doc)
    here = to_shape(grid.geom).representative_point()
    assert locate(db, CITY, here.x, here.y, category=by_code(db, Category, "E0101")).department.code == "bureau"


def _shared_vertex():
    """A vertex both townships' outlines have: on the edge of each (ST_Touches picks pairs that share one)."""
    a, b = aliased(Division, name="a"), aliased(Division, name="b")
    return a, b, func.ST_PointN(func.ST_GeometryN(func.ST_Intersection(a.geom, b.geom), 1), 1)


def test_on_the_edge_of_two_townships_the_rule_of_the_township_in_the_path_applies(db, demo_city) -> None:
    a, b, vertex = _shared_vertex()
    first, second, x, y = db.execute(
        select(a.id, b.id, func.ST_X(vertex), func.ST_Y(vertex))
        .join(b, and_(b.city_code == a.city_code, b.level == "township", b.id > a.id, func.ST_Touches(a.geom, b.geom)))
        .where(a.city_code == CITY, a.level == "township").order_by(a.id, b.id).limit(1)).one()
    assert {first, second} <= set(db.scalars(select(DivisionPart.division_id).where(
        func.ST_Covers(DivisionPart.geom, func.ST_SetSRID(func.ST_MakePoint(x, y), 4326)))))
    garbage = by_code(db, Category, "E0101")
    for township, department in ((second, "bureau"), (first, "sanitation")):  # the higher id's rule first
        db.add(RoutingRule(city_code=CITY, category_id=garbage.id, division_id=township,
                           department_id=by_code(db, Department, department).id))
    db.flush()
    loc = locate(db, CITY, x, y, category=garbage)
    assert loc.township.id == first and loc.department.code == "sanitation"
    assert f"rule for {loc.township.name}" in loc.routing_reason


def test_a_grid_drawn_across_two_communities_keeps_each_cases_own_community(db, demo_city) -> None:
    """Communities drawn after the township's grids: one grid spans both. Each case takes the community its
    point lies in, not the one at the grid's middle (so a community's routing rule routes its own cases)."""
    from shapely.geometry import box

    from grids.divisions import upsert_division

    township = by_code(db, Division, NO_SQUAD_TOWNSHIP)
    center = inner_point(db, NO_SQUAD_TOWNSHIP)
    layout = generate_layout(db, CITY, NO_SQUAD_TOWNSHIP, target_area=4_000_000, method="square")
    publish_layout(db, layout.id)
    here = grid_at(db, CITY, center.x, center.y)
    west, south, east, north = to_shape(here.geom).bounds
    middle = (west + east) / 2
    for code, part in (("001", box(west - 0.01, south - 0.01, middle, north + 0.01)),
                       ("002", box(middle, south - 0.01, east + 0.01, north + 0.01))):
        upsert_division(db, CITY, NO_SQUAD_TOWNSHIP + code, f"社区{code}", "community", MultiPolygon([part]),
                        parent=township)
    db.flush()
    y = (south + north) / 2
    sides = [locate(db, CITY, x, y) for x in (west + (middle - west) / 4, east - (east - middle) / 4)]
    assert [loc.grid.id for loc in sides] == [here.id, here.id]
    assert [loc.divisions[-1].code for loc in sides] == [NO_SQUAD_TOWNSHIP + "001", NO_SQUAD_TOWNSHIP + "002"]
    assert {loc.township.code for loc in sides} == {NO_SQUAD_TOWNSHIP}
