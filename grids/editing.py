"""Redrawing a draft layout (网格调整): split, merge, move a shared edge, fill a gap, start a redraw.

Why edits work in WGS84 on the stored coordinates: every vertex a grid shares with its neighbours is kept
exactly as stored, so an edit cannot open a gap or an overlap along an edge it did not touch (projecting
to metres and back would move those vertices by nanometres). A drawn line is straight in lon/lat, which
at the scale of a grid (~100 m) is indistinguishable from straight on the ground.

Rules an operator can rely on (docs/grids.md, "Editing a draft"):
- Only drafts change; every edit quotes the layout revision it was based on and bumps it with a guarded
  UPDATE, so of two planners saving edits to the same revision the second gets Conflict (409).
- Split, merge, moving a shared edge and fill-as-new-grid hand out fresh codes from the code registry
  (grids.layouts._codes); the codes they replace are retired, never reused (DOMAIN §2: a redrawn grid gets a
  new code, so a count by grid code never adds up two different shapes). The two grids of a moved edge keep
  their squad, co-manager and duty areas.
- A grid split or merged keeps its duty areas (责任网格): split pieces are in every duty area the grid was in,
  a merged grid in the one duty area set its grids shared; grids in different duty areas are not merged (the
  merged grid would silently drop out of some, or stretch others over ground they never covered).
- Fill gap: a gap piece smaller than a quarter of the layout's median grid joins the neighbour sharing its
  longest edge (the sliver rule of `generate`); a larger piece becomes a new grid.
- Every edit runs check_layout afterwards and returns its report, so the page can mark what is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split
from sqlalchemy import delete, func, insert, select, true, update
from sqlalchemy.orm import Session

from gis.crs import area_m2
from gis.split import polygons_of
from grids.errors import Conflict, Invalid, NotFound
from grids.layouts import (
    CHECK_TOLERANCE_M2,
    CODE_DIGITS,
    _cells,
    _codes,
    _insert_grids,
    _new_layout,
    analyse_grids,
    assign_grids,
    check_layout,
)
from grids.models import Division, Grid, GridLayout, ResponsibilityGrid, responsibility_grid_members

MIN_PART_M2 = 1.0  # a split or edge move leaving a part this small is a slip of the mouse, not a grid
EDGE_EPS_DEG = 1e-7  # ~1 cm: two grids whose boundaries run this close for a length share an edge
SLIVER_SHARE = 0.25  # of the median grid area: smaller gap pieces join a neighbour (as `generate` does)


# --- shared steps --------------------------------------------------------------------------------
def _claim(session: Session, layout_id: int, expected_revision: int) -> GridLayout:
    """Bump the draft's revision if it is still `expected_revision`, else explain why not.

    The UPDATE takes the row lock first: a second planner's concurrent edit waits, then finds the
    revision moved on and gets Conflict, so exactly one of two edits to the same revision is stored.
    """
    bumped = session.execute(
        update(GridLayout).where(GridLayout.id == layout_id, GridLayout.status == "draft",
                                 GridLayout.revision == expected_revision)
        .values(revision=GridLayout.revision + 1).returning(GridLayout.id)
        .execution_options(synchronize_session=False)).scalar()
    layout = session.get(GridLayout, layout_id)
    if layout is None:
        raise NotFound(f"no grid layout {layout_id}")
    session.refresh(layout)
    if bumped is None:
        if layout.status != "draft":
            raise Conflict(f"layout {layout_id} is {layout.status}; only a draft can be edited "
                           "(copy it as a new draft to redraw it)", code="not_draft")
        raise Conflict(f"layout changed, reload: it is at revision {layout.revision}, the edit was based on "
                       f"{expected_revision}", code="stale_revision", details={"revision": layout.revision})
    return layout


def _grids(session: Session, layout: GridLayout, grid_ids: Sequence[int]) -> list[Grid]:
    """The grids by id, all of them in this layout (an id from another layout is a stale page)."""
    found = session.scalars(select(Grid).where(Grid.id.in_(grid_ids), Grid.layout_id == layout.id)
                            .order_by(Grid.code)).all()
    if len(found) != len(set(grid_ids)):
        raise NotFound(f"layout {layout.id} has no grid {sorted(set(grid_ids) - {g.id for g in found})}; reload",
                       code="unknown_grid")
    return list(found)


def _shape(grid: Grid) -> BaseGeometry:
    return to_shape(grid.geom)


def _tidy(geom: BaseGeometry) -> MultiPolygon:
    """Polygonal parts without the round-off pinholes a union of neighbours can leave along old edges."""
    parts = [Polygon(p.exterior, [r for r in p.interiors if area_m2(Polygon(r)) > CHECK_TOLERANCE_M2])
             for p in polygons_of(geom)]
    return MultiPolygon(parts)


def _shared_edge(a: BaseGeometry, b: BaseGeometry) -> float:
    """Length (degrees) of the boundary two grids have in common; a corner touch counts as zero."""
    return float(shapely.length(shapely.intersection(b.boundary, shapely.buffer(a, EDGE_EPS_DEG))))


def _seq_width(grid: Grid) -> int:
    return len(grid.code) - CODE_DIGITS


def _add(session: Session, layout: GridLayout, division: Division, parts: list[BaseGeometry], seq_width: int,
         like: Grid | None) -> list[str]:
    """Insert `parts` as new grids with fresh codes; they answer to the same squad and co-manager as `like` and
    lie in its duty areas (without one, to the squad stationed in their township, as generated grids do)."""
    geoms = [_tidy(p) for p in parts]
    codes = _codes(session, layout.city_code, division, len(geoms), seq_width)
    _insert_grids(session, layout, division, geoms, codes)
    new = Grid.layout_id == layout.id, Grid.code.in_(codes)
    if like is None:
        assign_grids(session, session.scalars(select(Grid.id).where(*new)).all())
        return codes
    session.execute(update(Grid).where(*new).values(squad_id=like.squad_id, co_manager_id=like.co_manager_id))
    members = responsibility_grid_members.c
    session.execute(insert(responsibility_grid_members).from_select(
        ["responsibility_grid_id", "grid_id"],
        select(members.responsibility_grid_id, Grid.id).join_from(responsibility_grid_members, Grid, true())
        .where(members.grid_id == like.id, *new)))  # each duty area of `like` x each new grid
    return codes


def _same_duty_areas(session: Session, grids: Sequence[Grid]) -> None:
    """Invalid naming the duty areas (责任网格) when the grids are not all in the same ones."""
    members = responsibility_grid_members.c
    rows = session.execute(select(members.grid_id, ResponsibilityGrid.code)
                           .join(ResponsibilityGrid, ResponsibilityGrid.id == members.responsibility_grid_id)
                           .where(members.grid_id.in_([g.id for g in grids]))).all()
    areas = {g.id: frozenset(code for grid_id, code in rows if grid_id == g.id) for g in grids}
    if len(set(areas.values())) > 1:
        named = sorted({code for codes in areas.values() for code in codes})
        raise Invalid(f"grids {', '.join(g.code for g in grids)} lie in different duty areas ({', '.join(named)}): "
                      "merge grids of the same duty areas, or change the duty areas first",
                      code="different_duty_areas", details={"areas": named})


def _remove(session: Session, grids: Sequence[Grid]) -> list[str]:
    """Delete replaced draft grids; their codes stay in the registry, so they are never handed out again."""
    codes = [g.code for g in grids]
    session.execute(delete(Grid).where(Grid.id.in_([g.id for g in grids])))
    return codes


def _reshape(grid: Grid, geom: BaseGeometry) -> None:
    tidy = _tidy(geom)
    grid.geom, grid.area_m2 = from_shape(tidy, srid=4326), area_m2(tidy)


def _outcome(session: Session, layout: GridLayout, *, created: Sequence[str] = (), removed: Sequence[str] = (),
             changed: Sequence[str] = ()) -> dict[str, Any]:
    session.flush()
    session.expire_all()
    return {"layout": layout.id, "revision": layout.revision, "created": list(created), "removed": list(removed),
            "changed": list(changed), "check": check_layout(session, layout.id)}


def _cut(geom: BaseGeometry, line: LineString) -> list[Polygon]:
    """The pieces a line cuts a polygon into, refusing slivers a shaky hand would leave."""
    if not isinstance(line, LineString) or line.is_empty or len(line.coords) < 2:
        raise Invalid("draw a line of at least two points", code="bad_line")
    pieces = polygons_of(split(geom, line))
    tiny = [p for p in pieces if area_m2(p) < MIN_PART_M2]
    if tiny:
        raise Invalid(f"the line would leave a part under {MIN_PART_M2:g} m²; draw it again clear of corners",
                      code="sliver")
    return pieces


# --- edits ---------------------------------------------------------------------------------------
def split_grid(session: Session, grid_id: int, line_wgs84: LineString, expected_revision: int) -> dict[str, Any]:
    """Cut one grid along a drawn line; every piece becomes a grid with a new code, the old squad and the old
    duty areas."""
    grid = session.get(Grid, grid_id)
    if grid is None:
        raise NotFound(f"no grid {grid_id}; reload", code="unknown_grid")
    layout = _claim(session, grid.layout_id, expected_revision)
    pieces = _cut(_shape(grid), line_wgs84)
    if len(pieces) < 2:
        raise Invalid(f"the line does not cross grid {grid.code} from edge to edge", code="line_misses")
    division = session.get(Division, grid.division_id)
    created = _add(session, layout, division, pieces, _seq_width(grid), grid)
    return _outcome(session, layout, created=created, removed=_remove(session, [grid]))


def _connected(shapes: list[BaseGeometry]) -> bool:
    """Whether the grids form one group through shared edges (corners do not join beats)."""
    reached, frontier = {0}, [0]
    while frontier:
        i = frontier.pop()
        for j in range(len(shapes)):
            if j not in reached and _shared_edge(shapes[i], shapes[j]) > EDGE_EPS_DEG:
                reached.add(j)
                frontier.append(j)
    return len(reached) == len(shapes)


def merge_grids(session: Session, grid_ids: Sequence[int], expected_revision: int) -> dict[str, Any]:
    """Join neighbouring grids of one division and the same duty areas into one grid with a new code and the
    largest one's squad."""
    if len(set(grid_ids)) < 2:
        raise Invalid("select at least two neighbouring grids to merge", code="too_few_grids")
    first = session.get(Grid, grid_ids[0])
    if first is None:
        raise NotFound(f"no grid {grid_ids[0]}; reload", code="unknown_grid")
    layout = _claim(session, first.layout_id, expected_revision)
    grids = _grids(session, layout, grid_ids)
    if len({g.division_id for g in grids}) > 1:
        raise Invalid("the grids lie in different divisions; a grid must stay inside one parent",
                      code="different_divisions")
    shapes = [_shape(g) for g in grids]
    if not _connected(shapes):
        raise Invalid(f"grids {', '.join(g.code for g in grids)} do not all share an edge with each other",
                      code="not_neighbours")
    _same_duty_areas(session, grids)
    largest = max(grids, key=lambda g: g.area_m2)
    division = session.get(Division, largest.division_id)
    created = _add(session, layout, division, [shapely.union_all(shapes)], _seq_width(largest), largest)
    return _outcome(session, layout, created=created, removed=_remove(session, grids))


