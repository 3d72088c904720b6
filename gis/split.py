"""Cut a division into grids along road centre lines (网格 follow streets, so one inspector's beat ends
at a road, not in the middle of a building), then even out sizes.

All inputs are in a metric CRS (see crs.to_metric) so areas and target sizes are square metres.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize

# Relative area tolerance below which a road network is taken to cover the division fully.
_COVERAGE_TOLERANCE = 1e-9
_BISECT_STEPS = 40


def polygons_of(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty Polygon parts of any geometry: overlay results may carry stray lines or points."""
    return [p for p in shapely.get_parts(geom).tolist() if isinstance(p, Polygon) and p.area > 0]


def blocks_from_roads(polygon_metric: BaseGeometry, roads_metric: list[LineString]) -> list[Polygon]:
    """The faces the roads cut the division into; together they cover the division exactly.

    Dead-end roads do not enclose anything, so they end up inside a block. Any area the faces miss
    (it should not happen, but noding is floating-point) is added back as extra pieces.
    """
    clipped = shapely.intersection(np.asarray(roads_metric, dtype=object), polygon_metric)
    linework = shapely.union_all([polygon_metric.boundary, *clipped.tolist()])
    faces = [
        face for face in polygonize(shapely.get_parts(linework).tolist())
        if polygon_metric.contains(face.representative_point())
    ]
    missing = polygon_metric.difference(shapely.union_all(faces)) if faces else polygon_metric
    if missing.area > _COVERAGE_TOLERANCE * polygon_metric.area:
        faces += polygons_of(missing)
    return faces


def _long_axis(block: Polygon) -> np.ndarray:
    """Unit vector along the longer side of the minimum rotated rectangle: cutting across it halves
    the block into compact parts instead of long strips."""
    corners = np.asarray(shapely.oriented_envelope(block).exterior.coords)
    sides = [corners[1] - corners[0], corners[2] - corners[1]]
    longer = max(sides, key=lambda v: float(np.hypot(*v)))
    return longer / np.hypot(*longer)


def _half_plane(origin: np.ndarray, axis: np.ndarray, offset: float, reach: float) -> Polygon:
    """Everything whose projection on `axis` (measured from origin) is below `offset`, within reach."""
    normal = np.array([-axis[1], axis[0]])
    start, stop = origin - axis * reach, origin + axis * offset
    side = normal * reach
    return Polygon([start - side, stop - side, stop + side, start + side])


def _cut(block: Polygon, fraction: float) -> tuple[list[Polygon], list[Polygon]]:
    """Cut across the long axis where the first part holds `fraction` of the area (bisection)."""
    axis = _long_axis(block)
    coords = np.asarray(block.exterior.coords)
    origin = coords.min(axis=0)
    along = (coords - origin) @ axis
    low, high = float(along.min()), float(along.max())
    reach = 2 * (math.dist(*np.asarray(block.bounds).reshape(2, 2)) + abs(low) + abs(high))
    goal = fraction * block.area
    for _ in range(_BISECT_STEPS):
        middle = (low + high) / 2
        if block.intersection(_half_plane(origin, axis, middle, reach)).area < goal:
            low = middle
        else:
            high = middle
    knife = _half_plane(origin, axis, (low + high) / 2, reach)
    return polygons_of(block.intersection(knife)), polygons_of(block.difference(knife))


def _split_into(block: Polygon, parts: int) -> list[Polygon]:
    if parts <= 1:
        return [block]
    first, second = _cut(block, (parts // 2) / parts)
    return [
        piece
        for half, share in ((first, parts // 2), (second, parts - parts // 2))
        for polygon in half
        for piece in _split_into(polygon, max(1, round(share * polygon.area / sum(p.area for p in half))))
    ]


def split_large(block: Polygon, target_area: float) -> list[Polygon]:
    """Split a block over 2x target into round(area/target) near-equal parts; smaller blocks stay whole.

    Recursively cuts across the long side of the minimum rotated rectangle, each cut placed in
    proportion to how many parts each side must hold, so every part ends up close to the target.
    A cut through a concave block can leave a side in several pieces; each gets its share of parts.
    """
    if block.area <= 2 * target_area:
        return [block]
    return _split_into(block, round(block.area / target_area))


def _shared_edge(a: Polygon, b: Polygon) -> float:
    return float(shapely.length(shapely.intersection(a.boundary, b.boundary)))


def merge_slivers(polys: list[Polygon], min_area: float) -> tuple[list[Polygon], list[int]]:
    """Merge every piece smaller than min_area into the neighbour sharing its longest edge.

    Returns the pieces and the indices (into that list) of pieces that absorbed a sliver. Merging
    can join across a road (a sliver on the far side of a street is still too small to be a beat),
    so callers and tests know which grids may contain a road. A sliver with no edge-sharing neighbour
    (an island) stays as it is. Smallest slivers go first so a chain of slivers grows until large.
    """
    current: list[Polygon | None] = list(polys)
    owner = list(range(len(polys)))
    absorbed: set[int] = set()
    tree = shapely.STRtree(polys)

    def find(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    for small in sorted(range(len(polys)), key=lambda i: polys[i].area):
        piece = current[small]
        if piece is None or piece.area >= min_area:
            continue
        neighbours = {find(int(j)) for j in tree.query(piece, predicate="intersects")} - {small}
        ranked = sorted(((_shared_edge(piece, current[n]), n) for n in neighbours), reverse=True)
        for length, target in ranked:
            merged = shapely.union(current[target], piece) if length > 0 else None
            if isinstance(merged, Polygon):
                current[target], current[small], owner[small] = merged, None, target
                absorbed.add(target)
                absorbed.discard(small)
                break
    kept = [i for i, piece in enumerate(current) if piece is not None]
    return [current[i] for i in kept], [n for n, i in enumerate(kept) if i in absorbed]


def road_grids(
    polygon_metric: BaseGeometry, roads_metric: list[LineString], target_area: float
) -> list[Polygon]:
    """The pipeline: blocks between roads, large blocks split, slivers under target/4 merged."""
    blocks = blocks_from_roads(polygon_metric, roads_metric)
    pieces = [piece for block in blocks for piece in split_large(block, target_area)]
    grids, _ = merge_slivers(pieces, target_area / 4)
    return grids
