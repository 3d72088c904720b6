"""Grid layouts on real boundaries: exact coverage, road-bounded grids, publishing, versioned lookups."""

from __future__ import annotations

import math
from datetime import UTC, date
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, box, shape
from sqlalchemy import delete, func, select, text

from gis import crs
from gis.readers import read_features
from gis.split import blocks_from_roads, split_large
from grids.divisions import upsert_division
from grids.errors import Conflict, Invalid
from grids.incidents import locate
from grids.layouts import (
    SEGMENT_DEG,
    assign_by_codes,
    assign_grids,
    check_layout,
    export_layout,
    generate_layout,
    grid_at,
    publish_impact,
    publish_layout,
    read_roads,
)
from grids.models import City, Division, FrontageUnit, Grid, GridCode, GridLayout, Incident, Squad, User
from grids.org import station_squad, townships_without_squad
from tests.grids.conftest import JIUJIANG, OAKLAND_ROADS, XUNYANG

COARSE = 200_000  # m²: the same code paths as 10,000 m² with 20x fewer grids, for tests about rules not size


def _grids(session, layout_id: int) -> list[Grid]:
    return session.scalars(select(Grid).where(Grid.layout_id == layout_id).order_by(Grid.code)).all()


def test_square_layout_covers_a_real_district_exactly(jdb) -> None:
    layout = generate_layout(jdb, JIUJIANG, XUNYANG, target_area=10_000, method="square")
    report = check_layout(jdb, layout.id)
    assert report["ok"] and report["invalid"] == 0 and report["overlap_area_m2"] == 0
    assert report["gap_area_m2"] == 0 and report["outside_parent"] == 0
    assert 4000 < report["count"] < 6000 and report["area_m2"]["median"] == pytest.approx(10_000, rel=0.05)
    union, parent = jdb.execute(text(
        "SELECT ST_Area(ST_Union(g.geom)::geography), ST_Area(d.geom::geography) FROM grids g "
        "JOIN divisions d ON d.id = :d WHERE g.layout_id = :l GROUP BY d.geom"),
        {"l": layout.id, "d": layout.division_id}).one()
    assert union == pytest.approx(parent, rel=1e-4)
    overlap = jdb.scalar(text(
        "SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0) FROM grids a "
        "JOIN grids b ON b.layout_id = a.layout_id AND a.id < b.id AND a.geom && b.geom "
        "WHERE a.layout_id = :l AND ST_Relate(a.geom, b.geom, '2********')"), {"l": layout.id})
    assert overlap < 1e-3  # micrometre² of floating-point noise; check_layout reports 0


def test_codes_are_unique_and_numbered_west_east_north_south(jdb) -> None:
    layout = generate_layout(jdb, JIUJIANG, XUNYANG, target_area=COARSE, method="square")
    grids = _grids(jdb, layout.id)
    codes = [g.code for g in grids]
    assert len(set(codes)) == len(codes) and codes[0] == "360403000000001"
    assert codes == [f"360403000000{i:03d}" for i in range(1, len(codes) + 1)]
    epsg = crs.utm_epsg_for(115.99, 29.72)
    shapes = [crs.to_metric(to_shape(g.geom), epsg) for g in grids]
    north = max(s.bounds[3] for s in shapes)
    rows = [math.floor((north - s.centroid.y) / math.sqrt(COARSE)) for s in shapes]
    xs = [s.centroid.x for s in shapes]
    assert rows == sorted(rows)  # north to south
    assert all(x1 < x2 for r1, r2, x1, x2 in zip(rows, rows[1:], xs, xs[1:], strict=False) if r1 == r2)


def test_a_redraw_never_reuses_a_code(jdb) -> None:
    first = generate_layout(jdb, JIUJIANG, XUNYANG, target_area=COARSE, method="square")
    second = generate_layout(jdb, JIUJIANG, XUNYANG, target_area=COARSE, method="square")
    old, new = {g.code for g in _grids(jdb, first.id)}, {g.code for g in _grids(jdb, second.id)}
    assert not old & new and min(new) > max(old)
    assert jdb.scalar(select(func.count()).select_from(GridCode)) == len(old) + len(new)
    assert second.revision == first.revision + 1


