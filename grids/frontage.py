"""门前三包: street-facing units, their frontage areas, inspections, red and black lists (DOMAIN.md §5).

Areas are drawn by gis.frontage from building footprints and road centre lines; this module reads the
files, reports dirty footprints (a self-intersecting polygon is listed with where it crosses itself, then
repaired so it still blocks the street space it covers), stores the areas and links them to the grids
they fall in. Use cases take a Session and never commit.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import and_, func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from gis.crs import (
    CoordinateError,
    area_m2,
    check_lonlat,
    from_metric,
    geometry_to_wgs84,
    to_metric,
    utm_epsg_for,
)
from gis.frontage import frontage_areas
from gis.readers import Feature, InputRejected, read_features
from gis.split import polygons_of
from gis.validate import GeometryProblem, explain_invalid, validated_polygon
from grids.divisions import division_at, division_by_code, divisions_at, known_city, known_crs
from grids.errors import Invalid, NotFound
from grids.frontage_links import link_grids
from grids.incidents import open_case
from grids.layouts import grid_at
from grids.models import (
    CasePhoto,
    Category,
    Division,
    FrontageInspection,
    FrontageUnit,
    Incident,
    User,
)
from grids.spreadsheet import safe_cell
from grids.workflow import JOINABLE_STATES, start_report_clock

UNIT_TYPES = ("shop", "office", "market", "construction_site", "compound", "household")
SHEET_PATH = Path(__file__).parent / "data" / "frontage_score_sheet.json"
# Optional columns an import file may carry under these exact names.
OPTIONAL_FIELDS = ("registration_no", "contact_name", "contact_phone", "address", "agreement_no")
# OSM highway values that are not streets a unit faces: paths (no centre line of a street) and freeways.
NOT_STREETS = frozenset({"footway", "cycleway", "path", "steps", "pedestrian", "bridleway", "corridor",
                         "motorway", "motorway_link", "proposed", "construction"})
SAME_UNIT_M = 5.0  # a unit of the same name imported within this distance is the same unit, updated
CSV_LON = ("lon", "lng", "longitude", "x")
CSV_LAT = ("lat", "latitude", "y")

# Roles allowed to see a unit's contact person and phone (personal data). Rules are data: edit here.
PERSONAL_DATA = "personal_data"
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "admin": frozenset({PERSONAL_DATA}),
    "supervisor": frozenset({PERSONAL_DATA}),
    "squad_leader": frozenset({PERSONAL_DATA}),
    "officer": frozenset({PERSONAL_DATA}),
    "co_manager": frozenset({PERSONAL_DATA}),
}


# --- reading ---------------------------------------------------------------------------------------
def _csv_point(row: dict[str, str]) -> BaseGeometry:
    lowered = {k.strip().lower(): v for k, v in row.items() if k}
    lon = next((lowered[k] for k in CSV_LON if k in lowered), None)
    lat = next((lowered[k] for k in CSV_LAT if k in lowered), None)
    if lon is None or lat is None:
        raise GeometryProblem(f"no coordinate columns: name them one of {CSV_LON} and one of {CSV_LAT}")
    try:
        return Point(float(lon), float(lat))
    except ValueError as exc:
        raise GeometryProblem(f"coordinates ({lon}, {lat}) are not numbers") from exc


def _read_csv(path: Path) -> list[Feature]:
    features = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            try:
                features.append(Feature(index, dict(row), _csv_point(row), None))
            except GeometryProblem as problem:
                features.append(Feature(index, dict(row), None, problem))
    return features


def read_unit_file(path: Path) -> list[Feature]:
    """Units from CSV (lon/lat columns) or any file gis.readers takes (GeoJSON points, e.g. OSM shops)."""
    path = Path(path)
    try:
        return _read_csv(path) if path.suffix.lower() == ".csv" else read_features(path).features
    except (InputRejected, UnicodeDecodeError) as exc:
        raise Invalid(f"{path.name}: {exc}", code="bad_file") from exc


# --- units -----------------------------------------------------------------------------------------
def _unit_point(feature: Feature, crs: str) -> Point:
    """The unit's WGS84 position; a polygon (a shop drawn as an area) stands for its inside point."""
    if feature.problem:
        raise feature.problem
    geom = feature.geometry
    if geom is None or geom.is_empty:
        raise GeometryProblem("no geometry")
    point = geom if geom.geom_type == "Point" else geom.representative_point()
    point = geometry_to_wgs84(point, crs)
    try:
        check_lonlat(point.x, point.y)
    except CoordinateError as exc:
        raise GeometryProblem(str(exc)) from exc
    return point


