"""All coordinate handling: WGS84 / CGCS2000 / GCJ-02 / BD-09 conversion, range checks, metric maths.

Chinese web maps (Amap, Tencent) publish GCJ-02 and Baidu publishes BD-09; GPS and OpenStreetMap use
WGS84. The same street corner differs by 300-600 m between them, so every import and every incoming
point is converted to WGS84 here before it touches a grid.

GCJ-02 (and so BD-09) offsets only exist inside a rough bounding box of China, as in the public
algorithm: points outside it are returned unchanged. CGCS2000 (EPSG:4490) is treated as WGS84: the two
agree to a few centimetres, far below what grid work can notice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

CRS_NAMES = ("wgs84", "cgcs2000", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the public GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
# GCJ-02 offsets are only applied inside this rough box around China (the public algorithm's rule).
_CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)
_INVERSE_TOLERANCE_DEG = 1e-10  # ~0.01 mm: far below any survey precision
_INVERSE_MAX_STEPS = 30

_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs 84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
    "gps": "wgs84", "cgcs2000": "cgcs2000", "cgcs-2000": "cgcs2000", "epsg:4490": "cgcs2000",
    "4490": "cgcs2000", "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
}

_GEOD = pyproj.Geod(ellps="WGS84")


class CoordinateError(ValueError):
    """A coordinate or CRS name the user sent cannot be used; the message says how to fix it."""


def normalize_crs_name(name: str) -> str:
    """Map the spellings users type ("EPSG:4326", "GCJ-02", "BD-09", ...) to one of CRS_NAMES."""
    key = str(name).strip().lower().replace("_", "-")
    if key in _ALIASES:
        return _ALIASES[key]
    raise CoordinateError(
        f"unknown coordinate system {name!r}: use one of {', '.join(CRS_NAMES)} "
        "(EPSG:4326 = wgs84, EPSG:4490 = cgcs2000, GCJ-02 for Amap/Tencent, BD-09 for Baidu)"
    )


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    west, south, east, north = _CHINA_BBOX
    return (lon < west) | (lon > east) | (lat < south) | (lat > north)


def _delta_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _wgs84_to_gcj02_arrays(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The public GCJ-02 forward transform, vectorised; points outside China are returned unchanged."""
    dlat = _delta_lat(lon - 105.0, lat - 35.0)
    dlon = _delta_lon(lon - 105.0, lat - 35.0)
    radlat = np.radians(lat)
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def _invert(forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], lon: np.ndarray,
            lat: np.ndarray, guess_lon: np.ndarray, guess_lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point inverse of a slowly varying offset: x <- x - (forward(x) - target) until below tolerance."""
    for _ in range(_INVERSE_MAX_STEPS):
        flon, flat = forward(guess_lon, guess_lat)
        dlon, dlat = flon - lon, flat - lat
        guess_lon, guess_lat = guess_lon - dlon, guess_lat - dlat
        if np.all(np.abs(dlon) < _INVERSE_TOLERANCE_DEG) and np.all(np.abs(dlat) < _INVERSE_TOLERANCE_DEG):
            break
    return guess_lon, guess_lat


def _gcj02_to_wgs84_arrays(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert GCJ-02 by fixed-point iteration.

    The common one-step inverse leaves 1-2 m of error; iterating x <- x - (f(x) - target) converges to
    sub-millimetre in a few steps because the offset field varies slowly.
    """
    wlon, wlat = _invert(_wgs84_to_gcj02_arrays, lon, lat, lon.copy(), lat.copy())
    outside = _outside_china(lon, lat)
    return np.where(outside, lon, wlon), np.where(outside, lat, wlat)


