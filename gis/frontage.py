"""门前三包 frontage areas: the street space each unit answers for, drawn in a metric CRS.

Rules (DOMAIN.md §5), and how they are drawn here:
- a building's street-facing side is every outside wall edge whose outward perpendicular reaches a road
  centre line within `reach` metres before it meets any building;
- the area runs from that façade out to `max_depth` metres, is cut at the road centre line (OSM has no
  kerbs, so the centre line is the limit the rules give where there is no footway) and never enters a
  building; each façade run is extended sideways by `max_depth` so the gap to a neighbour is covered;
- a gap between neighbours is split at its midpoint and areas never overlap: every point goes to the
  nearest building or fallback unit (a Voronoi partition of their outlines, sampled every `spacing` m);
- several units in one building share its façade: the outline is cut at the midpoints between the
  units' positions along it and each unit takes the street space nearest its stretch;
- fallback for a unit with no building within `snap` metres (or whose building faces no street): a
  rectangle `fallback_width` wide cut from the nearest road centre line toward the unit, up to max_depth
  deep (the unit's distance to the road when closer), then clipped like any other area.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

ROAD_CUT_M = 0.01  # the width of the cut along road centre lines: areas on either side never share a point
TOUCH_M = 0.05  # how close a piece must come to its building to count as in front of it
MIN_PIECE_M2 = 0.5  # slivers smaller than this (left by cuts and sampling) are dropped
_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass
class FrontageArea:
    """One unit's area (possibly empty), the building it belongs to and how it was drawn."""

    unit: int
    geometry: BaseGeometry
    building: int | None
    facade_m: float
    notes: list[str] = field(default_factory=list)


@dataclass
class _Scene:
    """The inputs with their search trees, shared by every step."""

    buildings: np.ndarray
    roads: np.ndarray
    building_tree: shapely.STRtree
    road_tree: shapely.STRtree
    max_depth: float


def _polygon_parts(buildings: Sequence[BaseGeometry]) -> tuple[np.ndarray, np.ndarray]:
    """Every polygon part with its exterior ring counter-clockwise (outside on the right) and its owner."""
    parts, owner = shapely.get_parts(np.asarray(buildings, dtype=object), return_index=True)
    return shapely.orient_polygons(parts, exterior_cw=False), owner


def _first_hit(rays: np.ndarray, starts: np.ndarray, tree: shapely.STRtree, geoms: np.ndarray) -> np.ndarray:
    """Distance from each ray's start to the first geometry of `tree` it meets (inf when none)."""
    ray_idx, geom_idx = tree.query(rays, predicate="intersects")
    first = np.full(len(rays), np.inf)
    if len(ray_idx):
        hits = shapely.intersection(rays[ray_idx], geoms[geom_idx])
        np.minimum.at(first, ray_idx, shapely.distance(starts[ray_idx], hits))
    return first


def street_facades(scene: _Scene, reach: float) -> list[BaseGeometry]:
    """Per building, its street-facing wall edges merged into runs (an empty collection if none)."""
    parts, owner = _polygon_parts(scene.buildings)
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    same = ring[:-1] == ring[1:]
    a, b, edge_owner = coords[:-1][same], coords[1:][same], owner[ring[:-1][same]]
    vec = b - a
    length = np.hypot(vec[:, 0], vec[:, 1])
    keep = length > 1e-6
    a, b, vec, length, edge_owner = a[keep], b[keep], vec[keep], length[keep], edge_owner[keep]
    normal = np.column_stack([vec[:, 1], -vec[:, 0]]) / length[:, None]  # right of a CCW ring = outside
    start = (a + b) / 2 + normal * ROAD_CUT_M
    rays = shapely.linestrings(np.stack([start, start + normal * reach], axis=1))
    starts = shapely.points(start)
    facing = (_first_hit(rays, starts, scene.road_tree, scene.roads)
              < _first_hit(rays, starts, scene.building_tree, scene.buildings))
    edges = shapely.linestrings(np.stack([a, b], axis=1))
    runs: list[BaseGeometry] = [MultiLineString() for _ in scene.buildings]
    for index in np.unique(edge_owner[facing]):
        runs[index] = shapely.line_merge(shapely.multilinestrings(edges[facing & (edge_owner == index)]),
                                         directed=True)
    return runs


def _extended(run: LineString, by: float) -> LineString:
    """The run lengthened at both open ends along its end segments, to reach into gaps beside it."""
    coords = np.asarray(run.coords)
    if run.is_closed or len(coords) < 2:
        return run
    head = coords[0] - by * _unit(coords[1] - coords[0])
    tail = coords[-1] + by * _unit(coords[-1] - coords[-2])
    return LineString(np.vstack([head, coords, tail]))