def _db_point(point: Point) -> Any:
    return func.ST_GeomFromEWKB(from_shape(point, srid=4326))


def _same_unit(session: Session, city_code: str, name: str, point: Point) -> FrontageUnit | None:
    return session.scalar(select(FrontageUnit).where(
        FrontageUnit.city_code == city_code, FrontageUnit.name == name,
        func.ST_DWithin(func.geography(FrontageUnit.location), func.geography(_db_point(point)), SAME_UNIT_M))
        .order_by(FrontageUnit.id).limit(1))


def _fill(unit: FrontageUnit, props: dict[str, Any], raw_type: str | None) -> None:
    unit.unit_type = raw_type if raw_type in UNIT_TYPES else "shop"
    unit.kind = raw_type
    for name in OPTIONAL_FIELDS:
        if props.get(name) not in (None, ""):
            setattr(unit, name, str(props[name]).strip())


def _township_at(session: Session, city_code: str, point: Point) -> Division | None:
    """The unit's township, as for a case at its point (grids.incidents): the one its point lies in; on two
    townships' common edge (a street often is one) or in the hair between their separately cut edges, that of
    the grid in force there; with no grid there, the lowest id."""
    townships = divisions_at(session, city_code, point, "township")
    grid = grid_at(session, city_code, point.x, point.y) if len(townships) != 1 else None
    if grid is not None:
        return division_at(session, city_code, to_shape(grid.geom).point_on_surface(), "township")
    return townships[0] if townships else None


def import_units(session: Session, city_code: str, features: Iterable[Feature], name_field: str,
                 type_field: str | None = None, crs: str = "wgs84") -> dict[str, Any]:
    """Create or update units; a feature without a name, a usable point or a point in the city (every other
    channel refuses one outside it: in no township, nor in the outline of a city that has one) is skipped and
    listed. A name field the file lacks is Invalid naming the file's fields: it skipped every row and answered
    success."""
    crs = known_crs(crs)
    features = list(features)
    fields = sorted({name for f in features for name in f.properties})
    if features and name_field not in fields:
        raise Invalid(f"no field {name_field!r} in the file; its fields: {', '.join(fields)}", code="bad_field")
    created = updated = 0
    skipped: list[dict[str, Any]] = []
    duties = load_score_sheet()["duties"]
    for feature in features:
        name = str(feature.properties.get(name_field) or "").strip()
        try:
            if not name:
                raise GeometryProblem(f"no name in field {name_field!r}")
            point = _unit_point(feature, crs)
            if not any(divisions_at(session, city_code, point, level) for level in ("city", "township")):
                raise GeometryProblem(f"({point.x:.6f}, {point.y:.6f}) lies outside city {city_code}: check --crs "
                                      "and the coordinates")
        except GeometryProblem as problem:
            skipped.append({"index": feature.index, "reason": problem.reason})
            continue
        unit = _same_unit(session, city_code, name, point)
        if unit is None:
            unit = FrontageUnit(city_code=city_code, name=name, location=from_shape(point, 4326),
                                duties=list(duties), status="active")
            session.add(unit)
            created += 1
        else:
            unit.location = from_shape(point, 4326)
            updated += 1
        raw_type = feature.properties.get(type_field) if type_field else None
        _fill(unit, feature.properties, str(raw_type).strip() if raw_type not in (None, "") else None)
        township = _township_at(session, city_code, point)
        unit.township_id = township.id if township else None
    session.flush()
    return {"city": city_code, "created": created, "updated": updated, "skipped": skipped}