def _community(jdb, code: str, geom) -> Division:
    parent = jdb.scalar(select(Division).where(Division.code == XUNYANG))
    return upsert_division(jdb, JIUJIANG, code, f"test {code}", "township" if len(code) == 9 else "community",
                           MultiPolygon([geom]), parent=parent)


def test_the_sequence_extends_into_undrawn_levels_then_stops(jdb) -> None:
    layout = generate_layout(jdb, JIUJIANG, XUNYANG, target_area=COARSE, method="square", seq_width=1)
    codes = [g.code for g in _grids(jdb, layout.id)]
    assert len(codes) > 9 and codes[8] == "3604030000009" and codes[9] == "3604030000010"
    _community(jdb, "360403001001", box(115.98, 29.70, 116.00, 29.72))  # 12 digits: nothing left to extend into
    with pytest.raises(Invalid, match="more than its 1-digit sequence holds"):
        generate_layout(jdb, JIUJIANG, "360403001001", target_area=10_000, method="square", seq_width=1)


def test_grids_are_drawn_inside_each_drawn_child(jdb) -> None:
    district = to_shape(jdb.scalar(select(Division.geom).where(Division.code == XUNYANG)))
    west = district.intersection(box(115.0, 29.0, 115.99, 30.0))
    child = _community(jdb, "360403001", west.geoms[0] if hasattr(west, "geoms") else west)
    layout = generate_layout(jdb, JIUJIANG, XUNYANG, target_area=COARSE, method="square")
    report = check_layout(jdb, layout.id)
    assert report["ok"] and report["outside_parent"] == report["crossing_divisions"] == 0  # drawn inside the child
    by_division = {g.division_id for g in _grids(jdb, layout.id)}
    assert by_division == {child.id, layout.division_id}  # the child, and the rest of the district
    child_codes = [g.code for g in _grids(jdb, layout.id) if g.division_id == child.id]
    assert all(c.startswith("360403001000") for c in child_codes)
    other = [g.code for g in _grids(jdb, layout.id) if g.division_id != child.id]
    assert all(c.startswith("360403000000") for c in other)  # township digits kept at 000: no collision


def test_roads_method_on_west_oakland_keeps_roads_on_grid_edges(jdb) -> None:
    roads = read_roads(OAKLAND_ROADS, "wgs84")
    epsg = 32610
    metric_roads = [crs.to_metric(r, epsg) for r in roads]
    area = box(*shapely.union_all(metric_roads).bounds).buffer(-100, join_style="mitre")
    jdb.add(City(code="060010", name="Oakland"))
    upsert_division(jdb, "060010", "060010", "West Oakland", "city", MultiPolygon([crs.from_metric(area, epsg)]))
    layout = generate_layout(jdb, "060010", "060010", target_area=10_000, method="roads", roads=roads)
    report = check_layout(jdb, layout.id)
    assert report["ok"], str(report)
    grids = [crs.to_metric(to_shape(g.geom), epsg) for g in _grids(jdb, layout.id)]
    stored = to_shape(jdb.scalar(select(Division.geom).where(Division.code == "060010")))
    blocks = blocks_from_roads(crs.to_metric(shapely.segmentize(stored, SEGMENT_DEG), epsg), metric_roads)
    streets = shapely.union_all([b.boundary for b in blocks])
    crossed = [i for i, g in enumerate(grids) if streets.intersection(g.buffer(-0.05)).length > 1.0]
    # A street may run inside a grid only where a sliver under target/4 was merged across it (gis.split).
    pieces = [p for b in blocks for p in split_large(b, 10_000)]
    holds = np.bincount(shapely.STRtree(grids).query(
        [p.representative_point() for p in pieces], predicate="within")[1], minlength=len(grids))
    assert all(holds[i] >= 2 for i in crossed) and len(crossed) < len(grids) / 4
    assert len(grids) > 200


def _publishable(jdb, target: float = COARSE):
    layout = generate_layout(jdb, JIUJIANG, XUNYANG, target_area=target, method="square")
    return layout, _grids(jdb, layout.id)