def _unit(vec: np.ndarray) -> np.ndarray:
    return vec / max(float(np.hypot(*vec)), 1e-12)


def _strip(facade: BaseGeometry, depth: float) -> BaseGeometry:
    """The band `depth` deep on the outside of each façade run (outside = right of a CCW ring)."""
    bands = [shapely.buffer(_extended(run, depth), -depth, single_sided=True, join_style="round")
             for run in shapely.get_parts(facade)]
    return shapely.union_all(bands)


def _clear(region: BaseGeometry, scene: _Scene) -> BaseGeometry:
    """The region minus every building and minus a thin cut along every road centre line."""
    near_buildings = scene.buildings[scene.building_tree.query(region)]
    near_roads = scene.roads[scene.road_tree.query(region)]
    blocked = shapely.union_all(np.concatenate([near_buildings, shapely.buffer(near_roads, ROAD_CUT_M)]))
    return region.difference(blocked)


def _pieces_touching(region: BaseGeometry, anchor: BaseGeometry) -> BaseGeometry:
    """The parts of the region that reach the anchor: what lies beyond a road line is left behind."""
    pieces = shapely.get_parts(region)
    keep = (shapely.distance(pieces, anchor) <= TOUCH_M) & (shapely.area(pieces) >= MIN_PIECE_M2)
    return shapely.union_all(pieces[keep]) if keep.any() else Polygon()


def _piece_nearest(region: BaseGeometry, anchor: BaseGeometry) -> BaseGeometry:
    pieces = shapely.get_parts(region)
    if not len(pieces):
        return Polygon()
    return pieces[int(np.argmin(shapely.distance(pieces, anchor)))]


def nearest_cells(sites: Sequence[BaseGeometry], extent: BaseGeometry, spacing: float = 1.0) -> list[BaseGeometry]:
    """Each site's share of the extent: the points nearer to it than to any other site.

    Why sampled outlines: the exact Voronoi diagram of polygons has curved edges; sampling every
    `spacing` metres puts the split within spacing/2 of the true midpoint, which is what the rule asks.
    Cells are disjoint by construction, so areas cut by them never overlap.
    """
    outlines = [s if s.geom_type == "Point" else
                shapely.segmentize(s.boundary if s.geom_type in _POLYGONAL else s, spacing) for s in sites]
    coords, label = shapely.get_coordinates(np.asarray(outlines, dtype=object), return_index=True)
    coords, first = np.unique(coords, axis=0, return_index=True)
    label = label[first]
    if len(coords) < 2:
        return [extent if i in label else Polygon() for i in range(len(sites))]
    diagram = shapely.voronoi_polygons(shapely.multipoints(coords), extend_to=extent, ordered=True)
    cells = shapely.get_parts(diagram)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(len(sites) + 1))
    return [shapely.coverage_union_all(cells[order[bounds[i]:bounds[i + 1]]]).intersection(extent)
            if bounds[i + 1] > bounds[i] else Polygon() for i in range(len(sites))]


def _fallback_rectangle(point: Point, scene: _Scene, width: float) -> tuple[BaseGeometry, str]:
    """A `width` wide rectangle from the nearest road centre line toward the unit, max_depth deep at most."""
    if not len(scene.roads):
        return Polygon(), "no road to cut a fallback frontage from"
    road = scene.roads[scene.road_tree.query_nearest(point)[0]]
    q = np.asarray(shapely.shortest_line(point, road).coords[1])
    p = np.asarray(point.coords[0])
    distance = float(np.hypot(*(p - q)))
    if distance < 1.0:  # on the road: step off it to the side its nearest stretch leaves on the right
        tangent = _unit(np.asarray(road.interpolate(road.project(Point(q)) + 0.5).coords[0]) - q)
        toward = np.array([tangent[1], -tangent[0]])
        distance = scene.max_depth
    else:
        toward = _unit(p - q)
    depth = min(distance, scene.max_depth)
    side = np.array([-toward[1], toward[0]]) * width / 2
    ring = [q - side, q + side, q + side + toward * depth, q - side + toward * depth]
    return Polygon(ring), f"fallback: cut {depth:.1f} m deep and {width:.0f} m wide from the nearest road"


def _arcs(outline: BaseGeometry, points: list[Point]) -> list[BaseGeometry]:
    """The building outline cut at the midpoints between the units' positions along it, one stretch each."""
    ring = max(shapely.get_parts(outline), key=lambda p: p.area).exterior
    perimeter = ring.length
    positions = np.array([ring.project(p) for p in points])
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    mids = (ordered + np.roll(ordered, -1) + np.r_[np.zeros(len(ordered) - 1), perimeter]) / 2 % perimeter
    arcs: list[BaseGeometry] = [LineString()] * len(points)
    for k, unit in enumerate(order):
        start, end = mids[k - 1], mids[k]
        if ordered[k] == ordered[k - 1] and k > 0:
            continue  # two units at the same spot: the first one keeps the stretch
        arcs[unit] = (substring(ring, start, end) if start < end else
                      shapely.union(substring(ring, start, perimeter), substring(ring, 0, end)))
    return arcs