# --- areas -----------------------------------------------------------------------------------------
def _footprints(path: Path, crs: str, epsg: int) -> tuple[list[BaseGeometry], list[dict[str, Any]]]:
    """Metric building footprints, and every dirty polygon of the file reported (then repaired for use).

    When the file tags buildings (OSM `building=*`), only those are footprints: a parking lot or school
    ground drawn as an area is street space, not a wall.
    """
    features = _read(path)
    tagged = any("building" in f.properties for f in features)
    footprints, problems = [], []
    for f in features:
        geom = f.geometry
        if f.problem:
            problems.append({"index": f.index, "reason": f.problem.reason, "location": f.problem.location,
                             "osm_id": f.properties.get("osm_id"), "used": False})
            continue
        if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        geom = geometry_to_wgs84(geom, crs)
        problem = explain_invalid(geom)
        if problem:
            geom = MultiPolygon(polygons_of(shapely.make_valid(geom)))
            problems.append({"index": f.index, "reason": problem.reason, "location": problem.location,
                             "osm_id": f.properties.get("osm_id"), "used": True,
                             "note": "repaired (make_valid) and used as a footprint"})
        if not tagged or f.properties.get("building") not in (None, "no"):
            footprints.append(to_metric(geom, epsg))
    return footprints, problems


def _streets(path: Path, crs: str, epsg: int) -> list[BaseGeometry]:
    lines = []
    for f in _read(path):
        if f.geometry is None or f.geometry.geom_type not in ("LineString", "MultiLineString"):
            continue
        if f.properties.get("highway") in NOT_STREETS:
            continue
        lines.extend(shapely.get_parts(to_metric(geometry_to_wgs84(f.geometry, crs), epsg)))
    return lines


def _read(path: Path) -> list[Feature]:
    try:
        return read_features(path).features
    except InputRejected as exc:
        raise Invalid(f"{Path(path).name}: {exc}", code="bad_file") from exc


def _near(geoms: list[BaseGeometry], zone: BaseGeometry) -> list[BaseGeometry]:
    """Only what can matter for the division's areas: speed and memory for a city-wide file."""
    tree = shapely.STRtree(geoms)
    return [geoms[i] for i in sorted(tree.query(zone, predicate="intersects"))]


def _stored_area(geom: BaseGeometry, epsg: int) -> MultiPolygon | None:
    """The metric area as a valid WGS84 multipolygon, or None when nothing of it is left."""
    if geom.is_empty:
        return None
    wgs84 = shapely.make_valid(from_metric(geom, epsg))
    parts = polygons_of(wgs84)
    return MultiPolygon(parts) if parts else None


def generate_areas(session: Session, city_code: str, division_code: str, buildings_file: Path, roads_file: Path,
                   crs: str = "wgs84", max_depth: float = 15.0) -> dict[str, Any]:
    """Draw the frontage area of every active unit in a division (hand-drawn ones are kept) and link grids."""
    if not 0 < max_depth <= 100:
        raise Invalid(f"max depth {max_depth} m is not between 0 and 100 m", code="bad_depth")
    crs = known_crs(crs)
    division = division_by_code(session, city_code, division_code)
    epsg = division_epsg(division)
    footprints, problems = _footprints(Path(buildings_file), crs, epsg)
    roads = _streets(Path(roads_file), crs, epsg)
    # the two files swapped (or the wrong one given) drew nothing and wiped the areas drawn before
    for found, path, kind in ((footprints, buildings_file, "building polygons"), (roads, roads_file, "road lines")):
        if not found:
            raise Invalid(f"{Path(path).name} holds no {kind}: check that --buildings and --roads name the right "
                          "files (areas drawn before are kept)", code="bad_file")
    drawn = draw_areas(session, division, footprints, roads, epsg, max_depth)
    return {"city": city_code, "division": division_code, **drawn, "invalid_buildings": problems,
            "max_depth": max_depth}


def division_epsg(division: Division) -> int:
    """The UTM zone areas of a division are drawn in."""
    centre = to_shape(division.geom).centroid
    return utm_epsg_for(centre.x, centre.y)


