"""Redrawing a draft on the demo city: every edit keeps exact coverage, issues fresh codes, and two
planners saving edits to the same revision cannot both win."""

from __future__ import annotations

import threading

import pytest
import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.affinity import translate
from shapely.geometry import LineString, box
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from grids.editing import copy_layout_as_draft, fill_gap, merge_grids, move_shared_edge, split_grid
from grids.errors import Conflict, Invalid
from grids.layouts import generate_layout
from grids.models import Grid, GridCode, GridLayout, ResponsibilityGrid, responsibility_grid_members
from grids.responsibility import create_responsibility_grid

CITY, TOWNSHIP = "330781", "330781102"  # 游埠镇 (示意), ~80 grids at 1 km²
COARSE = 1_000_000


@pytest.fixture()
def db(db: Session, demo_city: dict) -> Session:
    """The rolled-back session, on a database holding the demo city."""
    return db


def _draft(session: Session) -> GridLayout:
    return generate_layout(session, CITY, TOWNSHIP, target_area=COARSE, method="square")


def _coverage(session: Session, layout_id: int) -> tuple[float, float, int, int]:
    """Union area, summed pairwise overlap area (m²), invalid grids and grid count of a layout."""
    union, count, invalid = session.execute(text(
        "SELECT ST_Area(ST_Union(geom)::geography), count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)) "
        "FROM grids WHERE layout_id = :l"), {"l": layout_id}).one()
    overlap = session.scalar(text(
        "SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0) FROM grids a "
        "JOIN grids b ON b.layout_id = a.layout_id AND a.id < b.id AND a.geom && b.geom "
        "WHERE a.layout_id = :l AND ST_Relate(a.geom, b.geom, '2********')"), {"l": layout_id})
    return union, overlap, invalid, count


def _full_squares(session: Session, layout_id: int) -> list[Grid]:
    return session.scalars(select(Grid).where(Grid.layout_id == layout_id, Grid.area_m2 > 0.999 * COARSE)
                           .order_by(Grid.code)).all()


def _pair(session: Session, layout_id: int) -> tuple[Grid, Grid]:
    """Two full squares side by side in one row (west, east)."""
    squares = _full_squares(session, layout_id)
    shapes = {g.id: to_shape(g.geom) for g in squares}
    for west in squares:
        for east in squares:
            edge = shapely.intersection(shapes[west.id].boundary, shapes[east.id].boundary)
            if east.id != west.id and edge.length > 0.005 and shapes[east.id].centroid.x > shapes[west.id].centroid.x \
                    and abs(shapes[east.id].centroid.y - shapes[west.id].centroid.y) < 0.001:
                return west, east
    raise AssertionError("no two full squares side by side")


def _across(geom, fraction: float = 0.5) -> LineString:
    """A west-east line through a grid at `fraction` of its height, sticking out on both sides."""
    minx, miny, maxx, maxy = geom.bounds
    y = miny + fraction * (maxy - miny)
    return LineString([(minx - 0.001, y), (maxx + 0.001, y)])


def _assert_same_coverage(session: Session, layout_id: int, before: float) -> None:
    union, overlap, invalid, _ = _coverage(session, layout_id)
    assert union == pytest.approx(before, rel=1e-4)
    assert overlap < 1e-3 and invalid == 0


def test_split_keeps_coverage_and_hands_out_new_codes(db) -> None:
    layout = _draft(db)
    before, _, _, count = _coverage(db, layout.id)
    grid = _full_squares(db, layout.id)[0]
    old_codes = set(db.scalars(select(Grid.code).where(Grid.layout_id == layout.id)))
    squad = grid.squad_id
    result = split_grid(db, grid.id, _across(to_shape(grid.geom)), layout.revision)
    assert result["check"]["ok"] and result["check"]["count"] == count + 1
    assert result["removed"] == [grid.code] and len(result["created"]) == 2
    assert not set(result["created"]) & old_codes and min(result["created"]) > max(old_codes)
    assert result["revision"] == layout.revision
    _assert_same_coverage(db, layout.id, before)
    new = db.scalars(select(Grid).where(Grid.code.in_(result["created"]), Grid.layout_id == layout.id)).all()
    assert {g.squad_id for g in new} == {squad}
    assert db.scalar(select(func.count()).select_from(GridCode).where(GridCode.code == grid.code)) == 1