def _attach(units: Sequence[Point], scene: _Scene, snap: float) -> list[int | None]:
    """The building each unit belongs to: the one containing it or within snap metres, smallest first."""
    unit_idx, building_idx = scene.building_tree.query_nearest(np.asarray(units, dtype=object),
                                                               max_distance=snap, all_matches=True)
    chosen: list[int | None] = [None] * len(units)
    for u, b in zip(unit_idx, building_idx, strict=True):
        current = chosen[u]
        if current is None or scene.buildings[b].area < scene.buildings[current].area:
            chosen[u] = int(b)
    return chosen


def _extent(scene: _Scene, units: Sequence[Point]) -> Polygon:
    everything = np.concatenate([scene.buildings, scene.roads, np.asarray(units, dtype=object)])
    return shapely.box(*shapely.total_bounds(everything)).buffer(scene.max_depth * 4, join_style="mitre")


def frontage_areas(buildings: Sequence[BaseGeometry], roads: Sequence[BaseGeometry], units: Sequence[Point],
                   max_depth: float = 15.0, *, reach: float = 50.0, snap: float = 3.0, spacing: float = 1.0,
                   fallback_width: float = 10.0) -> list[FrontageArea]:
    """The frontage area of every unit (same order as `units`); inputs are valid geometries in metres."""
    building_arr = np.asarray(list(buildings), dtype=object)
    road_arr = np.asarray(list(roads), dtype=object)
    scene = _Scene(building_arr, road_arr, shapely.STRtree(building_arr), shapely.STRtree(road_arr), max_depth)
    home = _attach(units, scene, snap) if len(building_arr) else [None] * len(units)
    facades = street_facades(scene, reach) if len(building_arr) and len(road_arr) else []
    sites = list(building_arr) + [p for p, b in zip(units, home, strict=True) if b is None]
    site_of = _site_indices(home, len(building_arr))
    cells = nearest_cells(sites, _extent(scene, units), spacing)
    results: list[FrontageArea] = [FrontageArea(i, Polygon(), home[i], 0.0) for i in range(len(units))]
    for site, members in _group(site_of).items():
        _draw_site(site, members, units, scene, facades, cells[site], fallback_width, results)
    return results


def _site_indices(home: list[int | None], n_buildings: int) -> list[int]:
    """Buildings are sites 0..n-1; each unit without a building is a site of its own after them."""
    extra = iter(range(n_buildings, n_buildings + home.count(None)))
    return [b if b is not None else next(extra) for b in home]


def _group(site_of: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for unit, site in enumerate(site_of):
        groups.setdefault(site, []).append(unit)
    return groups


def _draw_site(site: int, members: list[int], units: Sequence[Point], scene: _Scene, facades: list[BaseGeometry],
               cell: BaseGeometry, fallback_width: float, results: list[FrontageArea]) -> None:
    """The street space of one building (or one building-less unit), shared among its units."""
    building = results[members[0]].building
    facade = facades[building] if building is not None else MultiLineString()
    notes: list[str] = []
    if not facade.is_empty:
        anchor = scene.buildings[building]
        region = _pieces_touching(_clear(_strip(facade, scene.max_depth), scene).intersection(cell), anchor)
        notes.append(f"building {building}: street-facing side {facade.length:.1f} m")
    else:
        rectangles = [_fallback_rectangle(units[u], scene, fallback_width) for u in members]
        region = shapely.union_all([r for r, _ in rectangles])
        anchor = units[members[0]] if building is None else scene.buildings[building]
        region = _piece_nearest(_clear(region, scene).intersection(cell), anchor)
        notes.append("no building within reach" if building is None
                     else f"building {building} faces no street within reach")
        notes.append(rectangles[0][1])
    shares = [region] if len(members) == 1 else _shares(region, [units[u] for u in members], scene.buildings[building])
    for unit, share in zip(members, shares, strict=True):
        results[unit].geometry = share
        results[unit].facade_m = round(facade.length / len(members), 1)
        results[unit].notes = notes + ([f"façade shared by {len(members)} units"] if len(members) > 1 else []) + (
            ["no street space left for this unit"] if share.is_empty else [])


def _shares(region: BaseGeometry, points: list[Point], building: BaseGeometry) -> list[BaseGeometry]:
    """Split one building's street space among its units by their stretches of its outline."""
    extent = shapely.union(region.envelope, building.envelope).buffer(1.0)
    return [region.intersection(cell) for cell in nearest_cells(_arcs(building, points), extent)]