def draw_areas(session: Session, division: Division, footprints: list[BaseGeometry], roads: list[BaseGeometry],
               epsg: int, max_depth: float = 15.0, unit_ids: Sequence[int] | None = None) -> dict[str, int]:
    """Draw the areas of the division's active units (or of `unit_ids` among them) from metric footprints and
    road centre lines (those near the division are used); hand-drawn areas are kept and cut out of the
    others. Returns the counts."""
    zone = to_metric(to_shape(division.geom), epsg).buffer(max_depth * 4)
    footprints, roads = _near(footprints, zone), _near(roads, zone)
    units = [u for u in _units_in(session, division.city_code, division) if unit_ids is None or u.id in unit_ids]
    manual = shapely.union_all([to_metric(to_shape(u.area), epsg)
                                for u in _manual_in(session, division.city_code, division)])
    drawn = frontage_areas(footprints, roads, [to_metric(to_shape(u.location), epsg) for u in units], max_depth)
    counts = {"with_area": 0, "fallback": 0, "empty": 0}
    for unit, result in zip(units, drawn, strict=True):
        unit.area = _as_db(_stored_area(result.geometry.difference(manual), epsg))
        unit.area_notes = result.notes
        counts["empty" if unit.area is None else "with_area"] += 1
        counts["fallback"] += result.building is None
    session.flush()
    linked = link_grids(session, [u.id for u in units])
    return {"units": len(units), **counts, "buildings": len(footprints), "roads": len(roads), "grid_links": linked}


def _as_db(geom: MultiPolygon | None) -> Any:
    return from_shape(geom, 4326) if geom is not None else None


def _units_in(session: Session, city_code: str, division: Division, manual: bool = False) -> list[FrontageUnit]:
    return list(session.scalars(select(FrontageUnit).where(
        FrontageUnit.city_code == city_code, FrontageUnit.status == "active", FrontageUnit.area_manual.is_(manual),
        func.ST_Covers(select(Division.geom).where(Division.id == division.id).scalar_subquery(),
                       FrontageUnit.location)).order_by(FrontageUnit.id)))


def _manual_in(session: Session, city_code: str, division: Division) -> list[FrontageUnit]:
    return [u for u in _units_in(session, city_code, division, manual=True) if u.area is not None]


# Other active units whose area shares interior with the drawn one, and how much (m², geodesic).
_AREA_OVERLAPS = text("""
SELECT u.id, u.name, ST_Area(ST_Intersection(u.area, d.geom)::geography) AS m2
FROM frontage_units u, (SELECT ST_GeomFromWKB(:wkb, 4326) AS geom) d
WHERE u.city_code = :city AND u.status = 'active' AND u.id <> :unit AND u.area && d.geom
  AND ST_Relate(u.area, d.geom, '2********')
ORDER BY m2 DESC, u.id""")
MANUAL_OVERLAP_TOLERANCE_M2 = 0.1  # less is drawing round-off along a shared edge, not an overlap


def set_manual_area(session: Session, unit_id: int, polygon_wgs84: BaseGeometry) -> dict[str, Any]:
    """Store a planner's hand-drawn frontage area (kept by generate_areas) and re-link the unit's grids.

    Refused when the shape is invalid (gis.validate) or overlaps another unit's area, naming each such
    unit with the overlap in m², because two shops must never answer for the same pavement. Building
    footprints are read from a file by generate_areas and are not stored, so a drawn area is not checked
    against buildings here (docs/frontage.md).
    """
    unit = session.get(FrontageUnit, unit_id)
    if unit is None:
        raise NotFound(f"no frontage unit {unit_id}", code="unknown_unit")
    try:
        area = validated_polygon(polygon_wgs84, "wgs84")
    except GeometryProblem as exc:
        raise Invalid(str(exc), code="bad_geometry", details={"location": exc.location}) from exc
    rows = session.execute(_AREA_OVERLAPS, {"wkb": area.wkb, "city": unit.city_code, "unit": unit.id}).all()
    overlaps = [{"unit": uid, "name": name, "overlap_m2": round(m2, 2)} for uid, name, m2 in rows
                if m2 > MANUAL_OVERLAP_TOLERANCE_M2]
    if overlaps:
        names = ", ".join(f"{o['name']} ({o['overlap_m2']} m²)" for o in overlaps[:10])
        raise Invalid(f"the area overlaps other units' areas: {names}", code="area_overlaps",
                      details={"overlaps": overlaps})
    unit.area, unit.area_manual, unit.area_notes = _as_db(area), True, ["drawn by hand"]
    session.flush()
    linked = link_grids(session, [unit.id])
    return {"unit": unit.id, "area_m2": round(area_m2(area), 1), "grid_links": linked, "grid": unit.grid_id}


