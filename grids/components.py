"""The component register (部件): public facilities by their 16-digit code, with who owns and maintains them.

Why a register: a case about a component goes to its maintainer first (DOMAIN 3), and a reporter who reads
the code off a manhole cover or a lamp post names the thing exactly. A code is 6-digit district + 2-digit
major class + 2-digit minor class + 6-digit serial; where the catalog's class codes carry those digits
(C0101 = major 01, minor 01) the code must agree with its class.

Imports are all or nothing: every bad row is listed with all its reasons, so the file is fixed in one go;
a good file is upserted by code in batches, so importing it again changes nothing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import Float, Integer, cast, func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session, aliased

from gis.crs import CoordinateError, to_wgs84
from gis.readers import InputRejected, read_features
from grids.divisions import city_outline, known_city, known_crs
from grids.errors import Invalid
from grids.models import Category, Component, Department, Division, DivisionPart

CODE_RE = re.compile(r"[0-9]{16}")
# The major + minor class digits at the start of a class code (C0101 -> 0101); classes coded otherwise
# (a city's own scheme) are not compared with the component code.
CLASS_DIGITS_RE = re.compile(r"[A-Za-z]*([0-9]{4})")
STATUS_WORDS = {"": "in_use", "in_use": "in_use", "damaged": "damaged", "removed": "removed",
                "在用": "in_use", "完好": "in_use", "损坏": "damaged", "破损": "damaged", "拆除": "removed",
                "已拆除": "removed"}
TEXT_LIMITS = {"name": 200, "owner": 200, "address": 300}
CSV_COLUMNS = ("code", "category", "lon", "lat")  # required; name, owner, maintainer, status, address optional
BATCH = 1000
SUGGEST_WITHIN_M = 10.0
# Metres in a degree of longitude at 60° latitude, the least a degree spans in any Chinese city: a bounding
# box of within_m / this in degrees always holds the circle, so the GiST index can prefilter.
MIN_METRES_PER_DEGREE = 55_000.0
UPDATABLE = ("category_id", "name", "owner_name", "maintainer_id", "status", "address", "location")


@dataclass
class InputRow:
    """One row of an import file as read: its number for messages, its text values, its coordinates."""

    row: int
    values: dict[str, str]
    lon: float | None
    lat: float | None
    problem: str | None = None


def component_by_code(session: Session, city_code: str, code: str) -> Component:
    """The registered component with this code, or Invalid (422) saying how to find the right code."""
    code = code.strip()
    if not CODE_RE.fullmatch(code):
        raise Invalid(f"component code {code!r} is not 16 digits (6 district + 2 major + 2 minor class + "
                      "6 serial); copy it from the component's plate or `gridlink components list`",
                      code="unknown_component")
    component = session.scalar(select(Component).where(Component.city_code == city_code, Component.code == code))
    if component is None:
        raise Invalid(f"no component {code} in the register of city {city_code}: check the code on its plate, "
                      "leave it out and send coordinates, or register it with `gridlink components import`",
                      code="unknown_component")
    return component


def nearest_component(session: Session, city_code: str, category_id: int, point: Point,
                      within_m: float = SUGGEST_WITHIN_M) -> dict[str, Any] | None:
    """The component of this class nearest the point within `within_m` metres, to suggest to a reporter."""
    here = func.ST_GeomFromEWKB(from_shape(point, srid=4326))
    metres = func.ST_Distance(func.geography(Component.location), func.geography(here))
    row = session.execute(
        select(Component.code, Component.name, metres.label("metres"))
        .where(Component.city_code == city_code, Component.category_id == category_id,
               Component.status != "removed",
               func.ST_DWithin(Component.location, here, within_m / MIN_METRES_PER_DEGREE), metres <= within_m)
        .order_by(metres).limit(1)).first()
    return {"code": row.code, "name": row.name, "distance_m": round(row.metres, 1)} if row else None


def list_components(session: Session, city_code: str) -> list[dict[str, Any]]:
    """The register in code order, each component with its class, maintainer and WGS84 position."""
    known_city(session, city_code)
    maintainer = aliased(Department)
    rows = session.execute(
        select(Component, Category.code.label("category"), maintainer.code.label("maintainer"),
               func.ST_X(Component.location).label("lon"), func.ST_Y(Component.location).label("lat"))
        .join(Category, Component.category_id == Category.id)
        .outerjoin(maintainer, Component.maintainer_id == maintainer.id)
        .where(Component.city_code == city_code).order_by(Component.code))
    return [{"code": r.Component.code, "category": r.category, "name": r.Component.name,
             "owner": r.Component.owner_name, "maintainer": r.maintainer, "status": r.Component.status,
             "address": r.Component.address, "lon": r.lon, "lat": r.lat} for r in rows]


# --- reading ---------------------------------------------------------------------------------------
def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _read_csv(path: Path) -> list[InputRow]:
    """CSV rows numbered as a spreadsheet shows them (the header is row 1)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise Invalid(f"{path.name}: missing columns {', '.join(missing)}; the columns are code, category, "
                          "name, owner, maintainer, status, lon, lat, address", code="bad_file")
        rows = []
        for number, values in enumerate(reader, start=2):
            clean = {k.strip(): (v or "").strip() for k, v in values.items() if k}
            lon, lat = _number(clean.get("lon")), _number(clean.get("lat"))
            problem = None if lon is not None and lat is not None else \
                f"lon and lat must be numbers, got ({clean.get('lon')!r}, {clean.get('lat')!r})"
            rows.append(InputRow(number, clean, lon, lat, problem))
    return rows


