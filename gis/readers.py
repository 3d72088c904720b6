"""Read and write GeoJSON, zipped Shapefile and GeoPackage as plain feature lists (RELIABILITY 2 and 5).

A bad geometry in one feature is recorded on that feature, never raised, so an import can report
"feature 17: unclosed ring" and still show the other rows. Whole-file problems (too big, zip bomb,
unsafe paths, unreadable) raise InputRejected with a message that tells the user what to fix.
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyogrio
import pyogrio.raw
import shapely
from shapely.geometry.base import BaseGeometry

from gis.validate import GeometryProblem, parse_geojson_geometry

MAX_BYTES = 50 * 1024 * 1024
MAX_FEATURES = 100_000
MAX_ZIP_ENTRIES = 1000
MAX_ZIP_UNCOMPRESSED = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100
# Below this size a high compression ratio is harmless (a small padded .dbf can compress very well).
_ZIP_RATIO_FLOOR = 1024 * 1024
_CHUNK = 1024 * 1024
_GEOJSON_SUFFIXES = (".geojson", ".json")
_OGR_SUFFIXES = (".shp", ".gpkg")
_WRITE_DRIVERS = ("GeoJSON", "GPKG", "ESRI Shapefile")


class InputRejected(ValueError):
    """The whole file is refused; the message says what the user should change."""


@dataclass
class Feature:
    """One input row: properties always, geometry or the problem that stopped it being parsed."""

    index: int
    properties: dict
    geometry: BaseGeometry | None
    problem: GeometryProblem | None


@dataclass
class ReadResult:
    """Features plus the CRS the file itself declares (EPSG string or WKT), None when it declares none."""

    features: list[Feature]
    source_crs: str | None


def read_features(
    path: str | Path,
    *,
    max_bytes: int = MAX_BYTES,
    max_features: int = MAX_FEATURES,
    layer: str | None = None,
    encoding: str | None = None,
) -> ReadResult:
    """Read GeoJSON, a zipped Shapefile, a .shp or a GeoPackage, enforcing size limits before parsing.

    `encoding` overrides a Shapefile's missing .cpg (older Chinese data is often GBK without one).
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise InputRejected(
            f"{path.name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit: "
            "split the file or simplify its geometry"
        )
    suffix = path.suffix.lower()
    if suffix in _GEOJSON_SUFFIXES:
        return _read_geojson(path, max_features)
    if suffix in _OGR_SUFFIXES:
        return _read_ogr(path, max_features, layer, encoding)
    if suffix == ".zip":
        with tempfile.TemporaryDirectory(prefix="gridlink-zip-") as tmp:
            dataset = _dataset_in(_safe_extract(path, Path(tmp)))
            if dataset.suffix.lower() in _GEOJSON_SUFFIXES:
                return _read_geojson(dataset, max_features)
            return _read_ogr(dataset, max_features, layer, encoding)
    raise InputRejected(
        f"unsupported file type {suffix or '(none)'}: upload .geojson, a zipped Shapefile (.zip) or .gpkg"
    )