def _assign_pieces(pieces: list[Polygon], a: BaseGeometry, b: BaseGeometry) -> tuple[Polygon, Polygon]:
    """Which of two pieces continues grid a: the pairing that keeps most of each grid's old area."""
    first, second = pieces
    keep = shapely.area(shapely.intersection(first, a)) + shapely.area(shapely.intersection(second, b))
    swap = shapely.area(shapely.intersection(first, b)) + shapely.area(shapely.intersection(second, a))
    return (first, second) if keep >= swap else (second, first)


def move_shared_edge(session: Session, grid_a: int, grid_b: int, new_edge_line_wgs84: LineString,
                     expected_revision: int) -> dict[str, Any]:
    """Redraw the boundary two neighbours share: their union is re-cut along the new line, and the two redrawn
    grids get new codes (each keeping its squad, co-manager and duty areas).

    Editing the pair's union (not two loose polygons) is what keeps them edge to edge: the outline of the
    pair, and so every other neighbour's edge, is untouched. Refused when the line does not cut the union
    into exactly two pieces (it ends inside, leaves and re-enters, or zigzags across).
    """
    first = session.get(Grid, grid_a)
    if first is None:
        raise NotFound(f"no grid {grid_a}; reload", code="unknown_grid")
    layout = _claim(session, first.layout_id, expected_revision)
    if grid_a == grid_b:
        raise Invalid("select two different grids", code="too_few_grids")
    by_id = {g.id: g for g in _grids(session, layout, [grid_a, grid_b])}
    a, b = by_id[grid_a], by_id[grid_b]
    if a.division_id != b.division_id:
        raise Invalid("the grids lie in different divisions: their edge is the division boundary",
                      code="different_divisions")
    shape_a, shape_b = _shape(a), _shape(b)
    if _shared_edge(shape_a, shape_b) <= EDGE_EPS_DEG:
        raise Invalid(f"grids {a.code} and {b.code} do not share an edge", code="not_neighbours")
    pieces = _cut(_tidy(shapely.union(shape_a, shape_b)), new_edge_line_wgs84)
    if len(pieces) != 2:
        raise Invalid(f"the new edge must cross the outline of {a.code} and {b.code} once from side to side "
                      f"(it cuts it into {len(pieces)} pieces)", code="bad_edge")
    division = session.get(Division, a.division_id)
    created = [code for old, piece in zip((a, b), _assign_pieces(pieces, shape_a, shape_b), strict=True)
               for code in _add(session, layout, division, [piece], _seq_width(old), old)]
    return _outcome(session, layout, created=created, removed=_remove(session, [a, b]))