def _gcj02_to_bd09_arrays(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baidu's public BD-09 forward transform (a small rotation and scale on top of GCJ-02)."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_arrays(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert BD-09 iteratively (the usual closed-form inverse is off by ~1e-6 degrees)."""
    return _invert(_gcj02_to_bd09_arrays, lon, lat, lon - 0.0065, lat - 0.006)


def _arrays_to_wgs84(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert arrays from any of CRS_NAMES to WGS84.

    CGCS2000 (EPSG:4490) and WGS84 agree to a few centimetres, far below what grid work can notice,
    so CGCS2000 is passed through unchanged.
    """
    name = normalize_crs_name(crs)
    if name == "gcj02":
        return _gcj02_to_wgs84_arrays(lon, lat)
    if name == "bd09":
        return _gcj02_to_wgs84_arrays(*_bd09_to_gcj02_arrays(lon, lat))
    return lon, lat


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert one point from `crs` (any spelling normalize_crs_name accepts) to WGS84, after checking it.

    CGCS2000 passes through unchanged (centimetre-level difference); GCJ-02/BD-09 outside China too.
    """
    check_lonlat(lon, lat)
    x, y = _arrays_to_wgs84(np.array([lon], dtype=float), np.array([lat], dtype=float), crs)
    return float(x[0]), float(y[0])


def geometry_to_wgs84(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Convert every vertex of a shapely geometry to WGS84 in one vectorised pass (Z is dropped).

    CGCS2000 passes through unchanged (centimetre-level difference from WGS84).
    """
    name = normalize_crs_name(crs)
    if name in ("wgs84", "cgcs2000"):
        return shapely.force_2d(geom)

    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = _arrays_to_wgs84(coords[:, 0], coords[:, 1], name)
        return np.column_stack([x, y])

    return shapely.transform(geom, convert)


def _arrays_from_wgs84(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert arrays from WGS84 to any of CRS_NAMES (CGCS2000 passes through, see _arrays_to_wgs84)."""
    name = normalize_crs_name(crs)
    if name == "gcj02":
        return _wgs84_to_gcj02_arrays(lon, lat)
    if name == "bd09":
        return _gcj02_to_bd09_arrays(*_wgs84_to_gcj02_arrays(lon, lat))
    return lon, lat


def from_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """One GPS point as `crs` shows it: where Amap/Tencent (gcj02) or Baidu (bd09) put it, the inverse of to_wgs84."""
    x, y = _arrays_from_wgs84(np.array([lon], dtype=float), np.array([lat], dtype=float), crs)
    return float(x[0]), float(y[0])


def geometry_from_wgs84(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Convert a WGS84 geometry to `crs`, e.g. to draw grids on an Amap (GCJ-02) or Baidu basemap."""

    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = _arrays_from_wgs84(coords[:, 0], coords[:, 1], crs)
        return np.column_stack([x, y])

    return shapely.transform(geom, convert)


def check_lonlat(lon: float, lat: float) -> None:
    """Reject coordinates that cannot be a place on Earth, saying which value is wrong."""
    for label, value in (("longitude", lon), ("latitude", lat)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise CoordinateError(f"{label} must be a finite number of degrees, got {value!r}")
    if abs(lat) > 90:
        hint = " (latitude and longitude may be swapped)" if abs(lon) <= 90 else ""
        raise CoordinateError(f"latitude {lat} is outside -90..90{hint}")
    if abs(lon) > 180:
        raise CoordinateError(f"longitude {lon} is outside -180..180")


def looks_swapped(lon: float, lat: float, bbox: tuple[float, float, float, float]) -> bool:
    """True when (lat, lon) falls in bbox (west, south, east, north) but (lon, lat) does not.

    Lets callers answer "latitude and longitude look swapped" instead of "outside the city".
    """
    west, south, east, north = bbox

    def inside(x: float, y: float) -> bool:
        return west <= x <= east and south <= y <= north

    return inside(lat, lon) and not inside(lon, lat)


def utm_epsg_for(lon: float, lat: float) -> int:
    """EPSG code of the UTM zone containing the point (326xx north, 327xx south): metres, low distortion."""
    check_lonlat(lon, lat)
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def area_m2(geom_wgs84: BaseGeometry) -> float:
    """Geodesic area in square metres on the WGS84 ellipsoid: exact regardless of zone or latitude.

    Rings are oriented first because pyproj sums signed ring areas: a clockwise part or an unoriented
    hole would otherwise cancel or add area instead of subtracting it.
    """
    oriented = shapely.orient_polygons(shapely.force_2d(geom_wgs84), exterior_cw=False)
    area, _ = _GEOD.geometry_area_perimeter(oriented)
    return abs(area)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance in metres between two WGS84 points."""
    return abs(_GEOD.inv(lon1, lat1, lon2, lat2)[2])


@lru_cache(maxsize=64)
def _transformer(source: int, target: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _reproject(geom: BaseGeometry, source: int, target: int) -> BaseGeometry:
    transformer = _transformer(source, target)

    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, convert)


def to_metric(geom: BaseGeometry, epsg: int) -> BaseGeometry:
    """WGS84 lon/lat -> a metric CRS (usually utm_epsg_for), for tiling and splitting in metres."""
    return _reproject(geom, 4326, epsg)


def from_metric(geom: BaseGeometry, epsg: int) -> BaseGeometry:
    """Metric CRS -> WGS84 lon/lat, the inverse of to_metric."""
    return _reproject(geom, epsg, 4326)
