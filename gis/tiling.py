"""Regular square grids clipped to a division, and the numbering order planners expect.

Inputs are in a metric CRS (see crs.to_metric) so the target area is in square metres.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from gis.split import merge_slivers, polygons_of


def _tiles(polygon_metric: BaseGeometry, side: float) -> np.ndarray:
    """Squares covering the bounds, anchored at the top-left corner so rows line up with numbering.

    Edges come from one shared coordinate array, so neighbouring squares share bit-identical edges.
    """
    west, south, east, north = polygon_metric.bounds
    xs = west + side * np.arange(math.ceil((east - west) / side) + 1)
    ys = north - side * np.arange(math.ceil((north - south) / side) + 1)
    left, top = np.meshgrid(xs[:-1], ys[:-1])
    right, bottom = np.meshgrid(xs[1:], ys[1:])
    return shapely.box(left.ravel(), bottom.ravel(), right.ravel(), top.ravel())


def square_grid(polygon_metric: BaseGeometry, target_area: float) -> list[Polygon]:
    """Tile the polygon with squares of side sqrt(target_area), clipped to it.

    Pieces cover the polygon exactly without overlaps; a square cut into several parts by the outline
    gives several grids; pieces under target/4 are merged into the neighbour sharing the longest
    edge (an isolated island stays on its own, however small).
    """
    if target_area <= 0:
        raise ValueError("target_area must be positive (square metres)")
    tiles = _tiles(polygon_metric, math.sqrt(target_area))
    shapely.prepare(polygon_metric)
    touching = tiles[shapely.intersects(polygon_metric, tiles)]
    inside = shapely.contains_properly(polygon_metric, touching)
    clipped = shapely.intersection(touching[~inside], polygon_metric)
    pieces = touching[inside].tolist() + [part for geom in clipped for part in polygons_of(geom)]
    grids, _ = merge_slivers(pieces, target_area / 4)
    return grids


def order_west_east_north_south(polys: list[BaseGeometry], row_height: float | None = None) -> list[int]:
    """Indices in numbering order: rows north to south, west to east within a row (like reading a map).

    A piece's row is the band of height `row_height` (default: the median piece height, i.e. the tile
    side for a square grid) counted down from the northernmost edge that holds its centroid; within a
    row pieces are ordered by centroid x. Ties keep input order, so the numbering is deterministic.
    """
    if not polys:
        return []
    bounds = shapely.bounds(np.asarray(polys, dtype=object))
    height = row_height or float(np.median(bounds[:, 3] - bounds[:, 1]))
    centroids = shapely.get_coordinates(shapely.centroid(np.asarray(polys, dtype=object)))
    rows = np.floor((bounds[:, 3].max() - centroids[:, 1]) / height)
    return [int(i) for i in np.lexsort((centroids[:, 0], rows))]