def frontage_unit_at(session: Session, city_code: str, point: Point) -> FrontageUnit | None:
    """The active unit whose frontage area covers a WGS84 point (GiST on the area; lowest id on an edge)."""
    return session.scalar(
        select(FrontageUnit).where(FrontageUnit.city_code == city_code, FrontageUnit.status == "active",
                                   func.ST_Covers(FrontageUnit.area, _db_point(point)))
        .order_by(FrontageUnit.id).limit(1))


# --- inspections -----------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _sheet_at(path: Path) -> dict[str, Any]:
    sheet = json.loads(path.read_text(encoding="utf-8"))
    if sum(s["points"] for s in sheet["sections"]) != sheet["total"]:
        raise Invalid(f"{path.name}: section points do not add up to {sheet['total']}", code="bad_score_sheet")
    codes = [item["code"] for s in sheet["sections"] for item in s["items"]]
    if len(codes) != len(set(codes)):
        raise Invalid(f"{path.name}: an item code appears twice", code="bad_score_sheet")
    return sheet


def load_score_sheet(path: Path = SHEET_PATH) -> dict[str, Any]:
    """The configured score sheet (sections of points with itemised deductions), checked once."""
    return _sheet_at(Path(path))


def score_deductions(sheet: dict[str, Any], deductions: dict[str, int]) -> tuple[int, list[dict[str, Any]]]:
    """The score after deductions (item code -> times found); a section never loses more than its points."""
    items = {item["code"]: (section, item) for section in sheet["sections"] for item in section["items"]}
    unknown = sorted(set(deductions) - set(items))
    if unknown:
        raise Invalid(f"unknown score sheet items {', '.join(unknown)}", code="unknown_item")
    lines, lost = [], {s["code"]: 0 for s in sheet["sections"]}
    for code, count in deductions.items():
        if int(count) < 1:
            continue
        section, item = items[code]
        points = min(item["deduction"] * int(count), section["points"] - lost[section["code"]])
        lost[section["code"]] += points
        lines.append({"item": code, "name": item["name"], "section": section["code"], "count": int(count),
                      "points": points, "category": item.get("category")})
    return sheet["total"] - sum(lost.values()), lines


def _category(session: Session, city_code: str, code: str) -> Category:
    category = session.scalar(select(Category).where(Category.city_code == city_code, Category.code == code))
    if category is None:
        raise Invalid(f"the score sheet files violations as category {code}, which city {city_code} does not "
                      "have; import it with `gridlink catalog import` or change the sheet", code="no_category")
    return category


def _case_point(unit: FrontageUnit) -> Point:
    """Where a violation is filed: inside the frontage area (so routing names the unit), else at the unit."""
    return to_shape(unit.area).representative_point() if unit.area is not None else to_shape(unit.location)


def _violation_case(session: Session, unit: FrontageUnit, category: Category, items: list[str],
                    inspector: User | None) -> int:
    """The id of the unit's open case of the category, else of a new one naming the items found."""
    ongoing = session.scalar(select(Incident.id).where(
        Incident.frontage_unit_id == unit.id, Incident.category_id == category.id,
        Incident.status.in_(JOINABLE_STATES), Incident.duplicate_of_id.is_(None)).order_by(Incident.id).limit(1))
    if ongoing is not None:
        return ongoing
    point = _case_point(unit)
    case = open_case(session, unit.city_code, category, point.x, point.y, source="frontage_inspection",
                     description=f"门前三包检查 {unit.name}: {'、'.join(items)}", address=unit.address,
                     reporter=inspector, clock=start_report_clock)
    case.frontage_unit_id = unit.id
    return case.id