def test_merge_joins_neighbours_only(db) -> None:
    layout = _draft(db)
    before, _, _, count = _coverage(db, layout.id)
    west, east = _pair(db, layout.id)
    result = merge_grids(db, [west.id, east.id], layout.revision)
    assert result["check"]["ok"] and result["check"]["count"] == count - 1
    assert sorted(result["removed"]) == sorted([west.code, east.code])
    assert result["created"][0] > max(west.code, east.code)
    _assert_same_coverage(db, layout.id, before)
    merged = db.scalar(select(Grid).where(Grid.layout_id == layout.id, Grid.code == result["created"][0]))
    assert merged.area_m2 == pytest.approx(2 * COARSE, rel=1e-3)
    far = [g for g in _full_squares(db, layout.id)
           if to_shape(g.geom).distance(to_shape(merged.geom)) > 0.02][0]
    with pytest.raises(Invalid) as refused:
        merge_grids(db, [merged.id, far.id], result["revision"])
    assert refused.value.code == "not_neighbours"


def _duty_codes(session: Session, grid_ids) -> set[str]:
    return set(session.scalars(select(ResponsibilityGrid.code).join(responsibility_grid_members).where(
        responsibility_grid_members.c.grid_id.in_(list(grid_ids)))))


def test_split_and_merge_keep_the_grids_duty_areas(db) -> None:
    """A merge of grids in a duty area (责任网格) left the merged grid out of it without a word; the publish
    preview then showed no change of duty areas."""
    layout = _draft(db)
    west, east = _pair(db, layout.id)
    squad_id = west.squad_id
    create_responsibility_grid(db, CITY, "ZR-1", "老街片", "squad", [west.id, east.id], squad_id=squad_id)
    split = split_grid(db, west.id, _across(to_shape(west.geom)), layout.revision)
    pieces = db.scalars(select(Grid.id).where(Grid.layout_id == layout.id, Grid.code.in_(split["created"]))).all()
    assert _duty_codes(db, pieces) == {"ZR-1"} and len(pieces) == 2
    merged = merge_grids(db, [*pieces, east.id], split["revision"])
    grid = db.scalar(select(Grid.id).where(Grid.layout_id == layout.id, Grid.code == merged["created"][0]))
    assert _duty_codes(db, [grid]) == {"ZR-1"}
    outside = next(g for g in _full_squares(db, layout.id)
                   if _duty_codes(db, [g.id]) == set() and to_shape(g.geom).touches(to_shape(
                       db.get(Grid, grid).geom)) and to_shape(g.geom).intersection(to_shape(db.get(Grid, grid).geom))
                   .length > 0.001)
    with pytest.raises(Invalid) as refused:  # the merged grid would leave ZR-1 or stretch it
        merge_grids(db, [grid, outside.id], merged["revision"])
    assert refused.value.code == "different_duty_areas" and refused.value.details == {"areas": ["ZR-1"]}


def test_moving_a_shared_edge_changes_both_neighbours_together(db) -> None:
    layout = _draft(db)
    before, _, _, count = _coverage(db, layout.id)
    west, east = _pair(db, layout.id)
    west_shape, pair_area = to_shape(west.geom), west.area_m2 + east.area_m2
    edge = shapely.intersection(west_shape.boundary, to_shape(east.geom).boundary)
    (x0, y0), (x1, y1) = edge.coords[0], edge.coords[-1]
    stretched = LineString([(x0, y0 - 0.3 * (y1 - y0)), (x1, y1 + 0.3 * (y1 - y0))])
    moved = translate(stretched, xoff=-0.3 * (west_shape.bounds[2] - west_shape.bounds[0]))
    squads = (west.squad_id, east.squad_id)
    result = move_shared_edge(db, west.id, east.id, moved, layout.revision)
    assert result["check"]["ok"] and result["check"]["count"] == count
    # redrawn, so new codes (DOMAIN §2): the old ones kept the code of a shape that no longer is
    assert sorted(result["removed"]) == sorted([west.code, east.code]) and len(result["created"]) == 2
    assert min(result["created"]) > max(west.code, east.code)
    _assert_same_coverage(db, layout.id, before)
    west, east = (db.scalar(select(Grid).where(Grid.layout_id == layout.id, Grid.code == code))
                  for code in result["created"])
    assert (west.squad_id, east.squad_id) == squads
    assert west.area_m2 == pytest.approx(0.7 * COARSE, rel=0.02)
    assert west.area_m2 + east.area_m2 == pytest.approx(pair_area, rel=1e-6)
    ends_inside = LineString([moved.coords[0], moved.interpolate(0.5, normalized=True).coords[0]])
    with pytest.raises(Invalid) as refused:
        move_shared_edge(db, west.id, east.id, ends_inside, result["revision"])
    assert refused.value.code == "bad_edge"