def test_a_township_drawn_after_the_grids_is_flagged_where_grids_cross_it(jdb) -> None:
    """Grids drawn for a district before its townships were imported straddle the townships' edges: a case in
    one took the township of the grid's middle, 23 m from where it was; check said ok."""
    layout, grids = _publishable(jdb)
    assert check_layout(jdb, layout.id)["ok"]
    middle = to_shape(grids[len(grids) // 2].geom)
    west, south, east, north = middle.bounds
    cut = box(west + (east - west) / 3, south - 0.02, east + 0.02, north + 0.02)  # through the middle grid
    xunyang = jdb.scalar(select(Division).where(Division.city_code == JIUJIANG, Division.code == XUNYANG))
    township = cut.intersection(to_shape(xunyang.geom))
    upsert_division(jdb, JIUJIANG, "360403001", "甘棠街道（示意）", "township",
                    MultiPolygon([township] if township.geom_type == "Polygon" else list(township.geoms)),
                    parent=xunyang)
    report = check_layout(jdb, layout.id)
    assert not report["ok"] and report["crossing_divisions"] >= 1
    crossed = {c["code"] for c in report["crossing"]}
    assert grids[len(grids) // 2].code in crossed and {c["division"] for c in report["crossing"]} == {"360403001"}
    [item] = [c for c in report["crossing"] if c["code"] == grids[len(grids) // 2].code]
    assert item["area_m2"] == pytest.approx(middle_area_west_of(middle, cut), rel=0.02)  # the part outside it
    with pytest.raises(Invalid, match="grids across a division drawn after them"):
        publish_layout(jdb, layout.id)


def middle_area_west_of(grid, cut) -> float:
    """Geodesic m² of the grid's part outside the cut box."""
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").geometry_area_perimeter(grid.difference(cut))[0])


def test_a_case_in_a_district_drawn_without_townships_is_exported_and_ranked_with_its_district(jdb) -> None:
    """Jiujiang runs by district (no township polygons are public): the export had community, township and city
    columns, so its cases said nothing of where they were."""
    import csv
    import io

    from grids.incident_io import export_cases
    from grids.incidents import open_case
    from grids.models import Category

    layout, grids = _publishable(jdb)
    publish_layout(jdb, layout.id, effective=date(2026, 1, 1))
    major = Category(city_code=JIUJIANG, code="E01", name="市容环境", type="event")
    jdb.add(major)
    jdb.flush()
    minor = Category(city_code=JIUJIANG, code="E0101", name="暴露垃圾", type="event", parent_id=major.id)
    jdb.add(minor)
    jdb.flush()
    middle = to_shape(grids[len(grids) // 2].geom).representative_point()
    case = open_case(jdb, JIUJIANG, minor, middle.x, middle.y, source="test", description="垃圾")
    lianxi = to_shape(jdb.scalar(select(Division.geom).where(Division.code == "360402"))).representative_point()
    ungridded = open_case(jdb, JIUJIANG, minor, lianxi.x, lianxi.y, source="test", description="无网格的区")
    out = io.BytesIO()
    export_cases(jdb, JIUJIANG, "csv", out)
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig")))}
    assert (rows[case.id]["grid_code"], rows[case.id]["township_code"], rows[case.id]["district_code"],
            rows[case.id]["city_code"]) == (grids[len(grids) // 2].code, "", XUNYANG, JIUJIANG)
    assert (rows[ungridded.id]["grid_code"], rows[ungridded.id]["district_code"]) == ("", "360402")  # no grid there
    from grids.incident_io import CaseFilter

    for district, count in ((XUNYANG, 1), ("360402", 1), ("360404", 0)):  # the export split by district
        out = io.BytesIO()
        export_cases(jdb, JIUJIANG, "csv", out, CaseFilter.parse(district=district))
        assert len(out.getvalue().decode("utf-8-sig").strip().splitlines()) == 1 + count
    with pytest.raises(Invalid, match="unknown district 3604"):
        export_cases(jdb, JIUJIANG, "csv", io.BytesIO(), CaseFilter.parse(district="3604"))
    from grids.evaluation import evaluate, parse_period

    ranking = evaluate(jdb, JIUJIANG, parse_period("year", date.today().isoformat()), "district")
    reported = {r.code: r.counts["reported"] for r in ranking}
    assert len(ranking) == 13 and reported[XUNYANG] == reported["360402"] == 1  # ranked by district


def test_a_district_cut_in_two_townships_by_hand_is_drawn_without_its_seams(jdb) -> None:
    """Two townships cut from 浔阳区 along a line leave seams of a fraction of a m² the district's grids were
    drawn in: grids of 0.02 m², some empty, and generation ended in the database's validity traceback."""
    xunyang = jdb.scalar(select(Division).where(Division.city_code == JIUJIANG, Division.code == XUNYANG))
    outline = to_shape(xunyang.geom)
    middle = outline.centroid.x
    west, south, east, north = outline.bounds
    for code, half in (("360403001", box(west - 1, south - 1, middle, north + 1)),
                       ("360403002", box(middle, south - 1, east + 1, north + 1))):
        part = shapely.set_precision(outline.intersection(half), 1e-7)  # as a hand-made file rounds it
        upsert_division(jdb, JIUJIANG, code, code, "township",
                        MultiPolygon(list(getattr(part, "geoms", [part]))), parent=xunyang)
    layout = generate_layout(jdb, JIUJIANG, XUNYANG, target_area=COARSE, method="square")
    grids = _grids(jdb, layout.id)
    assert grids and min(g.area_m2 for g in grids) > 0.1
    assert {jdb.get(Division, g.division_id).code for g in grids} == {"360403001", "360403002"}  # no seam grids


def test_a_townships_layout_is_not_published_over_its_districts(jdb) -> None:
    """Both were left published over the same ground and new cases kept going to the district's grids; the
    preview said the township's layout replaced nothing."""
    district_layout, grids = _publishable(jdb)
    publish_layout(jdb, district_layout.id, effective=date(2026, 1, 1))
    xunyang = jdb.scalar(select(Division).where(Division.city_code == JIUJIANG, Division.code == XUNYANG))
    west, south, east, north = to_shape(xunyang.geom).bounds
    part = to_shape(xunyang.geom).intersection(box(west, south, (west + east) / 2, north))
    upsert_division(jdb, JIUJIANG, "360403001", "甘棠街道（示意）", "township",
                    MultiPolygon(list(getattr(part, "geoms", [part]))), parent=xunyang)
    township_layout = generate_layout(jdb, JIUJIANG, "360403001", target_area=COARSE, method="square")
    for attempt in (publish_impact, publish_layout):
        with pytest.raises(Conflict, match=f"layout {district_layout.id} of 360403 浔阳区 is in force over "
                                           "360403001") as refused:
            attempt(jdb, township_layout.id)
        assert refused.value.code == "layout_over_layout"
    assert township_layout.status == "draft"


def test_publish_is_blocked_by_a_gap_listing_where(jdb) -> None:
    layout, grids = _publishable(jdb)
    hole = grids[len(grids) // 2]
    jdb.execute(delete(Grid).where(Grid.id == hole.id))
    with pytest.raises(Invalid, match="gaps of") as caught:
        publish_layout(jdb, layout.id)
    [gap] = caught.value.details["gaps"]
    assert gap["area_m2"] == pytest.approx(hole.area_m2, rel=1e-3)
    assert to_shape(hole.geom).buffer(1e-6).covers(shape({"type": "Point", "coordinates": gap["location"]}))
    assert layout.status == "draft"


def test_publish_is_blocked_by_an_overlap_listing_the_pair(jdb) -> None:
    layout, grids = _publishable(jdb)
    a, b = grids[len(grids) // 2], grids[len(grids) // 2 + 1]
    grown = to_shape(a.geom).union(to_shape(b.geom).buffer(-0.0005))
    a.geom = from_shape(MultiPolygon([grown]) if grown.geom_type == "Polygon" else grown, srid=4326)
    jdb.flush()
    with pytest.raises(Invalid, match="overlapping pairs") as caught:
        publish_layout(jdb, layout.id)
    pairs = caught.value.details["overlaps"]
    assert [(p["a"], p["b"]) for p in pairs] == [(a.code, b.code)] and pairs[0]["area_m2"] > 0


def test_publish_previews_impact_and_old_cases_keep_their_grid_after_a_redraw(db, demo_city) -> None:
    township = "330781104"  # 诸葛: a stationed squad, an open demo case, and no grids yet in the tests' demo
    first = generate_layout(db, "330781", township, target_area=2_000_000, method="square")
    squad = db.scalar(select(Squad).where(Squad.code == "SQ330781104"))
    assert {g.squad_id for g in _grids(db, first.id)} == {squad.id}  # default: the township's squad
    assert publish_layout(db, first.id, effective=date(2026, 1, 1))["retired"] is None
    case = db.scalar(select(Incident).where(Incident.township_id == squad.township_id).limit(1))
    point = to_shape(case.location)
    old = grid_at(db, "330781", point.x, point.y, on_date=date(2026, 3, 1))
    case.grid_id = old.id
    db.flush()
    second = generate_layout(db, "330781", township, target_area=1_000_000, method="square")
    impact = publish_impact(db, second.id)
    moving = {item["id"]: item for item in impact["open_cases"]["items"]}
    assert impact["replaces"] == first.id and moving[case.id]["old_grid"] == old.code
    assert moving[case.id]["new_grid"] not in (None, old.code)
    published = publish_layout(db, second.id, effective=date(2026, 6, 1))
    assert published["retired"] == first.id and published["impact"]["open_cases"]["count"] >= 1
    db.refresh(case)
    assert case.grid_id == old.id  # never rewritten
    assert grid_at(db, "330781", point.x, point.y, on_date=date(2026, 7, 1)).code == moving[case.id]["new_grid"]
    assert grid_at(db, "330781", point.x, point.y, on_date=date(2026, 3, 1)).id == old.id  # old layout queryable
    with pytest.raises(Conflict):
        publish_layout(db, first.id)


def _city_zone_off_the_servers_date(db) -> tuple[date, date]:
    """Give the demo city a time zone whose date differs from the server's (UTC) date right now, at least an
    hour from either midnight: (the city's date, the server's date)."""
    now = db.scalar(select(func.now())).astimezone(UTC)
    zone = "Etc/GMT-14" if now.hour >= 11 else "Etc/GMT+12"  # UTC+14 / UTC-12 (POSIX names flip the sign)
    db.get(City, "330781").timezone = zone
    db.flush()
    return now.astimezone(ZoneInfo(zone)).date(), now.date()


def test_publishing_without_a_date_takes_effect_on_the_citys_today_not_the_servers(db, demo_city) -> None:
    city_day, server_day = _city_zone_off_the_servers_date(db)
    layout = generate_layout(db, "330781", "330781104", target_area=2_000_000, method="square")
    assert publish_layout(db, layout.id)["effective_from"] == city_day.isoformat() != server_day.isoformat()


def test_reports_land_in_the_layout_in_force_on_the_citys_date(db, demo_city) -> None:
    """A layout effective from the later of the two dates: in force now exactly when the city's date has
    reached it (a server-date lookup would answer the opposite)."""
    city_day, server_day = _city_zone_off_the_servers_date(db)
    layout = generate_layout(db, "330781", "330781104", target_area=2_000_000, method="square")
    effective = max(city_day, server_day)
    publish_layout(db, layout.id, effective=effective)
    point = to_shape(_grids(db, layout.id)[0].geom).representative_point()
    in_force = city_day >= effective
    assert (locate(db, "330781", point.x, point.y).grid is not None) is in_force
    assert (grid_at(db, "330781", point.x, point.y) is not None) is in_force


def test_a_point_on_a_shared_vertex_gets_exactly_the_lowest_code(jdb) -> None:
    layout, grids = _publishable(jdb)
    publish_layout(jdb, layout.id, effective=date(2026, 1, 1))
    middle = grids[len(grids) // 2]
    corner = jdb.execute(text(  # a vertex shared by the most grids (4 for interior squares)
        "SELECT ST_X(p), ST_Y(p), count(*) FROM (SELECT (ST_DumpPoints(geom)).geom AS p FROM grids WHERE id = :id) v "
        "JOIN grids g ON g.layout_id = :l AND ST_Covers(g.geom, v.p) GROUP BY p ORDER BY 3 DESC LIMIT 1"),
        {"id": middle.id, "l": layout.id}).one()
    x, y, covering = corner
    assert covering >= 2
    lowest = jdb.scalar(text("SELECT min(code) FROM grids WHERE layout_id = :l AND "
                             "ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                        {"l": layout.id, "x": x, "y": y})
    assert grid_at(jdb, JIUJIANG, x, y, on_date=date(2026, 2, 1)).code == lowest
    with pytest.raises(Invalid, match="latitude"):
        grid_at(jdb, JIUJIANG, 29.7, 115.9 + 100)


def test_a_point_in_the_hair_between_two_grids_edges_is_still_in_one_grid(jdb) -> None:
    """Two townships' grids are cut separately, so their common edge can be two lines a rounding error apart: a
    point between them was in no grid and went to triage (RELIABILITY 8: on a shared edge, exactly one grid)."""
    layout, grids = _publishable(jdb)
    publish_layout(jdb, layout.id, effective=date(2026, 1, 1))
    west, east, x, y = jdb.execute(text(  # an east neighbour of one grid, and the middle of their common edge
        "SELECT a.id, b.id, ST_X(ST_Centroid(ST_Intersection(a.geom, b.geom))),"
        " ST_Y(ST_Centroid(ST_Intersection(a.geom, b.geom))) FROM grids a JOIN grids b ON b.layout_id = a.layout_id"
        " AND ST_Relate(a.geom, b.geom, 'FF*F1****') AND ST_X(ST_Centroid(b.geom)) > ST_X(ST_Centroid(a.geom))"
        " AND abs(ST_Y(ST_Centroid(b.geom)) - ST_Y(ST_Centroid(a.geom))) < 1e-4"
        " WHERE a.layout_id = :l ORDER BY a.code LIMIT 1"), {"l": layout.id}).one()
    jdb.execute(text("UPDATE grids SET geom = ST_Translate(geom, 1e-11, 0) WHERE id = :id"), {"id": east})
    gap = x + 5e-12
    assert jdb.scalar(text("SELECT count(*) FROM grids WHERE layout_id = :l AND "
                           "ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                      {"l": layout.id, "x": gap, "y": y}) == 0  # the hair: no grid covers the point
    codes = dict(jdb.execute(text("SELECT id, code FROM grids WHERE id IN (:a, :b)"), {"a": west, "b": east}).all())
    assert grid_at(jdb, JIUJIANG, gap, y, on_date=date(2026, 2, 1)).code == min(codes.values())


@pytest.mark.parametrize(("fmt", "name"), [("geojson", "g.geojson"), ("gpkg", "g.gpkg"), ("shp", "g.zip")])
def test_export_round_trips(jdb, tmp_path, fmt, name) -> None:
    layout, grids = _publishable(jdb, target=1_000_000)
    result = export_layout(jdb, layout.id, fmt, tmp_path / name)
    back = read_features(result["path"])
    assert result["count"] == len(back.features) == len(grids)
    assert sorted(f.properties["code"] for f in back.features) == [g.code for g in grids]


def test_assign_sets_squad_and_co_manager_of_the_grids_township_only(db, demo_city) -> None:
    """A grid given to another township's squad or co-manager is refused, naming the grids: its cases would
    have gone to a squad whose township list never shows them (DOMAIN §1: a squad works its own township)."""
    layout = generate_layout(db, "330781", "330781102", target_area=5_000_000, method="square")
    ids = [g.id for g in _grids(db, layout.id)]
    youbu = db.scalar(select(Squad).where(Squad.code == "SQ330781102"))
    manager = db.scalar(select(User.id).where(User.role == "co_manager", User.squad_id == youbu.id).limit(1))
    result = assign_grids(db, ids[:2], squad_id=youbu.id, co_manager_id=manager)
    assert result["assigned"] == 2 and result["without_squad"] == 0
    assert {(g.squad_id, g.co_manager_id) for g in _grids(db, layout.id)[:2]} == {(youbu.id, manager)}
    other = db.scalar(select(Squad).where(Squad.code == "SQ330781104"))
    with pytest.raises(Invalid, match="works in 330781104") as refused:
        assign_grids(db, ids[2:4], squad_id=other.id)
    assert refused.value.code == "outside_township" and refused.value.details["grids"] == [
        g.code for g in _grids(db, layout.id)[2:4]]
    stranger = db.scalar(select(User.id).where(User.role == "co_manager", User.squad_id == other.id).limit(1))
    with pytest.raises(Invalid, match="lie outside it"):
        assign_grids(db, ids[2:4], co_manager_id=stranger)
    assert {(g.squad_id, g.co_manager_id) for g in _grids(db, layout.id)[2:4]} != {(other.id, stranger)}
    with pytest.raises(Invalid, match="not a co-manager"):
        assign_grids(db, ids[:1], co_manager_id=db.scalar(text("SELECT id FROM users WHERE role = 'admin'")))


def test_a_township_without_a_squad_gets_one_stationed_before_its_grids_are_assigned(db, demo_city) -> None:
    """`grids assign` in a township with no squad answered "2 grids assigned" with both still without one; and
    no command stationed a squad, so a city other than the demo could never give its grids an owner."""
    layout = generate_layout(db, "330781", "330781006", target_area=5_000_000, method="square")  # 女埠: no squad
    codes = [g.code for g in _grids(db, layout.id)[:2]]
    with pytest.raises(Invalid, match=f"no squad is stationed in the township of grids {codes[0]}, {codes[1]} "
                                      "yet") as refused:
        assign_by_codes(db, "330781", layout.id, codes)
    assert refused.value.code == "no_squad_stationed"
    with pytest.raises(Conflict, match="has squad SQ330781102 游埠中队 stationed already"):
        station_squad(db, "330781", "SQ2", "第二中队", "330781102")
    with pytest.raises(Invalid, match="330781 兰溪市 is a city: give a township's code; list the townships"):
        station_squad(db, "330781", "SQ2", "第二中队", "330781")
    squad = station_squad(db, "330781", "SQ330781006", "女埠中队", "330781006")
    result = assign_by_codes(db, "330781", layout.id, codes)
    assert result["assigned"] == 2 and result["without_squad"] == 0
    assert {g.squad_id for g in _grids(db, layout.id)[:2]} == {squad.id}
    assert "330781006" not in {d.code for d in townships_without_squad(db, "330781")}
    with pytest.raises(Conflict, match="squad SQ330781006 is stationed in 330781006"):
        station_squad(db, "330781", "SQ330781006", "女埠中队", "330781007")


def test_an_unchanged_copy_previews_no_changes_of_hands(db, demo_city) -> None:
    """A redraw nobody has edited yet moves no case and changes no grid's squad or co-manager: shared edges
    (and their round-off) are not overlaps."""
    from grids.editing import copy_layout_as_draft

    current = db.scalar(select(GridLayout).join(Division, Division.id == GridLayout.division_id).where(
        Division.code == "330781102", GridLayout.status == "published"))
    draft = copy_layout_as_draft(db, current.id)
    assert draft.name.endswith(f" 第{draft.revision}版（由 #{current.id} 复制重绘）")  # shown as stored
    impact = publish_impact(db, draft.id)
    assert impact["replaces"] == current.id
    assert (impact["open_cases"]["count"], impact["assignments"]["count"], impact["frontage_units"]["count"]) == (
        0, 0, 0)
    # the grid holding most of the demo fruit shop's frontage goes to another squad: the shop changes hands
    shop = db.scalar(select(FrontageUnit).where(FrontageUnit.name == "老街水果店"))
    held = db.get(Grid, shop.grid_id)
    redrawn = db.scalar(select(Grid).where(Grid.layout_id == draft.id, Grid.code == held.code))
    redrawn.squad_id = db.scalar(select(Squad.id).where(Squad.id != held.squad_id).limit(1))
    db.flush()
    impact = publish_impact(db, draft.id)
    assert {"id": shop.id, "old_grid": held.code, "new_grid": held.code, "old_squad_id": held.squad_id,
            "new_squad_id": redrawn.squad_id} in impact["frontage_units"]["items"]
    # the duty's line says who answers for the area after, not only before
    assert {"old_grid": held.code, "squad_id": held.squad_id, "co_manager_id": held.co_manager_id,
            "new_grids": [held.code], "new_owners": [[redrawn.squad_id, redrawn.co_manager_id]]
            } in impact["assignments"]["items"]
