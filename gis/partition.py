"""An illustrative partition of a polygon into n compact parts (Voronoi cells with Lloyd relaxation).

Why: no township polygons of the demo city are public, so the demo draws a plausible partition of the
real outline and labels it illustrative (示意) everywhere it is shown. Deterministic: same input, same cells.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon


def _seed_points(polygon: Polygon | MultiPolygon, n: int) -> np.ndarray:
    """Farthest-point sampling over a regular lattice of interior points: spread out, deterministic."""
    minx, miny, maxx, maxy = polygon.bounds
    xs, ys = np.meshgrid(np.linspace(minx, maxx, 80), np.linspace(miny, maxy, 80))
    lattice = shapely.points(xs.ravel(), ys.ravel())
    inside = np.array([(p.x, p.y) for p in lattice[shapely.contains(polygon, lattice)]])
    chosen = [inside[np.argmin(np.hypot(*(inside - inside.mean(axis=0)).T))]]
    dist = np.hypot(*(inside - chosen[0]).T)
    while len(chosen) < n:
        nxt = inside[np.argmax(dist)]
        chosen.append(nxt)
        dist = np.minimum(dist, np.hypot(*(inside - nxt).T))
    return np.array(chosen)


def _cells(polygon: Polygon | MultiPolygon, seeds: np.ndarray) -> list[MultiPolygon]:
    envelope = shapely.box(*polygon.buffer(polygon.length).bounds)
    regions = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=envelope)
    by_seed = []
    for seed in seeds:
        cell = next(r for r in regions.geoms if r.covers(Point(seed)))
        part = cell.intersection(polygon)
        polys = [g for g in getattr(part, "geoms", [part]) if isinstance(g, Polygon) and not g.is_empty]
        by_seed.append(MultiPolygon(polys))
    return by_seed


def voronoi_partition(polygon: Polygon | MultiPolygon, n: int, rounds: int = 6) -> list[MultiPolygon]:
    """n cells covering the polygon exactly (no gaps, no overlaps), evened out by a few Lloyd rounds."""
    seeds = _seed_points(polygon, n)
    for _ in range(rounds):
        cells = _cells(polygon, seeds)
        seeds = np.array([[c.representative_point().x, c.representative_point().y] if c.is_empty
                          else [c.centroid.x, c.centroid.y] for c in cells])
        seeds = np.array([s if polygon.contains(Point(s)) else np.array(c.representative_point().coords[0])
                          for s, c in zip(seeds, cells, strict=True)])
    return _cells(polygon, seeds)