def _gap_pieces(session: Session, layout: GridLayout, polygon: BaseGeometry) -> list[tuple[Division, Polygon]]:
    """The drawn polygon minus the layout's grids, cut to the leaf divisions it falls in."""
    parent = session.get(Division, layout.division_id)
    covered = session.scalars(select(Grid.geom).where(
        Grid.layout_id == layout.id, func.ST_Intersects(Grid.geom, from_shape(polygon, srid=4326)))).all()
    free = polygon.difference(shapely.union_all([to_shape(g) for g in covered])) if covered else polygon
    return [(cell.division, piece) for cell in _cells(session, parent)
            for piece in polygons_of(shapely.intersection(free, cell.geom)) if area_m2(piece) > CHECK_TOLERANCE_M2]


def _neighbour(session: Session, layout: GridLayout, division: Division, piece: Polygon) -> Grid | None:
    """The grid of the same division sharing the longest edge with a gap piece, if any shares one."""
    near = session.scalars(select(Grid).where(
        Grid.layout_id == layout.id, Grid.division_id == division.id,
        func.ST_DWithin(Grid.geom, from_shape(piece, srid=4326), EDGE_EPS_DEG))).all()
    ranked = sorted(((_shared_edge(piece, _shape(g)), g.code, g) for g in near), key=lambda r: r[:2], reverse=True)
    return ranked[0][2] if ranked and ranked[0][0] > EDGE_EPS_DEG else None


