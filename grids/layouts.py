"""Grid layouts (网格划分): generate a draft, check it in SQL, publish it, look points up, export, assign.

Geometry is made in Python (gis.tiling / gis.split, in the division's UTM zone); every question over
many stored grids (coverage, overlaps, point lookup) is answered by PostGIS with GiST indexes.

Rules an operator can rely on (docs/grids.md):
- Codes: the parent's code right-padded to 12 digits + a `seq_width`-digit sequence, numbered west to
  east, north to south. Past 10^seq_width grids the sequence runs on into the zero padding of levels
  that are not drawn. Every code is recorded in grid_codes and never handed out again.
- Check tolerance: a gap, overlap or part outside the parent smaller than CHECK_TOLERANCE_M2 is
  floating-point round-off, not a problem.
- Point lookup tie-break: a point on a shared edge or vertex belongs to the grid with the lowest code,
  i.e. the one numbered first (the northern one across a horizontal edge, the western across a vertical).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import GeometryCollection, LineString, MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Date,
    ScalarSelect,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from gis.crs import (
    CoordinateError,
    area_m2,
    check_lonlat,
    from_metric,
    geometry_to_wgs84,
    normalize_crs_name,
    to_metric,
    utm_epsg_for,
)
from gis.readers import InputRejected, read_features, write_features
from gis.split import polygons_of, road_grids
from gis.tiling import order_west_east_north_south, square_grid
from grids.divisions import division_by_code
from grids.errors import Conflict, Invalid, NotFound
from grids.frontage_links import relink_units_over
from grids.models import City, Division, Grid, GridCode, GridLayout, Squad, User
from grids.responsibility import carry_over, carry_over_impact, layout_grids_by_code

METHODS = ("square", "roads")
EXPORT_DRIVERS = {"geojson": "GeoJSON", "gpkg": "GPKG", "shp": "ESRI Shapefile"}
CODE_DIGITS = 12
CHECK_TOLERANCE_M2 = 0.1  # m² per place: reprojection round-off of road-cut grids stays below it
#: A part of a division its children leave uncovered that is nowhere this wide is a seam, not ground (_seam).
SEAM_WIDTH_M = 1.0
MAX_LISTED = 100
# Boundaries are densified to ~11 m before projecting: a long straight lon/lat edge is not straight in
# UTM, and without this the grids along it would miss or overshoot the parent by millimetre slivers.
SEGMENT_DEG = 1e-4
SNAP_M = 1e-6  # a neighbour's vertex this close to an edge is on it (T-junction), see _noded
#: A point no grid covers but one lies this close to (about 0.1 mm) is on that grid's edge: grid_in_force.
EDGE_SNAP_DEG = 1e-9
Progress = Callable[[int, int], None]


@dataclass
class Cell:
    """Where grids are drawn: a leaf division, or the part of a parent its drawn children leave uncovered."""

    division: Division
    geom: BaseGeometry


# --- generate ------------------------------------------------------------------------------------
def read_roads(path: Path, crs: str) -> list[LineString]:
    """Road centre lines from a file, in WGS84; any feature that is not a line is refused by index."""
    try:
        result = read_features(path)
        crs = normalize_crs_name(crs)
    except (InputRejected, CoordinateError) as exc:
        raise Invalid(str(exc), code="bad_file") from exc
    lines, bad = [], []
    for feature in result.features:
        parts = shapely.get_parts(feature.geometry).tolist() if feature.geometry is not None else []
        if feature.problem or not parts or not all(isinstance(p, LineString) for p in parts):
            bad.append({"index": feature.index, "reason": str(feature.problem or "not a line")})
            continue
        lines += [geometry_to_wgs84(p, crs) for p in parts]
    if bad:
        raise Invalid(f"{len(bad)} road features are not lines; fix or remove them", code="bad_roads",
                      details={"invalid": bad})
    return lines


def _cells(session: Session, division: Division) -> list[Cell]:
    """Leaf divisions under `division`, plus any remainder its children leave, so grids never cross a child."""
    outline = to_shape(division.geom)
    children = session.scalars(select(Division).where(Division.parent_id == division.id)
                               .order_by(Division.code)).all()
    if not children:
        return [Cell(division, outline)]
    cells = [cell for child in children for cell in _cells(session, child)]
    rest = outline.difference(shapely.union_all([to_shape(c.geom) for c in children]))
    parts = [p for p in polygons_of(rest) if not _seam(p)]
    return cells + ([Cell(division, MultiPolygon(parts))] if parts else [])


def _seam(part: BaseGeometry) -> bool:
    """Whether a part a division's children leave uncovered is only the seam of boundaries drawn apart (a
    township cut from its district by hand, rounded): nowhere SEAM_WIDTH_M wide. Kilometres long, a seam
    has an area of square metres, so its area alone cannot tell it from ground to draw grids in."""
    centre = part.centroid
    return to_metric(part, utm_epsg_for(centre.x, centre.y)).buffer(-SEAM_WIDTH_M / 2).is_empty


def _draw(geom: BaseGeometry, epsg: int, method: str, target_area: float,
          roads_metric: list[LineString]) -> list[MultiPolygon]:
    """Grids of one cell in numbering order, back in WGS84 and valid."""
    metric = to_metric(shapely.segmentize(geom, SEGMENT_DEG), epsg)
    if method == "square":
        pieces = square_grid(metric, target_area)
        order = order_west_east_north_south(pieces, math.sqrt(target_area))
    else:
        pieces = road_grids(metric, roads_metric, target_area)
        order = order_west_east_north_south(pieces)
    noded = _noded([pieces[i] for i in order])
    back = np.asarray(from_metric(GeometryCollection(noded), epsg).geoms, dtype=object)
    grids = [MultiPolygon(polygons_of(g)) for g in _clipped_to(geom, back)]
    # a sliver a boundary's seam left (0.02 m², or nothing once clipped) is no grid: stored, it broke the
    # database's validity check and the generation ended in a traceback
    return [g for g in grids if not g.is_empty and area_m2(g) > CHECK_TOLERANCE_M2]


def _noded(pieces: list[BaseGeometry]) -> list[BaseGeometry]:
    """Give every piece the vertices its neighbours have on its edges (T-junctions from cuts and merges).

    A vertex lying on a neighbour's straight edge in metres is no longer on it after reprojection, which
    opens millimetre gaps and overlaps; with the vertex in both rings the shared edge stays shared.
    """
    shapes = np.asarray(pieces, dtype=object)
    tree = shapely.STRtree(shapes)
    return [shapely.snap(piece, shapely.multipoints(shapely.get_coordinates(shapes[tree.query(piece)])), SNAP_M)
            for piece in pieces]


def _clipped_to(outline: BaseGeometry, grids: np.ndarray) -> np.ndarray:
    """Grids made valid and, along the outline, clipped to it again in WGS84.

    Converting back moves vertices by nanometres, which can make a ring that touches itself invalid;
    GEOS may also snap a clipped vertex by a fraction of a millimetre, enough to poke out of the parent.
    """
    invalid = ~shapely.is_valid(grids)
    grids[invalid] = shapely.make_valid(grids[invalid])
    shapely.prepare(outline)
    edge = ~shapely.contains_properly(outline, grids)
    grids[edge] = shapely.intersection(grids[edge], outline)
    return grids


def _reserved_digits(session: Session, division: Division) -> int:
    """Digits of the next level when children share the code prefix (kept at 000 so codes never collide)."""
    lengths = session.scalars(select(func.length(Division.code)).where(
        Division.parent_id == division.id, Division.code.startswith(division.code))).all()
    return max(lengths, default=len(division.code)) - len(division.code)


def _codes(session: Session, city_code: str, division: Division, count: int, seq_width: int) -> list[str]:
    """`count` fresh codes for grids in `division`, continuing after every code it ever had."""
    prefix = division.code + "0" * _reserved_digits(session, division)
    digits = CODE_DIGITS - len(prefix) + seq_width
    used = session.scalar(select(func.max(GridCode.code)).where(
        GridCode.city_code == city_code, GridCode.code.startswith(prefix),
        func.length(GridCode.code) == len(prefix) + digits))
    start = int(used[len(prefix):]) + 1 if used else 1
    if start + count - 1 >= 10 ** digits:
        raise Invalid(f"division {division.code} would need {count} new grid codes from {start}, more than its "
                      f"{digits}-digit sequence holds; draw its lower levels or use a wider --seq-width",
                      code="codes_exhausted")
    return [prefix + str(start + i).zfill(digits) for i in range(count)]


def _insert_grids(session: Session, layout: GridLayout, division: Division, grids: list[MultiPolygon],
                  codes: list[str]) -> None:
    """One multi-row INSERT per batch with WKB geometry (psycopg2 execute_values), not one per grid."""
    rows = [{"city_code": layout.city_code, "layout_id": layout.id, "code": code, "division_id": division.id,
             "wkb": wkb, "area_m2": area_m2(geom)}
            for code, geom, wkb in zip(codes, grids, shapely.to_wkb(grids), strict=True)]
    if not rows:
        return
    session.execute(insert(Grid.__table__).values(geom=func.ST_GeomFromWKB(bindparam("wkb"), 4326)), rows)
    registry = [{"city_code": layout.city_code, "code": code, "first_layout_id": layout.id} for code in codes]
    session.execute(insert(GridCode.__table__), registry)


def analyse_grids(session: Session) -> None:
    """Fresh planner statistics after a layout's grids are written at once (thousands of rows of a layout id
    the statistics have never seen): the coverage check that follows, run by the editor, took 40% less time
    (1.19 -> 0.72 s for 游埠镇's 8,000 grids) than on the stale ones autovacuum would refresh a minute later."""
    session.execute(text("ANALYZE grids"))


#: How a layout was drawn, as its name says it (names are shown as they are stored: in the city's language).
METHOD_NAMES = {"square": "方格", "roads": "沿道路"}


def _new_layout(session: Session, city_code: str, division: Division, how: str) -> GridLayout:
    """A new draft of the division, named by its revision number and `how` it was drawn, e.g. 游埠镇 第2版（方格）."""
    revision = (session.scalar(select(func.max(GridLayout.revision))
                               .where(GridLayout.division_id == division.id)) or 0) + 1
    layout = GridLayout(city_code=city_code, division_id=division.id, status="draft", revision=revision,
                        name=f"{division.name} 第{revision}版（{how}）")
    session.add(layout)
    session.flush()
    return layout


def generate_layout(session: Session, city_code: str, division_code: str, target_area: float = 10_000,
                    method: str = "roads", roads: Sequence[LineString] | None = None, seq_width: int = 3,
                    progress: Progress | None = None) -> GridLayout:
    """A draft layout covering the division exactly; inside each leaf child where children are drawn.

    `roads` are WGS84 centre lines (method 'roads'); `progress(done, total)` is called per division drawn.
    Grids get the default squad of their township (assign_grids). Flushes, never commits.
    """
    if method not in METHODS:
        raise Invalid(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}", code="bad_method")
    if method == "roads" and not roads:
        raise Invalid("the roads method needs a road file (--roads FILE --roads-crs CRS); without one, cut squares "
                      "with --method square", code="no_roads")
    if target_area <= 0 or not 1 <= seq_width <= 6:
        raise Invalid("target area must be positive and the sequence width 1 to 6 digits", code="bad_option")
    division = division_by_code(session, city_code, division_code)
    centre = to_shape(division.geom).centroid
    epsg = utm_epsg_for(centre.x, centre.y)
    roads_metric = [to_metric(r, epsg) for r in roads or []]
    cells = _cells(session, division)
    layout = _new_layout(session, city_code, division, METHOD_NAMES[method])
    for done, cell in enumerate(cells, start=1):
        grids = _draw(cell.geom, epsg, method, target_area, roads_metric)
        _insert_grids(session, layout, cell.division, grids, _codes(session, city_code, cell.division,
                                                                    len(grids), seq_width))
        if progress:
            progress(done, len(cells))
    assign_grids(session, session.scalars(select(Grid.id).where(Grid.layout_id == layout.id)).all())
    analyse_grids(session)
    return layout


# --- check ---------------------------------------------------------------------------------------
_STATS = text("""
SELECT count(*), min(a), percentile_cont(0.5) WITHIN GROUP (ORDER BY a), max(a), coalesce(sum(a), 0)
FROM (SELECT ST_Area(geom::geography) AS a FROM grids WHERE layout_id = :layout) g""")
_INVALID = text("SELECT code FROM grids WHERE layout_id = :layout AND NOT ST_IsValid(geom) ORDER BY code")
# Interiors meeting (DE-9IM '2********') catches overlaps and a grid inside another; edges only touching do not.
_OVERLAPS = text("""
SELECT ac, bc, ST_Area(i::geography), ST_X(ST_PointOnSurface(i)), ST_Y(ST_PointOnSurface(i)) FROM (
  SELECT a.code AS ac, b.code AS bc, ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS i
  FROM grids a JOIN grids b ON b.layout_id = a.layout_id AND a.geom && b.geom AND a.id < b.id
  WHERE a.layout_id = :layout AND ST_Relate(a.geom, b.geom, '2********')) s
ORDER BY ac, bc""")
_OUTSIDE = text("""
SELECT code, ST_Area(o::geography), ST_X(ST_PointOnSurface(o)), ST_Y(ST_PointOnSurface(o)) FROM (
  SELECT g.code, ST_CollectionExtract(ST_Difference(g.geom, d.geom), 3) AS o
  FROM grids g JOIN divisions d ON d.id = g.division_id
  WHERE g.layout_id = :layout AND NOT ST_Covers(d.geom, g.geom)) s
ORDER BY code""")
# A grid straddling the edge of a division drawn below its own (a township imported after the layout was drawn
# for its district): its cases took the division path of whichever side its point-on-surface fell. The part
# outside that child division is reported.
_CROSSING = text(f"""
SELECT code, child, ST_Area(o::geography), ST_X(ST_PointOnSurface(o)), ST_Y(ST_PointOnSurface(o)) FROM (
  SELECT g.code, c.code AS child, ST_CollectionExtract(ST_Difference(g.geom, c.geom), 3) AS o,
         ST_Area(ST_Intersection(g.geom, c.geom)::geography) AS inside
  FROM grids g JOIN divisions d ON d.id = g.division_id
  JOIN divisions c ON c.city_code = d.city_code AND c.code LIKE d.code || '_%' AND c.geom && g.geom
  WHERE g.layout_id = :layout AND NOT ST_Covers(c.geom, g.geom) AND ST_Relate(c.geom, g.geom, '2********')) s
WHERE inside > {CHECK_TOLERANCE_M2}  -- a grid beside the division, meeting it only by round-off, is no crossing
ORDER BY code, child""")
_PARENT_AREA = text("SELECT ST_Area(geom::geography) FROM divisions WHERE id = :division")
_GAPS = text("""
SELECT ST_Area(p::geography), ST_X(ST_PointOnSurface(p)), ST_Y(ST_PointOnSurface(p)) FROM (
  SELECT (ST_Dump(ST_CollectionExtract(ST_Difference(d.geom, u.geom), 3))).geom AS p
  FROM divisions d, (SELECT ST_Union(geom) AS geom FROM grids WHERE layout_id = :layout) u
  WHERE d.id = :division) s
ORDER BY 1 DESC""")


def _layout(session: Session, layout_id: int) -> GridLayout:
    layout = session.get(GridLayout, layout_id)
    if layout is None:
        raise NotFound(f"no grid layout {layout_id}; generate one with `gridlink grids generate`")
    return layout


def _places(rows: Sequence[Sequence[Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows ending in (area, x, y) above the tolerance, as dicts with a rounded area and a location."""
    return [{**dict(zip(keys, row[:-3], strict=True)), "area_m2": round(row[-3], 3),
             "location": [round(row[-2], 7), round(row[-1], 7)]}
            for row in rows if row[-3] > CHECK_TOLERANCE_M2]


def _gaps(session: Session, layout: GridLayout, total_area: float, overlap: float, outside: float) -> list[dict]:
    """Parent minus the union of grids, computed only when the areas say a gap may exist.

    parent - sum(grids) + overlaps + outside is an upper bound of the gap area, so the expensive union
    runs only for layouts that may have a gap (the slack absorbs rounding in summing 150,000 areas).
    """
    if layout.division_id is None:
        return []
    parent = session.scalar(_PARENT_AREA, {"division": layout.division_id})
    if parent - total_area + overlap + outside <= max(CHECK_TOLERANCE_M2, 1e-9 * parent):
        return []
    return _places(session.execute(_GAPS, {"layout": layout.id, "division": layout.division_id}).all(), ())


def check_layout(session: Session, layout_id: int) -> dict[str, Any]:
    """Count, areas, invalid grids, overlaps, gaps, grids outside their parent and grids across a division below
    it, all computed in SQL."""
    layout = _layout(session, layout_id)
    session.flush()
    session.execute(text("SET LOCAL jit = off"))  # compiling these plans costs seconds and saves none
    params = {"layout": layout.id}
    count, low, median, high, total = session.execute(_STATS, params).one()
    invalid = session.scalars(_INVALID, params).all()
    overlaps = _places(session.execute(_OVERLAPS, params).all(), ("a", "b"))
    outside = _places(session.execute(_OUTSIDE, params).all(), ("code",))
    crossing = _places(session.execute(_CROSSING, params).all(), ("code", "division"))
    overlap_area = sum(o["area_m2"] for o in overlaps)
    outside_area = sum(o["area_m2"] for o in outside)
    gaps = _gaps(session, layout, total, overlap_area, outside_area)
    ok = count > 0 and not invalid and not overlaps and not gaps and not outside and not crossing
    return {"layout": layout.id, "status": layout.status, "count": count,
            "area_m2": {"min": _round(low), "median": _round(median), "max": _round(high)},
            "invalid": len(invalid), "invalid_grids": invalid[:MAX_LISTED],
            "overlap_pairs": len(overlaps), "overlap_area_m2": round(overlap_area, 3),
            "overlaps": overlaps[:MAX_LISTED],
            "gap_area_m2": round(sum(g["area_m2"] for g in gaps), 3), "gaps": gaps[:MAX_LISTED],
            "outside_parent": len(outside), "outside": outside[:MAX_LISTED],
            "crossing_divisions": len(crossing), "crossing": crossing[:MAX_LISTED], "ok": ok}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# --- publish -------------------------------------------------------------------------------------
def _current(session: Session, layout: GridLayout) -> GridLayout | None:
    """The published layout of the same division that publishing `layout` would retire."""
    return session.scalar(select(GridLayout).where(
        GridLayout.city_code == layout.city_code, GridLayout.division_id == layout.division_id,
        GridLayout.status == "published", GridLayout.id != layout.id).order_by(GridLayout.id.desc()).limit(1))


# Open cases and frontage units inside the layout's division whose grid or squad publishing would change: their
# grid now and after publishing. A case's grid is the one covering its point; a unit's, the grid holding most of
# its frontage area (as grids.frontage_links.link_grids picks it; none without an area).
_MOVING = """
SELECT x.id, og.code, ng.code, og.squad_id, ng.squad_id
FROM {table} x
LEFT JOIN grids og ON og.id = x.grid_id
LEFT JOIN LATERAL (SELECT code, squad_id FROM grids WHERE layout_id = :layout AND {new_grid} LIMIT 1) ng ON true
WHERE x.city_code = :city AND {open_filter} AND EXISTS (
    SELECT 1 FROM division_parts p WHERE p.division_id = :division AND ST_Covers(p.geom, x.location))
  AND (og.code IS DISTINCT FROM ng.code OR og.squad_id IS DISTINCT FROM ng.squad_id)
ORDER BY x.id"""
_OPEN_CASES = text(_MOVING.format(table="incidents", open_filter="x.closed_at IS NULL",
                                  new_grid="ST_Covers(geom, x.location) ORDER BY code"))
_FRONTAGE = text(_MOVING.format(table="frontage_units", open_filter="x.status = 'active'",
                                new_grid="ST_Intersects(geom, x.area) AND ST_Area(ST_Intersection(geom, x.area)) > 0 "
                                         "ORDER BY ST_Area(ST_Intersection(geom, x.area)) DESC, id"))
_CHANGED_HANDS = "n.squad_id IS DISTINCT FROM o.squad_id OR n.co_manager_id IS DISTINCT FROM o.co_manager_id"
_ASSIGNMENTS = text(f"""
SELECT o.code, o.squad_id, o.co_manager_id,
       array_agg(n.code ORDER BY n.code) FILTER (WHERE {_CHANGED_HANDS}),
       array_agg(json_build_array(n.squad_id, n.co_manager_id) ORDER BY n.code) FILTER (WHERE {_CHANGED_HANDS})
FROM grids o JOIN grids n ON n.layout_id = :layout AND n.geom && o.geom AND ST_Relate(n.geom, o.geom, '2********')
     AND ST_Area(ST_Intersection(n.geom, o.geom)::geography) > :tolerance  -- a shared edge's round-off is no overlap
WHERE o.layout_id = :old AND (o.squad_id IS NOT NULL OR o.co_manager_id IS NOT NULL)
GROUP BY o.id, o.code, o.squad_id, o.co_manager_id ORDER BY o.code""")


def _moving(session: Session, query: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": id_, "old_grid": old, "new_grid": new, "old_squad_id": old_squad, "new_squad_id": new_squad}
            for id_, old, new, old_squad, new_squad in session.execute(query, params)]


def _refuse_layouts_over_layouts(session: Session, layout: GridLayout) -> None:
    """Conflict when a layout of a division above or below this one's is in force: publishing a township's
    layout while its district's was in force left two published layouts over the same ground, and cases kept
    going to the district's grids (publishing retires only the same division's layout)."""
    mine = session.get(Division, layout.division_id)
    other = session.execute(
        select(GridLayout.id, Division.code, Division.name).join(Division, Division.id == GridLayout.division_id)
        .where(GridLayout.city_code == layout.city_code, GridLayout.status == "published",
               GridLayout.effective_to.is_(None), GridLayout.division_id != layout.division_id,
               or_(Division.code.startswith(mine.code), literal(mine.code).startswith(Division.code)))
        .order_by(GridLayout.id).limit(1)).first()
    if other is not None:
        raise Conflict(f"layout {other.id} of {other.code} {other.name} is in force over {mine.code} {mine.name}: "
                       "publishing this one too would give its ground two grids at every point. Draw the larger "
                       "division again (its grids are drawn inside each division below it) and publish that",
                       code="layout_over_layout", details={"layout": other.id, "division": other.code})


def publish_impact(session: Session, layout_id: int) -> dict[str, Any]:
    """What changes hands if this layout is published: open cases, frontage units, squad/co-manager duties,
    and duty areas (责任网格) whose member grids change when carried over."""
    layout = _layout(session, layout_id)
    session.flush()
    _refuse_layouts_over_layouts(session, layout)
    current = _current(session, layout)
    params = {"layout": layout.id, "city": layout.city_code, "division": layout.division_id}
    cases = _moving(session, _OPEN_CASES, params)
    frontage = _moving(session, _FRONTAGE, params)
    duties = [{"old_grid": code, "squad_id": squad, "co_manager_id": manager, "new_grids": new, "new_owners": owners}
              for code, squad, manager, new, owners in session.execute(
                  _ASSIGNMENTS, {**params, "old": current.id, "tolerance": CHECK_TOLERANCE_M2})
              if new] if current else []
    areas = carry_over_impact(session, current.id, layout.id) if current else []
    return {"layout": layout.id, "replaces": current.id if current else None,
            "open_cases": {"count": len(cases), "items": cases},
            "frontage_units": {"count": len(frontage), "items": frontage},
            "assignments": {"count": len(duties), "items": duties},
            "responsibility": {"count": len(areas), "items": areas}}


def publish_layout(session: Session, layout_id: int, effective: date | None = None) -> dict[str, Any]:
    """Publish a problem-free draft from `effective` (default: the city's today); the division's previous
    layout is retired that day. Cases keep the grid they were filed in: nothing here rewrites their grid_id; duty
    areas (责任网格) move onto the new grids (grids.responsibility.carry_over), and so do the 门前三包 units
    (grids.frontage_links)."""
    layout = _layout(session, layout_id)
    if layout.status != "draft":
        raise Conflict(f"layout {layout.id} is {layout.status}; only a draft can be published", code="not_draft")
    report = check_layout(session, layout.id)
    if not report["ok"]:
        raise Invalid(f"layout {layout.id} cannot be published: {_problem_summary(report)}; fix them and check again "
                      "(`gridlink grids check`)", code="layout_has_problems", details=report)
    effective = effective or city_date(session, layout.city_code)
    impact = publish_impact(session, layout.id)
    current = _current(session, layout)
    if current is not None:
        if current.effective_from and effective < current.effective_from:
            raise Invalid(f"effective date {effective} is before layout {current.id} took effect "
                          f"({current.effective_from})", code="bad_effective_date")
        current.status, current.effective_to = "retired", effective
        carry_over(session, current.id, layout.id)
    layout.status, layout.effective_from = "published", effective
    session.flush()
    relink_units_over(session, layout.id, current.id if current else None)
    return {"layout": layout.id, "effective_from": effective.isoformat(),
            "retired": current.id if current else None, "count": report["count"], "impact": impact}


def _problem_summary(report: dict[str, Any]) -> str:
    parts = [f"{report['invalid']} invalid grids" if report["invalid"] else "",
             f"{report['overlap_pairs']} overlapping pairs ({report['overlap_area_m2']} m²)"
             if report["overlap_pairs"] else "",
             f"gaps of {report['gap_area_m2']} m² at {len(report['gaps'])} places" if report["gaps"] else "",
             f"{report['outside_parent']} grids outside their parent" if report["outside_parent"] else "",
             f"{report['crossing_divisions']} grids across a division drawn after them (redraw them along it)"
             if report["crossing_divisions"] else "",
             "no grids" if not report["count"] else ""]
    return ", ".join(p for p in parts if p)


# --- lookup --------------------------------------------------------------------------------------
def city_today(city_code: Any) -> ScalarSelect[date]:
    """The city's date now, in its own time zone (cities.timezone), as SQL: a layout effective from the 1st
    takes over at midnight in the city, whatever zone the server runs in (on a UTC server, date.today()
    would switch a Chinese city's grids at 08:00)."""
    return (select(cast(func.timezone(City.timezone, func.now()), Date)).where(City.code == city_code)
            .scalar_subquery().correlate(None))


def city_date(session: Session, city_code: str) -> date:
    """The city's date now (city_today), for defaults such as a layout's effective date."""
    return session.scalar(select(city_today(city_code)))


def layout_not_ended(day: Any) -> ColumnElement[bool]:
    """A published layout, or one retired from a day after `day`: it draws grids on `day` or will (a redraw
    published for a later day). The SQL of webapp.tiles and grids.incident_io says the same in text."""
    return GridLayout.status.in_(("published", "retired")) & (
        GridLayout.effective_to.is_(None) | (GridLayout.effective_to > day))


def layout_in_force(day: Any) -> ColumnElement[bool]:
    """A layout whose grids are the city's grids on `day`."""
    return layout_not_ended(day) & (GridLayout.effective_from <= day)


def grid_in_force(city_code: Any, point: Any, day: Any = None) -> ColumnElement[int]:
    """The id of the grid in force on `day` (default: the city's today) covering `point` (lowest code on a
    shared edge), as a subquery of SQL expressions: grids.incidents builds the one statement of a report's
    place from it once."""
    day = city_today(city_code) if day is None else day
    in_force = func.array(select(GridLayout.id).where(  # an array: computed once, never a loop over layouts
        GridLayout.city_code == city_code, layout_in_force(day)).scalar_subquery())

    def first(found: ColumnElement[bool]) -> ScalarSelect[int]:
        # The grids at the point first (one GiST lookup), then the ones of a layout in force. OFFSET 0 keeps
        # PostgreSQL from pushing the layout test into the grid scan: as one scan, a prepared (generic) plan
        # ANDed the GiST hits with every in-force grid's layout_id entry (3 ms per report at 150,000 grids).
        at_point = select(Grid.id, Grid.code, Grid.layout_id).where(Grid.city_code == city_code, found).offset(0)
        hits = at_point.subquery()
        return (select(hits.c.id).where(hits.c.layout_id == any_(in_force))
                .order_by(hits.c.code).limit(1).scalar_subquery())

    # COALESCE asks the second only when the first finds none: a point on the edge two townships' grids share
    # can fall in the hair that rounding leaves between their separately cut edges, covered by neither
    # (RELIABILITY 8: a point on a shared edge is in exactly one grid).
    return func.coalesce(first(func.ST_Covers(Grid.geom, point)),
                         first(func.ST_DWithin(Grid.geom, point, EDGE_SNAP_DEG)))


def grid_at(session: Session, city_code: str, lon: float, lat: float, on_date: date | None = None) -> Grid | None:
    """The grid in force on `on_date` (default: the city's today) covering a WGS84 point; lowest code on a
    shared edge."""
    try:
        check_lonlat(lon, lat)
    except CoordinateError as exc:
        raise Invalid(str(exc), code="bad_coordinates") from exc
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    return session.scalar(select(Grid).where(Grid.id == grid_in_force(city_code, point, on_date)))


# --- export and assign ---------------------------------------------------------------------------
def export_layout(session: Session, layout_id: int, fmt: str, out_path: Path) -> dict[str, Any]:
    """Write a layout's grids (code, division, area, squad, co-manager) as GeoJSON, GeoPackage or Shapefile.

    A Shapefile path ending in .zip gets the usual zipped bundle of .shp/.shx/.dbf/.prj/.cpg.
    """
    if fmt not in EXPORT_DRIVERS:
        raise Invalid(f"unknown format {fmt!r}; choose one of: {', '.join(EXPORT_DRIVERS)}", code="bad_format")
    layout = _layout(session, layout_id)
    rows = session.execute(
        select(Grid.code, Division.code, Grid.area_m2, Squad.code, User.username, Grid.geom)
        .join(Division, Division.id == Grid.division_id).outerjoin(Squad, Squad.id == Grid.squad_id)
        .outerjoin(User, User.id == Grid.co_manager_id).where(Grid.layout_id == layout.id).order_by(Grid.code)).all()
    features = [({"code": code, "division": division, "area_m2": round(area, 1), "squad": squad,
                  "co_manager": manager, "layout": layout.id}, to_shape(geom))
                for code, division, area, squad, manager, geom in rows]
    path = write_features(out_path, features, EXPORT_DRIVERS[fmt])
    return {"layout": layout.id, "format": fmt, "path": str(path), "count": len(features)}


# The squad stationed in the township holding the grid (its point on surface, via the subdivided parts).
#: The township a grid lies in (the one covering a point inside it), as SQL over a grid `g`.
_GRID_TOWNSHIP = """(SELECT t.id FROM division_parts p JOIN divisions t ON t.id = p.division_id AND t.level = 'township'
    WHERE ST_Covers(p.geom, ST_PointOnSurface(g.geom)) ORDER BY t.id LIMIT 1)"""
_DEFAULT_SQUAD = text(f"""
UPDATE grids g SET squad_id = (SELECT s.id FROM squads s WHERE s.township_id = {_GRID_TOWNSHIP} ORDER BY s.id LIMIT 1)
WHERE g.id = ANY(:ids)""")
_IN_NO_TOWNSHIP = text(f"SELECT count(*) FROM grids g WHERE g.id = ANY(:ids) AND {_GRID_TOWNSHIP} IS NULL")
_OUTSIDE_TOWNSHIP = text(f"""
SELECT g.code FROM grids g WHERE g.id = ANY(:ids) AND {_GRID_TOWNSHIP} IS DISTINCT FROM :township ORDER BY g.code""")


def assign_grids(session: Session, grid_ids: Sequence[int], squad_id: int | None = None,
                 co_manager_id: int | None = None) -> dict[str, Any]:
    """Make a squad (default: the one stationed in each grid's township) and optionally a co-manager
    accountable for the grids; returns how many were assigned and which grids still have no squad.

    Both must be of the grids' township (DOMAIN §1: a squad is stationed in its township, its co-managers
    hired by it): a grid given to another township's squad left its cases off every task list there."""
    ids = list(grid_ids)
    if co_manager_id is not None:
        manager = session.get(User, co_manager_id)
        if manager is None or manager.role != "co_manager":
            who = f"{manager.username}'s role is {manager.role}" if manager else f"there is no user {co_manager_id}"
            raise Invalid(f"{who}, not a co-manager: give a co-manager's user name", code="not_co_manager")
        _refuse_outside_township(session, ids, _township_of(session, manager), f"co-manager {manager.username}")
        session.execute(update(Grid).where(Grid.id.in_(ids)).values(co_manager_id=co_manager_id))
    if squad_id is None:
        session.execute(_DEFAULT_SQUAD, {"ids": ids})
    elif (squad := session.get(Squad, squad_id)) is None:
        raise NotFound(f"no squad {squad_id}", code="unknown_squad")
    else:
        _refuse_outside_township(session, ids, squad.township_id, f"squad {squad.code} {squad.name}")
        session.execute(update(Grid).where(Grid.id.in_(ids)).values(squad_id=squad_id))
    session.expire_all()
    unassigned = session.scalars(select(Grid.code).where(Grid.id.in_(ids), Grid.squad_id.is_(None))
                                 .order_by(Grid.code)).all()
    return {"assigned": len(ids), "without_squad": len(unassigned), "without_squad_codes": unassigned[:MAX_LISTED]}


def _township_of(session: Session, user: User) -> int | None:
    """A co-manager's township: their squad's, else the one they are bound to (None: no limit)."""
    squad = session.get(Squad, user.squad_id) if user.squad_id else None
    return squad.township_id if squad is not None else user.township_id


def assignable(session: Session, layout: GridLayout) -> tuple[list[Squad], list[User]]:
    """The squads and active co-managers who may answer for the layout's grids: its township's (all of the
    city's for a layout of the whole city), as assign_grids allows."""
    division = session.get(Division, layout.division_id)
    while division is not None and division.level == "community":
        division = session.get(Division, division.parent_id) if division.parent_id else None
    township = division.id if division is not None and division.level == "township" else None
    squads = session.scalars(select(Squad).where(Squad.city_code == layout.city_code).order_by(Squad.code)).all()
    managers = session.scalars(select(User).where(User.city_code == layout.city_code, User.role == "co_manager",
                                                  User.active).order_by(User.username)).all()
    if township is None:
        return list(squads), list(managers)
    return ([s for s in squads if s.township_id == township],
            [u for u in managers if _township_of(session, u) in (township, None)])


def _refuse_outside_township(session: Session, ids: list[int], township_id: int | None, who: str) -> None:
    if township_id is None:
        return
    outside = session.scalars(_OUTSIDE_TOWNSHIP, {"ids": ids, "township": township_id}).all()
    if outside:
        township = session.get(Division, township_id)
        raise Invalid(f"{who} works in {township.code} {township.name}; grids {', '.join(outside[:MAX_LISTED])} lie "
                      "outside it: assign them to their own township's squad and co-managers",
                      code="outside_township",
                      details={"grids": outside[:MAX_LISTED], "township": f"{township.code} {township.name}"})


def assign_by_codes(session: Session, city_code: str, layout_id: int, codes: Sequence[str] | None = None, *,
                    squad_code: str | None = None, co_manager: str | None = None) -> dict[str, Any]:
    """assign_grids by the names planners use: grid codes (default all), a squad code, a user name. Refused
    when asked for the townships' own squads and none of the grids' townships has one: "N grids assigned"
    with every grid still without a squad read as success."""
    layout = _layout(session, layout_id)
    found = layout_grids_by_code(session, layout.id, codes)
    squad_id = manager_id = None
    if squad_code:
        squad_id = session.scalar(select(Squad.id).where(Squad.city_code == city_code, Squad.code == squad_code))
        if squad_id is None:
            raise NotFound(f"no squad with code {squad_code}; list them with `gridlink squads list`",
                           code="unknown_squad")
    if co_manager:
        manager_id = session.scalar(select(User.id).where(User.city_code == city_code, User.username == co_manager))
        if manager_id is None:
            raise NotFound(f"no user {co_manager}", code="unknown_user")
    result = assign_grids(session, list(found), squad_id=squad_id, co_manager_id=manager_id)
    if found and manager_id is None and squad_id is None and result["without_squad"] == len(found):
        codes_shown = result["without_squad_codes"][:10]
        grids = ", ".join(codes_shown) + (f" and {len(found) - len(codes_shown)} more" if len(found) > 10 else "")
        if session.scalar(_IN_NO_TOWNSHIP, {"ids": list(found)}) == len(found):
            raise Invalid(f"grids {grids} lie in no township, so none was assigned: a squad is stationed in a "
                          "township; import the townships' boundaries (gridlink divisions import FILE --level "
                          "township --parent DISTRICT), station squads in them, then assign again",
                          code="no_township")
        raise Invalid(f"no squad is stationed in the township of grids {grids} yet, so none was assigned: station "
                      "one (gridlink squads add), then assign again", code="no_squad_stationed")
    return result