def _read_geojson(path: Path) -> list[InputRow]:
    """Point features numbered from 1, their properties named like the CSV columns."""
    try:
        features = read_features(path).features
    except InputRejected as exc:
        raise Invalid(f"{path.name}: {exc}", code="bad_file") from exc
    rows = []
    for feature in features:
        values = {k: "" if v is None else str(v).strip() for k, v in feature.properties.items()}
        geom = feature.geometry
        if feature.problem or geom is None or geom.geom_type != "Point":
            problem = str(feature.problem) if feature.problem else "the geometry must be a Point"
            rows.append(InputRow(feature.index + 1, values, None, None, problem))
        else:
            rows.append(InputRow(feature.index + 1, values, geom.x, geom.y))
    return rows


def read_component_file(path: Path) -> list[InputRow]:
    """A register file: CSV with lon/lat columns, or GeoJSON points (.geojson, .json)."""
    path = Path(path)
    try:
        return _read_csv(path) if path.suffix.lower() == ".csv" else _read_geojson(path)
    except UnicodeDecodeError as exc:
        raise Invalid(f"{path.name} is not UTF-8 text (byte {exc.start}: {exc.reason}; GBK, say): save it as UTF-8 "
                      "(Excel: CSV UTF-8) and import again", code="bad_file") from exc


# --- checking --------------------------------------------------------------------------------------
@dataclass
class _Lookups:
    """What a row's names and codes may refer to in the city."""

    classes: dict[str, Category]
    departments: dict[str, Department]
    districts: set[str]

    @classmethod
    def of(cls, session: Session, city_code: str) -> _Lookups:
        classes = session.scalars(select(Category).where(Category.city_code == city_code,
                                                         Category.type == "component",
                                                         Category.parent_id.is_not(None))).all()
        departments = session.scalars(select(Department).where(Department.city_code == city_code)).all()
        districts = session.scalars(select(Division.code).where(Division.city_code == city_code,
                                                                Division.level.in_(("city", "district")))).all()
        return cls(classes={key: c for c in classes for key in (c.name, c.code)},
                   departments={key: d for d in departments for key in (d.name, d.code)},
                   districts={city_code, *districts})


def _code_problems(code: str, category: Category | None, lookups: _Lookups) -> list[str]:
    if not CODE_RE.fullmatch(code):
        return [f"code {code!r} is not 16 digits (6 district + 2 major + 2 minor class + 6 serial)"]
    problems = []
    if code[:6] not in lookups.districts:
        problems.append(f"code {code} starts with {code[:6]}, which is not this city or one of its districts "
                        f"({', '.join(sorted(lookups.districts))})")
    digits = CLASS_DIGITS_RE.match(category.code) if category else None
    if digits and code[6:10] != digits.group(1):
        problems.append(f"code {code} has class digits {code[6:10]} but class {category.code} "
                        f"({category.name}) is {digits.group(1)}")
    return problems


def _check(raw: InputRow, lookups: _Lookups, crs: str) -> tuple[dict[str, Any], list[str]]:
    """The row as column values of a component, and every reason it cannot be stored."""
    values = raw.values
    category = lookups.classes.get(values.get("category", ""))
    problems = [] if category else [f"unknown component class {values.get('category', '')!r}: use a minor class "
                                    "code such as C0101 or its name (gridlink catalog)"]
    problems += _code_problems(values.get("code", ""), category, lookups)
    maintainer_name = values.get("maintainer", "")
    maintainer = lookups.departments.get(maintainer_name)
    if maintainer_name and maintainer is None:
        problems.append(f"unknown maintainer {maintainer_name!r}: use a department code or name of the catalog")
    status = STATUS_WORDS.get(values.get("status", ""))
    if status is None:
        problems.append(f"status {values['status']!r} is not one of in_use, damaged, removed (在用, 损坏, 拆除)")
    problems += [f"{name} is longer than {limit} characters" for name, limit in TEXT_LIMITS.items()
                 if len(values.get(name, "")) > limit]
    lon = lat = None
    if raw.problem:
        problems.append(raw.problem)
    else:
        try:
            lon, lat = to_wgs84(raw.lon, raw.lat, crs)
        except CoordinateError as exc:
            problems.append(str(exc))
    row = {"code": values.get("code"), "category_id": category.id if category else None,
           "name": values.get("name") or None, "owner_name": values.get("owner") or None,
           "maintainer_id": maintainer.id if maintainer else None, "status": status,
           "address": values.get("address") or None, "lon": lon, "lat": lat}
    return row, problems