def fill_gap(session: Session, layout_id: int, polygon_wgs84: Polygon, expected_revision: int) -> dict[str, Any]:
    """Cover a gap by drawing around it: small pieces join a neighbour, large ones become new grids."""
    if not isinstance(polygon_wgs84, Polygon) or not polygon_wgs84.is_valid or polygon_wgs84.is_empty:
        raise Invalid("draw a simple polygon (its edges must not cross)", code="bad_polygon")
    layout = _claim(session, layout_id, expected_revision)
    pieces = _gap_pieces(session, layout, polygon_wgs84)
    if not pieces:
        raise Invalid("the drawn polygon covers no gap: everything in it already belongs to a grid",
                      code="no_gap")
    median = session.scalar(select(func.percentile_cont(0.5).within_group(Grid.area_m2))
                            .where(Grid.layout_id == layout.id)) or 0
    created, changed = [], []
    for division, piece in pieces:
        neighbour = _neighbour(session, layout, division, piece)
        if neighbour is not None and area_m2(piece) < SLIVER_SHARE * median:
            _reshape(neighbour, shapely.union(_shape(neighbour), piece))
            changed.append(neighbour.code)
            session.flush()
        else:
            like = neighbour or _any_grid(session, layout)
            created += _add(session, layout, division, [piece], _seq_width(like) if like else 3, neighbour)
    return _outcome(session, layout, created=created, changed=changed)


def _any_grid(session: Session, layout: GridLayout) -> Grid | None:
    """A grid whose code tells the layout's sequence width."""
    return session.scalar(select(Grid).where(Grid.layout_id == layout.id).limit(1))


# --- redraw --------------------------------------------------------------------------------------
def copy_layout_as_draft(session: Session, layout_id: int) -> GridLayout:
    """A new draft with the same grids, codes, squads and co-managers, to redraw a published layout.

    Grids nobody edits keep their codes, so cases and reports keep pointing at the same beat names.
    """
    source = session.get(GridLayout, layout_id)
    if source is None:
        raise NotFound(f"no grid layout {layout_id}")
    division = session.get(Division, source.division_id)
    draft = _new_layout(session, source.city_code, division, f"由 #{source.id} 复制重绘")
    columns = ("city_code", "code", "division_id", "geom", "area_m2", "squad_id", "co_manager_id")
    table = Grid.__table__
    session.execute(insert(table).from_select(
        ["layout_id", *columns],
        select(func.cast(draft.id, table.c.layout_id.type), *(table.c[c] for c in columns))
        .where(table.c.layout_id == source.id)))
    analyse_grids(session)
    return draft