def inspect_unit(session: Session, unit_id: int, inspector: User | None, deductions: dict[str, int],
                 photos: Sequence[str] = (), note: str | None = None, *, at: datetime | None = None
                 ) -> FrontageInspection:
    """Score a unit against the sheet; the deductions whose items name a category are filed as one case per
    category on the unit, or under the unit's open case of that category if it has one (a second inspector
    finding the same rubbish files no second case). The inspection's photos are each case's evidence too: its
    "before" photos, shown wherever the case is."""
    # locked: two inspectors of one unit at once would both find no open case and both file one
    unit = session.get(FrontageUnit, unit_id, with_for_update=True)
    if unit is None:
        raise NotFound(f"no frontage unit {unit_id}")
    score, lines = score_deductions(load_score_sheet(), deductions)
    found: dict[str, list[str]] = {}  # category code -> the items found under it
    for line in (ln for ln in lines if ln["category"]):
        found.setdefault(line["category"], []).append(line["name"])
    incident_ids = [_violation_case(session, unit, _category(session, unit.city_code, code), items, inspector)
                    for code, items in found.items()]
    inspection = FrontageInspection(city_code=unit.city_code, unit_id=unit.id,
                                    inspector_id=inspector.id if inspector else None, score=score,
                                    deductions=lines, photos=list(photos), note=note,
                                    violations=sum(len(items) for items in found.values()), incident_ids=incident_ids)
    if at is not None:
        inspection.at = at
    session.add(inspection)
    session.add_all(CasePhoto(city_code=unit.city_code, incident_id=case_id, kind="before", path=path,
                              uploaded_by=inspector.id if inspector else None)
                    for case_id in incident_ids for path in photos)
    session.flush()
    return inspection


def unit_history(session: Session, unit_id: int) -> list[FrontageInspection]:
    return list(session.scalars(select(FrontageInspection).where(FrontageInspection.unit_id == unit_id)
                                .order_by(FrontageInspection.at.desc(), FrontageInspection.id.desc())))


def _latest_scores() -> Any:
    """One row per unit: its latest inspection's score (DISTINCT ON, newest first)."""
    return (select(FrontageInspection.unit_id, FrontageInspection.score, FrontageInspection.at)
            .ext(distinct_on(FrontageInspection.unit_id))
            .order_by(FrontageInspection.unit_id, FrontageInspection.at.desc(), FrontageInspection.id.desc())
            .subquery())


def red_list(session: Session, city_code: str, township_code: str) -> list[dict[str, Any]]:
    """The township's best units by latest score (at least the sheet's min_score), best first."""
    rule = load_score_sheet()["red_list"]
    township = division_by_code(session, city_code, township_code)
    latest = _latest_scores()
    rows = session.execute(
        select(FrontageUnit.id, FrontageUnit.name, latest.c.score, latest.c.at)
        .join(latest, latest.c.unit_id == FrontageUnit.id)
        .where(FrontageUnit.township_id == township.id, latest.c.score >= rule["min_score"])
        .order_by(latest.c.score.desc(), FrontageUnit.name, FrontageUnit.id).limit(rule["size"]))
    return [{"unit": i, "name": n, "score": s, "inspected_at": a} for i, n, s, a in rows]


def black_list(session: Session, city_code: str, township_code: str, now: datetime | None = None
               ) -> list[dict[str, Any]]:
    """Repeat offenders: units with at least the sheet's number of violations in its period, most first."""
    rule = load_score_sheet()["black_list"]
    township = division_by_code(session, city_code, township_code)
    since = (now or datetime.now(UTC)) - timedelta(days=rule["days"])
    total = func.sum(FrontageInspection.violations)
    rows = session.execute(
        select(FrontageUnit.id, FrontageUnit.name, total)
        .join(FrontageInspection, and_(FrontageInspection.unit_id == FrontageUnit.id, FrontageInspection.at >= since))
        .where(FrontageUnit.township_id == township.id)
        .group_by(FrontageUnit.id).having(total >= rule["violations"])
        .order_by(total.desc(), FrontageUnit.name, FrontageUnit.id))
    return [{"unit": i, "name": n, "violations": int(v), "days": rule["days"]} for i, n, v in rows]


