"""Parse and check geometry from planners and imports (RELIABILITY items 1-4).

Every rejection is a GeometryProblem carrying a human reason and, when known, the (x, y) where it
happens, so the UI can say "self-intersection at 119.46, 29.21" and draw a marker there.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from gis.crs import area_m2, normalize_crs_name

MAX_VERTICES = 1_000_000
_LOCATION_RE = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)[^\]]*\]")
_GEOJSON_TYPES = (
    "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection",
)


class GeometryProblem(ValueError):
    """Geometry we refuse to store, with the reason and (when known) where the problem is."""

    def __init__(self, reason: str, location: tuple[float, float] | None = None) -> None:
        self.reason = reason
        self.location = location
        where = f" at ({location[0]:.7f}, {location[1]:.7f})" if location else ""
        super().__init__(f"{reason}{where}")


def _polygon_parts(geom: BaseGeometry) -> tuple[list[Polygon], list[BaseGeometry]]:
    """Split a geometry (recursively through collections) into polygons and everything else."""
    if isinstance(geom, Polygon):
        return ([geom] if not geom.is_empty else []), []
    if isinstance(geom, MultiPolygon):
        return [p for p in geom.geoms if not p.is_empty], []
    if hasattr(geom, "geoms"):
        polygons: list[Polygon] = []
        others: list[BaseGeometry] = []
        for part in geom.geoms:
            sub_polygons, sub_others = _polygon_parts(part)
            polygons += sub_polygons
            others += sub_others
        return polygons, others
    return [], ([geom] if not geom.is_empty else [])


def to_polygonal(geom: BaseGeometry | None) -> MultiPolygon:
    """Reduce input to a 2D MultiPolygon, refusing anything that would silently lose content.

    Z/M values are dropped (grids are flat). A GeometryCollection keeps its polygons; its lines or
    points are tolerated only when they lie on those polygons, because otherwise reducing drops them.
    """
    if geom is None or geom.is_empty:
        raise GeometryProblem("empty geometry: expected a polygon")
    flat = shapely.force_2d(geom)
    if not hasattr(flat, "geoms") and not isinstance(flat, Polygon):
        raise GeometryProblem(f"expected a polygon, got {flat.geom_type}")
    polygons, others = _polygon_parts(flat)
    if not polygons:
        raise GeometryProblem(f"expected a polygon, got {flat.geom_type} without polygon parts")
    covered = shapely.union_all(polygons)
    for other in others:
        if not covered.covers(other):
            point = other.representative_point()
            raise GeometryProblem(
                f"{flat.geom_type} contains a {other.geom_type} outside its polygons; "
                "reducing it to a polygon would drop that part",
                (point.x, point.y),
            )
    return MultiPolygon(polygons)


def explain_invalid(geom: BaseGeometry) -> GeometryProblem | None:
    """None for a valid geometry, else the GEOS reason ("Self-intersection") with its location."""
    if shapely.is_valid(geom):
        return None
    text = shapely.is_valid_reason(geom)
    match = _LOCATION_RE.search(text)
    if not match:
        return GeometryProblem(text)
    return GeometryProblem(text[: match.start()].strip(), (float(match.group(1)), float(match.group(2))))


def _check_position(pos: Any) -> tuple[float, float]:
    if not isinstance(pos, list | tuple) or len(pos) < 2:
        raise GeometryProblem(f"a position must be [x, y], got {pos!r}")
    x, y = pos[0], pos[1]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (x, y)):
        raise GeometryProblem(f"a position must hold two finite numbers, got {pos!r}")
    return float(x), float(y)


def _check_positions(coords: Any, minimum: int, what: str) -> None:
    if not isinstance(coords, list | tuple) or len(coords) < minimum:
        count = len(coords) if isinstance(coords, list | tuple) else 0
        where = _check_position(coords[0]) if count else None
        raise GeometryProblem(f"{what} needs at least {minimum} positions, got {count}", where)
    for pos in coords:
        _check_position(pos)


def _check_ring(ring: Any) -> None:
    """GeoJSON (RFC 7946) rings are closed and have >= 4 positions; shapely would silently close them."""
    _check_positions(ring, 4, "a polygon ring")
    first, last = _check_position(ring[0]), _check_position(ring[-1])
    if first != last:
        raise GeometryProblem(
            f"unclosed ring: first position {list(first)} differs from last {list(last)}", first
        )


def _check_polygon_rings(rings: Any) -> None:
    if not isinstance(rings, list | tuple) or not rings:
        raise GeometryProblem("empty polygon: no rings")
    for ring in rings:
        _check_ring(ring)


def _check_structure(obj: Any) -> None:
    """Validate the raw GeoJSON structure so the user hears about the ring, not a GEOS error."""
    if obj is None:
        raise GeometryProblem("null geometry: the feature has no shape")
    if not isinstance(obj, dict) or obj.get("type") not in _GEOJSON_TYPES:
        kind = obj.get("type") if isinstance(obj, dict) else type(obj).__name__
        raise GeometryProblem(f"not a GeoJSON geometry (type {kind!r})")
    kind = obj["type"]
    if kind == "GeometryCollection":
        parts = obj.get("geometries")
        if not isinstance(parts, list) or not parts:
            raise GeometryProblem("empty GeometryCollection")
        for part in parts:
            _check_structure(part)
        return
    coords = obj.get("coordinates")
    if coords is None or (isinstance(coords, list | tuple) and not coords):
        raise GeometryProblem(f"empty {kind}: no coordinates")
    checks = {
        "Point": lambda c: _check_position(c),
        "MultiPoint": lambda c: _check_positions(c, 1, "a MultiPoint"),
        "LineString": lambda c: _check_positions(c, 2, "a LineString"),
        "MultiLineString": lambda c: [_check_positions(line, 2, "a LineString") for line in c],
        "Polygon": _check_polygon_rings,
        "MultiPolygon": lambda c: [_check_polygon_rings(rings) for rings in c],
    }
    checks[kind](coords)


def parse_geojson_geometry(obj: dict | None) -> BaseGeometry | GeometryProblem:
    """Build a shapely geometry from a GeoJSON geometry object, or return the GeometryProblem.

    Returning (not raising) lets a reader record one bad feature and carry on with the rest.
    Structure is checked first because shapely silently closes open rings and reports short rings
    with internal wording.
    """
    try:
        _check_structure(obj)
        return shape(obj)
    except GeometryProblem as problem:
        return problem
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        return GeometryProblem(f"unreadable geometry: {exc}")


def repair(geom: BaseGeometry) -> tuple[MultiPolygon, float, float]:
    """make_valid reduced to polygons, plus geodesic area before and after in m² (lon/lat input).

    Repair only runs when the user asks for it, so they must see what changed. The "before" area of
    an invalid polygon is the ring-formula (shoelace) area that gis.crs.area_m2 computes: for a bow-tie the
    two lobes wind in opposite directions and partly cancel, which is exactly why repair changes it.
    """
    flat = shapely.force_2d(geom)
    before = area_m2(flat)
    polygons, _ = _polygon_parts(shapely.make_valid(flat))
    if not polygons:
        raise GeometryProblem("nothing polygonal is left after repair (the shape has no area)")
    repaired = MultiPolygon(polygons)
    return repaired, before, area_m2(repaired)


def check_in_range(geom: BaseGeometry, crs: str) -> None:
    """Every coordinate must be a finite lon/lat in degrees of the declared CRS (any of gis.crs.CRS_NAMES).

    Catches the common import mistake of Web Mercator metres (EPSG:3857) in a degrees field.
    """
    normalize_crs_name(crs)
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise GeometryProblem("coordinates must be finite numbers (found NaN or infinity)")
    bad = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    if not bad.any():
        return
    x, y = (float(v) for v in coords[np.argmax(bad)])
    if np.abs(coords[bad]).max() > 1000:
        raise GeometryProblem(
            "coordinates look like projected metres (e.g. EPSG:3857), not degrees: "
            "declare the source CRS or reproject", (x, y),
        )
    raise GeometryProblem("coordinate outside longitude -180..180 / latitude -90..90", (x, y))


def count_vertices(geom: BaseGeometry, limit: int = MAX_VERTICES) -> int:
    """Number of vertices; over `limit` is refused early so one upload cannot stall the server."""
    count = int(shapely.get_num_coordinates(geom))
    if count > limit:
        raise GeometryProblem(
            f"geometry has {count:,} vertices, more than the limit of {limit:,}: simplify it"
        )
    return count


def validated_polygon(geom: BaseGeometry | None, crs: str) -> MultiPolygon:
    """The full import check in order: size, polygonal 2D shape, coordinate range, then validity."""
    if geom is not None:
        count_vertices(geom)
    polygonal = to_polygonal(geom)
    check_in_range(polygonal, crs)
    problem = explain_invalid(polygonal)
    if problem:
        raise problem
    return polygonal