def _check_zip_entries(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse unsafe archives from their directory alone, before a byte is extracted."""
    if len(infos) > MAX_ZIP_ENTRIES:
        raise InputRejected(
            f"the zip holds {len(infos)} entries, more than {MAX_ZIP_ENTRIES}: zip only the layer's files"
        )
    for info in infos:
        name = PurePosixPath(info.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or re.match(r"^[A-Za-z]:", info.filename):
            raise InputRejected(
                f"the zip entry {info.filename!r} points outside the archive: re-create the zip"
            )
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if total > MAX_ZIP_UNCOMPRESSED:
        raise InputRejected(
            f"the zip unpacks to {total / 1e6:.0f} MB, over the {MAX_ZIP_UNCOMPRESSED / 1e6:.0f} MB limit"
        )
    if total > _ZIP_RATIO_FLOOR and total > MAX_ZIP_RATIO * max(packed, 1):
        raise InputRejected(
            f"the zip expands {total / max(packed, 1):.0f}x, more than {MAX_ZIP_RATIO}x: "
            "this looks like a zip bomb, not map data"
        )


def _safe_extract(path: Path, target: Path) -> list[Path]:
    """Extract with a running byte count, since zip headers can lie about sizes."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputRejected(f"{path.name} is not a readable zip file: {exc}") from exc
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        _check_zip_entries(infos)
        written, extracted = 0, []
        for info in infos:
            out = target / PurePosixPath(info.filename.replace("\\", "/"))
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, out.open("wb") as dst:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > MAX_ZIP_UNCOMPRESSED:
                        raise InputRejected("the zip unpacks to more than its headers declare: refused")
                    dst.write(chunk)
            extracted.append(out)
    return extracted


def _dataset_in(files: list[Path]) -> Path:
    """The one readable dataset inside a zip; several would make the import ambiguous."""
    candidates = [
        f for f in files
        if f.suffix.lower() in _OGR_SUFFIXES + _GEOJSON_SUFFIXES and not f.name.startswith(("._", "."))
    ]
    if len(candidates) != 1:
        names = ", ".join(sorted(f.name for f in candidates)) or "none"
        raise InputRejected(f"the zip must hold exactly one .shp, .gpkg or .geojson (found: {names})")
    return candidates[0]


def _declared_crs(obj: dict) -> str | None:
    """The legacy GeoJSON 2008 "crs" member as "EPSG:n" (CRS84 is lon/lat WGS84), else None."""
    name = ((obj.get("crs") or {}).get("properties") or {}).get("name")
    if not isinstance(name, str):
        return None
    if name.upper().endswith("CRS84"):
        return "EPSG:4326"
    match = re.search(r"EPSG:+(\d+)$", name, re.IGNORECASE)
    return f"EPSG:{match.group(1)}" if match else name


def _geojson_rows(obj: Any) -> list[Any]:
    if not isinstance(obj, dict):
        raise InputRejected("the GeoJSON must be an object (FeatureCollection, Feature or geometry)")
    if obj.get("type") == "FeatureCollection":
        rows = obj.get("features")
        if not isinstance(rows, list):
            raise InputRejected('the FeatureCollection has no "features" list')
        return rows
    if obj.get("type") == "Feature":
        return [obj]
    return [{"type": "Feature", "properties": {}, "geometry": obj}]


def _read_geojson(path: Path, max_features: int) -> ReadResult:
    try:
        obj = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputRejected(f"{path.name} is not valid JSON: {exc}") from exc
    rows = _geojson_rows(obj)
    _check_count(len(rows), max_features)
    features = []
    for index, row in enumerate(rows):
        row = row if isinstance(row, dict) else {}
        properties = row.get("properties") if isinstance(row.get("properties"), dict) else {}
        parsed = parse_geojson_geometry(row.get("geometry"))
        problem = parsed if isinstance(parsed, GeometryProblem) else None
        features.append(Feature(index, properties, None if problem else parsed, problem))
    return ReadResult(features, _declared_crs(obj))


def _check_count(count: int, max_features: int) -> None:
    if count > max_features:
        raise InputRejected(
            f"the file holds {count:,} features, more than the limit of {max_features:,}: split it"
        )


def _plain(value: Any) -> Any:
    """numpy scalars -> Python values, and GDAL's NaN for a null number -> None, so rows serialise to JSON."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and value != value else value


def _ogr_geometry(wkb: bytes | None) -> tuple[BaseGeometry | None, GeometryProblem | None]:
    if wkb is None:
        return None, GeometryProblem("null geometry: the feature has no shape")
    try:
        geom = shapely.from_wkb(wkb)
    except shapely.errors.GEOSException as exc:
        return None, GeometryProblem(f"unreadable geometry: {exc}")
    if geom is None or geom.is_empty:
        return None, GeometryProblem("empty geometry")
    return geom, None


def _read_ogr(path: Path, max_features: int, layer: str | None, encoding: str | None) -> ReadResult:
    """Shapefile/GeoPackage through pyogrio's bundled GDAL (no geopandas needed)."""
    try:
        layers = pyogrio.list_layers(path)
        if layer is None and len(layers) > 1:
            names = ", ".join(str(name) for name, _ in layers)
            raise InputRejected(f"{path.name} has several layers ({names}): choose one")
        info = pyogrio.read_info(path, layer=layer, encoding=encoding)
        _check_count(int(info["features"]), max_features)
        meta, _, geometries, field_data = pyogrio.raw.read(
            path, layer=layer, encoding=encoding, force_2d=True
        )
    except pyogrio.errors.DataSourceError as exc:
        raise InputRejected(f"{path.name} could not be read: {exc}") from exc
    names = list(meta["fields"])
    features = []
    for index in range(len(geometries)):
        properties = {name: _plain(column[index]) for name, column in zip(names, field_data, strict=True)}
        geom, problem = _ogr_geometry(geometries[index])
        features.append(Feature(index, properties, geom, problem))
    return ReadResult(features, meta["crs"])


def _column(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """A column type GDAL understands (integers, floats, else text) and its null mask."""
    mask = np.array([v is None for v in values], dtype=bool)
    present = [v for v in values if v is not None]
    numeric = bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    if numeric and all(isinstance(v, int) for v in present):
        return np.array([0 if v is None else v for v in values], dtype=np.int64), mask
    if numeric:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64), mask
    return np.array([None if v is None else str(v) for v in values], dtype=object), mask


def _geometry_type(geometries: list[BaseGeometry]) -> str:
    kinds = {g.geom_type.removeprefix("Multi") for g in geometries}
    return f"Multi{kinds.pop()}" if len(kinds) == 1 else "Unknown"


def write_features(path: str | Path, features: list[tuple[dict, BaseGeometry]], driver: str) -> Path:
    """Write (properties, WGS84 geometry) rows as GeoJSON, GPKG or a zipped Shapefile (path ending .zip).

    Single and multi parts are promoted to multi so one layer has one geometry type, which Shapefile
    requires and desktop GIS handles best.
    """
    if driver not in _WRITE_DRIVERS:
        raise ValueError(f"driver must be one of {', '.join(_WRITE_DRIVERS)}, got {driver!r}")
    path = Path(path)
    if driver == "ESRI Shapefile" and path.suffix.lower() == ".zip":
        return _write_zipped_shapefile(path, features)
    _write_plain(path, features, driver)
    return path


def _write_plain(path: Path, features: list[tuple[dict, BaseGeometry]], driver: str) -> None:
    names = list(dict.fromkeys(key for properties, _ in features for key in properties))
    columns = [_column([properties.get(name) for properties, _ in features]) for name in names]
    geometries = [geom for _, geom in features]
    pyogrio.raw.write(
        path,
        geometry=shapely.to_wkb(geometries),
        field_data=[values for values, _ in columns],
        field_mask=[mask for _, mask in columns],
        fields=names,
        driver=driver,
        geometry_type=_geometry_type(geometries),
        crs="EPSG:4326",
        promote_to_multi=True,
        encoding="UTF-8" if driver == "ESRI Shapefile" else None,
    )


def _write_zipped_shapefile(path: Path, features: list[tuple[dict, BaseGeometry]]) -> Path:
    """Shapefile is several files (.shp .shx .dbf .prj .cpg); users exchange them as one zip."""
    with tempfile.TemporaryDirectory(prefix="gridlink-shp-") as tmp:
        shp = Path(tmp) / f"{path.stem}.shp"
        _write_plain(shp, features, "ESRI Shapefile")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(Path(tmp).iterdir()):
                archive.write(part, part.name)
    return path