def unit_rows(session: Session, city_code: str, township_id: int | None = None) -> list[dict[str, Any]]:
    """The units of a city, or of one township (a squad's zone), each with its latest score and the
    violations found over all its inspections: the township list in one query, not one per unit."""
    latest = _latest_scores()
    found = (select(FrontageInspection.unit_id, func.sum(FrontageInspection.violations).label("violations"))
             .group_by(FrontageInspection.unit_id).subquery())
    query = (select(FrontageUnit, latest.c.score, latest.c.at, found.c.violations)
             .outerjoin(latest, latest.c.unit_id == FrontageUnit.id)
             .outerjoin(found, found.c.unit_id == FrontageUnit.id)
             .where(FrontageUnit.city_code == city_code).order_by(FrontageUnit.name, FrontageUnit.id))
    if township_id is not None:
        query = query.where(FrontageUnit.township_id == township_id)
    return [{"unit": unit, "score": score, "inspected_at": at, "violations": int(violations or 0)}
            for unit, score, at, violations in session.execute(query)]


# --- views & export --------------------------------------------------------------------------------
def may_see_personal_data(role: str) -> bool:
    return PERSONAL_DATA in ROLE_GRANTS.get(role, frozenset())


def unit_view(unit: FrontageUnit, role: str) -> dict[str, Any]:
    """A unit as a role may see it: contact person and phone only with the personal-data grant."""
    granted = may_see_personal_data(role)
    return {"id": unit.id, "name": unit.name, "type": unit.unit_type, "kind": unit.kind,
            "registration_no": unit.registration_no, "address": unit.address, "status": unit.status,
            "agreement_no": unit.agreement_no, "agreement_signed_on": unit.agreement_signed_on,
            "agreement_expires_on": unit.agreement_expires_on, "duties": list(unit.duties or []),
            "contact_name": unit.contact_name if granted else None,
            "contact_phone": unit.contact_phone if granted else None, "personal_data_hidden": not granted}


EXPORT_FORMATS = ("geojson", "csv")


AGREEMENT_DAYS = ("agreement_signed_on", "agreement_expires_on")
_EXPORT_FIELDS = ("unit", "name", "type", "kind", "duties", "grid", "grids", "latest_score", "agreement_no",
                  *AGREEMENT_DAYS)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _export_rows(session: Session, city_code: str | None, township_id: int | None = None
                 ) -> list[tuple[dict[str, Any], BaseGeometry | None]]:
    latest = _latest_scores()
    query = (select(FrontageUnit, latest.c.score).outerjoin(latest, latest.c.unit_id == FrontageUnit.id)
             .order_by(FrontageUnit.id))
    if city_code:
        known_city(session, city_code)
        query = query.where(FrontageUnit.city_code == city_code)
    if township_id is not None:
        query = query.where(FrontageUnit.township_id == township_id)
    rows = []
    for unit, score in session.execute(query):
        codes = [g.code for g in unit.grids]
        main = next((g.code for g in unit.grids if g.id == unit.grid_id), None)
        rows.append(({"unit": unit.id, "name": unit.name, "type": unit.unit_type, "kind": unit.kind,
                      "duties": list(unit.duties or []), "grid": main, "grids": codes, "latest_score": score,
                      "agreement_no": unit.agreement_no,
                      **{name: _iso(getattr(unit, name)) for name in AGREEMENT_DAYS}},
                     to_shape(unit.area) if unit.area is not None else None))
    return rows


def export_units(session: Session, fmt: str, out: Path, city_code: str | None = None,
                 township_id: int | None = None) -> dict[str, Any]:
    """Write units with their areas (no personal data) as GeoJSON or CSV (area as WKT).

    `township_id` narrows the file to one township: a squad downloads only its own zone.
    """
    if fmt not in EXPORT_FORMATS:
        raise Invalid(f"unknown format {fmt!r}; choose {' or '.join(EXPORT_FORMATS)}", code="bad_format")
    rows = _export_rows(session, city_code, township_id)
    out = Path(out)
    if fmt == "geojson":
        doc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": props, "geometry": mapping(geom) if geom else None}
            for props, geom in rows]}
        out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    else:
        with out.open("w", encoding="utf-8-sig", newline="") as handle:  # the BOM: Excel reads it as UTF-8
            writer = csv.writer(handle)
            writer.writerow([*_EXPORT_FIELDS, "area_wkt"])
            for props, geom in rows:
                values = [";".join(v) if isinstance(v, list) else v for v in (props[f] for f in _EXPORT_FIELDS)]
                writer.writerow([*map(safe_cell, values), geom.wkt if geom else ""])
    return {"format": fmt, "path": str(out), "units": len(rows)}