def test_fill_gap_makes_a_new_grid_or_widens_the_neighbour(db) -> None:
    layout = _draft(db)
    before, _, _, count = _coverage(db, layout.id)
    hole = _full_squares(db, layout.id)[5]
    hole_shape = to_shape(hole.geom)
    db.execute(delete(Grid).where(Grid.id == hole.id))
    result = fill_gap(db, layout.id, hole_shape.buffer(0.002).exterior.convex_hull, layout.revision)
    assert result["check"]["ok"] and len(result["created"]) == 1 and result["created"][0] > hole.code
    _assert_same_coverage(db, layout.id, before)

    grid = _full_squares(db, layout.id)[0]
    shape = to_shape(grid.geom)
    minx, miny, maxx, maxy = shape.bounds
    strip = box(minx - 1, miny - 1, minx + 0.05 * (maxx - minx), maxy + 1)  # 5 % of its width, on the west
    grid.geom = from_shape(shapely.MultiPolygon([shape.difference(strip)]), srid=4326)
    db.flush()
    second = fill_gap(db, layout.id, box(*strip.intersection(shape).buffer(0.0005).bounds), result["revision"])
    assert second["check"]["ok"] and not second["created"] and len(second["changed"]) == 1
    assert second["check"]["count"] == count
    _assert_same_coverage(db, layout.id, before)


def test_published_layouts_are_not_edited_but_can_be_copied(db) -> None:
    published = db.scalar(select(GridLayout).where(GridLayout.status == "published").order_by(GridLayout.id))
    grid = db.scalar(select(Grid).where(Grid.layout_id == published.id).limit(1))
    with pytest.raises(Conflict) as refused:
        split_grid(db, grid.id, _across(to_shape(grid.geom)), published.revision)
    assert refused.value.code == "not_draft"
    draft = copy_layout_as_draft(db, published.id)
    codes = lambda lid: set(db.scalars(select(Grid.code).where(Grid.layout_id == lid)))  # noqa: E731
    assert draft.status == "draft" and codes(draft.id) == codes(published.id)


def test_a_stale_revision_is_refused(db) -> None:
    layout = _draft(db)
    grids, seen = _full_squares(db, layout.id), layout.revision  # both planners loaded this revision
    split_grid(db, grids[0].id, _across(to_shape(grids[0].geom)), seen)
    with pytest.raises(Conflict) as stale:
        split_grid(db, grids[1].id, _across(to_shape(grids[1].geom)), seen)
    assert stale.value.code == "stale_revision" and stale.value.status == 409


def test_two_planners_saving_at_once_one_wins(engine, demo_city: dict) -> None:
    with Session(engine) as session, session.begin():
        layout = _draft(session)
        layout_id, revision = layout.id, layout.revision
        grids = [(g.id, _across(to_shape(g.geom))) for g in _full_squares(session, layout.id)[:2]]
        count = session.scalar(select(func.count()).select_from(Grid).where(Grid.layout_id == layout_id))
    start, outcomes = threading.Barrier(2), []

    def planner(grid_id: int, line: LineString) -> None:
        with Session(engine) as session:
            start.wait()
            try:
                split_grid(session, grid_id, line, revision)
                session.commit()
                outcomes.append("saved")
            except Conflict as exc:
                session.rollback()
                outcomes.append(exc.code)

    try:
        threads = [threading.Thread(target=planner, args=g) for g in grids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes) == ["saved", "stale_revision"]
        with Session(engine) as session:
            assert session.get(GridLayout, layout_id).revision == revision + 1
            assert session.scalar(select(func.count()).select_from(Grid)
                                  .where(Grid.layout_id == layout_id)) == count + 1
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(GridLayout).where(GridLayout.id == layout_id))