def _outside_city(session: Session, city_code: str, points: Sequence[tuple[int, float, float]]) -> set[int]:
    """Numbers of the rows whose point the city outline does not cover (one set-based query)."""
    city_id = city_outline(session, city_code).id
    given = func.unnest(cast([p[0] for p in points], ARRAY(Integer)), cast([p[1] for p in points], ARRAY(Float)),
                        cast([p[2] for p in points], ARRAY(Float))).table_valued("n", "lon", "lat").render_derived("p")
    pt = func.ST_SetSRID(func.ST_MakePoint(given.c.lon, given.c.lat), 4326)
    inside = select(DivisionPart.id).where(DivisionPart.division_id == city_id, func.ST_Covers(DivisionPart.geom, pt))
    return set(session.scalars(select(given.c.n).where(~inside.exists())))


def _checked(session: Session, city_code: str, rows: list[InputRow], crs: str) -> list[dict[str, Any]]:
    """Every row as component values, or Invalid listing each bad row with all its reasons."""
    lookups = _Lookups.of(session, city_code)
    checked, bad, first_row = [], [], {}
    for raw in rows:
        values, problems = _check(raw, lookups, crs)
        code = values["code"]
        if code in first_row:
            problems.append(f"code {code} appears again (first on row {first_row[code]})")
        elif code and CODE_RE.fullmatch(code):
            first_row[code] = raw.row
        checked.append((raw.row, values, problems))
    placed = [(n, v["lon"], v["lat"]) for n, v, _ in checked if v["lon"] is not None]
    outside = _outside_city(session, city_code, placed) if placed else set()
    for number, values, problems in checked:
        if number in outside:
            problems.append(f"point ({values['lon']:.6f}, {values['lat']:.6f}) is outside the city; check the "
                            "coordinates and that --crs names the system they were taken in")
        if problems:
            bad.append({"row": number, "code": values["code"], "problems": problems})
    if bad:
        raise Invalid(f"{len(bad)} of {len(rows)} rows cannot be imported, nothing was stored: "
                      + "; ".join(f"row {b['row']}: {', '.join(b['problems'])}" for b in bad[:5]),
                      code="bad_components", details={"rows": bad})
    return [values for _, values, _ in checked]


# --- storing ---------------------------------------------------------------------------------------
def _upsert_batch(session: Session, city_code: str, batch: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert new codes, update changed ones, leave identical ones alone; (created, updated)."""
    stmt = insert(Component).values([
        {"city_code": city_code, **{k: v for k, v in row.items() if k not in ("lon", "lat")},
         "location": from_shape(Point(row["lon"], row["lat"]), srid=4326)} for row in batch])
    new = stmt.excluded
    changed = tuple_(*(getattr(Component, c) for c in UPDATABLE)).is_distinct_from(
        tuple_(*(new[c] for c in UPDATABLE)))
    stmt = stmt.on_conflict_do_update(index_elements=["city_code", "code"],
                                      set_={**{c: new[c] for c in UPDATABLE}, "updated_at": func.now()},
                                      where=changed).returning(literal_column("xmax = 0"))
    created = session.scalars(stmt).all()
    return sum(created), len(created) - sum(created)


def store_components(session: Session, city_code: str, rows: list[InputRow], *, crs: str = "wgs84",
                     progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Check every row, then upsert them all by code; counts of rows, created, updated and unchanged."""
    crs = known_crs(crs)
    if not rows:
        raise Invalid("the file has no components", code="bad_components")
    values = _checked(session, city_code, rows, crs)
    created = updated = 0
    for start in range(0, len(values), BATCH):
        new, changed = _upsert_batch(session, city_code, values[start:start + BATCH])
        created, updated = created + new, updated + changed
        if progress:
            progress(min(start + BATCH, len(values)), len(values))
    return {"rows": len(values), "created": created, "updated": updated,
            "unchanged": len(values) - created - updated}


def import_components(session: Session, city_code: str, path: Path, *, crs: str = "wgs84",
                      progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Load a register file (CSV or GeoJSON points) all or nothing; see the module docstring."""
    return store_components(session, city_code, read_component_file(path), crs=crs, progress=progress)
