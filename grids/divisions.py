"""The division tree (city -> township -> community): importing boundaries, listing them, finding a point.

Import is all-or-nothing by default: one bad feature stores nothing and every bad feature is listed
(RELIABILITY 1-5), because a half-imported boundary set silently routes cases to the wrong place.

Tolerance (metres, geodesic): a child may stick out of its parent, or overlap a sibling, by at most
max(1 m², 0.01 % of the child's area). Real boundary files disagree by such slivers; within the
tolerance the sliver is trimmed (outside the parent) or given to the feature that comes first (overlap)
and reported; beyond it the import is refused, unless --clip-overlaps is given for overlaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyproj
import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased, defer

from gis.crs import CoordinateError, area_m2, from_metric, geometry_to_wgs84, normalize_crs_name
from gis.readers import Feature, InputRejected, read_features
from gis.split import polygons_of
from gis.validate import (
    GeometryProblem,
    check_in_range,
    count_vertices,
    explain_invalid,
    repair,
    to_polygonal,
    validated_polygon,
)
from grids.errors import Invalid, NotFound
from grids.models import DIVISION_LEVELS, City, Division, DivisionPart

AREA_TOLERANCE_M2 = 1.0
AREA_TOLERANCE_SHARE = 1e-4  # 0.01 % of the child's area
#: The digits of a level's code (national division codes: 330781 兰溪市, 330781102 游埠镇, 330781102001 a community).
LEVEL_DIGITS = {"city": 6, "district": 6, "township": 9, "community": 12}
INVALID_MODES = ("refuse", "skip", "repair")


def tolerance_m2(area: float) -> float:
    """How far a child may stick out of its parent or into a sibling before the import refuses it."""
    return max(AREA_TOLERANCE_M2, AREA_TOLERANCE_SHARE * area)


@dataclass
class Boundary:
    """One good feature of an import file, already converted to WGS84."""

    index: int
    code: str
    name: str
    geom: MultiPolygon
    stored: bool = False  # a sibling already in the database, not in the file

    @property
    def area(self) -> float:
        return area_m2(self.geom)


def upsert_division(session: Session, city_code: str, code: str, name: str, level: str,
                    geom: MultiPolygon, *, parent: Division | None = None, illustrative: bool = False) -> Division:
    """Insert, or update in place as a new version when the name or boundary changed (never a duplicate)."""
    row = session.scalar(select(Division).where(Division.city_code == city_code, Division.code == code))
    wkb = from_shape(geom, srid=4326)
    if row is None:
        row = Division(city_code=city_code, code=code, name=name, level=level, geom=wkb, version=1)
        session.add(row)
    elif (row.name, row.level) != (name, level) or _moved(row, parent) or not session.scalar(
            select(func.ST_Equals(row.geom, wkb))):  # a new level or parent is a new version too, and says so
        row.name, row.geom, row.version, row.updated_at = name, wkb, row.version + 1, func.now()
    row.level, row.illustrative, row.derived = level, illustrative, False
    row.parent_id = parent.id if parent else None
    session.flush()
    return row


def _moved(row: Division, parent: Division | None) -> bool:
    """Whether the division gets another parent; a top-level division under the outline made of its siblings
    (_derive_outline) is still top-level when imported again without one."""
    if parent is None:
        return row.parent is not None and not row.parent.derived
    return row.parent_id != parent.id


def divisions_at(session: Session, city_code: str, point: BaseGeometry, level: str) -> list[Division]:
    """The divisions of a level covering a point (two on their common edge), lowest id first, tested against
    their subdivided parts (division_parts) so a county outline of many vertices costs no more than a small
    polygon."""
    return list(dict.fromkeys(session.scalars(  # a point on a seam between two parts of one division: once
        select(Division).join(DivisionPart, DivisionPart.division_id == Division.id)
        .where(Division.city_code == city_code, Division.level == level,
               func.ST_Covers(DivisionPart.geom, func.ST_GeomFromEWKB(from_shape(point, srid=4326))))
        .order_by(Division.id))))


def division_at(session: Session, city_code: str, point: BaseGeometry, level: str) -> Division | None:
    """The division of a level covering a point; lowest id wins on a shared edge."""
    found = divisions_at(session, city_code, point, level)
    return found[0] if found else None


def city_outline(session: Session, city_code: str) -> Division:
    """The city's outline row (its shape deferred: most callers need only its id or name), or Invalid naming
    the fix when the city has no divisions yet."""
    city = session.scalar(select(Division).where(Division.city_code == city_code, Division.level == "city")
                          .options(defer(Division.geom)).order_by(Division.id).limit(1))
    if city is None:
        raise Invalid(f"city {city_code} has no outline yet; load its divisions first", code="no_city_outline")
    return city


def division_by_code(session: Session, city_code: str, code: str) -> Division:
    division = session.scalar(select(Division).where(Division.city_code == city_code, Division.code == code))
    if division is None:
        raise NotFound(f"no division with code {code} in city {city_code}; list them with `gridlink divisions list`")
    return division


def _problem(feature: Feature | Boundary, code: str | None, name: str | None, reason: str,
             location: tuple[float, float] | None) -> dict[str, Any]:
    return {"index": feature.index, "code": code, "name": name, "reason": reason,
            "location": [round(location[0], 7), round(location[1], 7)] if location else None}


def _where(geom: BaseGeometry) -> tuple[float, float]:
    point = geom.representative_point()
    return point.x, point.y


def _to_lonlat(geom: BaseGeometry, declared: str | None) -> BaseGeometry:
    """Honour a projected CRS the file declares (a Shapefile's .prj): reproject it to degrees first."""
    if declared is None:
        return geom
    crs = pyproj.CRS.from_user_input(declared)
    if crs.is_geographic:
        return geom
    epsg = crs.to_epsg()
    if epsg is None:
        raise Invalid(f"the file's coordinate system has no EPSG code ({crs.name}); reproject it to longitude/"
                      "latitude first", code="unknown_crs")
    return from_metric(geom, epsg)


def _clean_geometry(geom: BaseGeometry | None, crs: str, fix: bool) -> tuple[MultiPolygon, dict | None]:
    """The validated 2D polygon; with `fix`, an invalid one is repaired and its areas reported."""
    if not fix:
        return validated_polygon(geom, crs), None
    if geom is not None:
        count_vertices(geom)
    polygonal = to_polygonal(geom)
    check_in_range(polygonal, crs)
    if explain_invalid(polygonal) is None:
        return polygonal, None
    fixed, before, after = repair(polygonal)
    return fixed, {"area_before_m2": round(before, 2), "area_after_m2": round(after, 2)}


def _boundary(feature: Feature, crs: str, declared: str | None, code_field: str, name_field: str,
              fix: bool, level: str) -> tuple[Boundary, dict | None]:
    """A feature's code, name and WGS84 shape, or a GeometryProblem saying what is wrong with it."""
    code, name = feature.properties.get(code_field), feature.properties.get(name_field)
    if code is None or name is None:
        fields = ", ".join(feature.properties) or "none"
        raise GeometryProblem(f"no value in field {code_field if code is None else name_field!r} "
                              f"(the file's fields: {fields})")
    code = str(code).strip()
    if not code.isdigit() or len(code) != LEVEL_DIGITS[level]:
        levels = ", ".join(f"{name} {digits}" for name, digits in LEVEL_DIGITS.items())
        raise GeometryProblem(f"code {code!r} is not a {level}'s {LEVEL_DIGITS[level]}-digit division code (digits "
                              f"per level: {levels}): check the code field and the level")
    if feature.problem:
        raise feature.problem
    geom, repaired = _clean_geometry(_to_lonlat(feature.geometry, declared), crs, fix)
    wgs84 = geometry_to_wgs84(geom, crs)
    problem = explain_invalid(wgs84)
    if problem:
        raise GeometryProblem(f"invalid after converting from {crs}: {problem.reason}", problem.location)
    return Boundary(feature.index, code, str(name).strip(), MultiPolygon(polygons_of(wgs84))), repaired


def read_boundaries(path: Path, crs: str, code_field: str, name_field: str, level: str,
                    fix: bool = False) -> tuple[list[Boundary], list[dict], list[dict]]:
    """Good boundaries of a level, problems (one per bad feature, all of them) and repairs, from one file."""
    try:
        crs = normalize_crs_name(crs)
        result = read_features(path)
    except (InputRejected, CoordinateError) as exc:
        raise Invalid(str(exc), code="bad_file") from exc
    good: list[Boundary] = []
    problems: list[dict] = []
    repairs: list[dict] = []
    seen: set[str] = set()
    for feature in result.features:
        code, name = feature.properties.get(code_field), feature.properties.get(name_field)
        try:
            boundary, repaired = _boundary(feature, crs, result.source_crs, code_field, name_field, fix, level)
        except GeometryProblem as problem:
            problems.append(_problem(feature, code, name, problem.reason, problem.location))
            continue
        if boundary.code in seen:
            problems.append(_problem(feature, code, name, f"code {boundary.code} appears twice in the file", None))
            continue
        seen.add(boundary.code)
        good.append(boundary)
        if repaired:
            repairs.append({"index": feature.index, "code": boundary.code, "name": boundary.name, **repaired})
    return good, problems, repairs


def _within_parent(boundaries: list[Boundary], parent: Division | None) -> tuple[list[Boundary], list[dict],
                                                                                  list[dict]]:
    """Children inside the parent: slivers within tolerance are trimmed, larger excursions are problems."""
    if parent is None:
        return boundaries, [], []
    outline = to_shape(parent.geom)
    shapely.prepare(outline)
    kept, problems, trimmed = [], [], []
    for b in boundaries:
        outside = b.geom.difference(outline)
        area = area_m2(outside) if not outside.is_empty else 0.0
        if area > tolerance_m2(b.area):
            problems.append(_problem(b, b.code, b.name, f"lies outside its parent {parent.code} by {area:.1f} m²",
                                     _where(outside)))
            continue
        if area > 0:
            b.geom = MultiPolygon(polygons_of(b.geom.intersection(outline)))
            trimmed.append({"code": b.code, "area_m2": round(area, 3)})
        kept.append(b)
    return kept, problems, trimmed


def _touching_pairs(boundaries: list[Boundary]) -> list[tuple[int, int]]:
    """(earlier, later) index pairs whose shapes meet: the only candidates for an overlap."""
    geoms = [b.geom for b in boundaries]
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    return sorted((int(i), int(j)) for i, j in zip(left, right, strict=True) if i < j)


def _separate_siblings(boundaries: list[Boundary], clip: bool) -> list[dict]:
    """Give each overlap to the boundary that comes first (stored siblings first, then file order).

    Overlaps within tolerance are always clipped; larger ones only with `clip`, else the import is refused
    with every overlapping pair, its area and where it is.
    """
    moved, refused = [], []
    for i, j in _touching_pairs(boundaries):
        first, later = boundaries[i], boundaries[j]
        shared = MultiPolygon(polygons_of(first.geom.intersection(later.geom)))
        if shared.is_empty:  # a border line only, or an earlier clip already took it
            continue
        area = area_m2(shared)
        entry = {"from": later.code, "to": first.code, "area_m2": round(area, 4),
                 "location": [round(v, 7) for v in _where(shared)]}
        if area > tolerance_m2(min(first.area, later.area)) and not clip:
            refused.append({"a": first.code, "b": later.code, "area_m2": entry["area_m2"],
                            "location": entry["location"]})
            continue
        if later.stored:
            raise Invalid(f"stored division {later.code} would lose area to {first.code}", code="overlap")
        later.geom = MultiPolygon(polygons_of(later.geom.difference(first.geom)))
        if later.geom.is_empty:
            raise Invalid(f"division {later.code} lies entirely inside {first.code}", code="overlap")
        moved.append(entry)
    if refused:
        raise Invalid(f"{len(refused)} pairs of divisions overlap by more than the tolerance; nothing was stored. "
                      "Fix the file or use --clip-overlaps to give each overlap to the feature first in the file",
                      code="overlap", details={"overlaps": refused})
    return moved


def _stored_siblings(session: Session, city_code: str, level: str, parent: Division | None,
                     codes: set[str]) -> list[Boundary]:
    """Divisions already stored beside the imported ones (same parent and level, not re-imported)."""
    parent_filter = Division.parent_id == parent.id if parent else Division.parent_id.is_(None)
    rows = session.scalars(select(Division).where(Division.city_code == city_code, Division.level == level,
                                                  parent_filter, Division.code.not_in(codes)).order_by(Division.code))
    return [Boundary(-1, r.code, r.name, to_shape(r.geom), stored=True) for r in rows]


def known_crs(crs: str) -> str:
    """The coordinate system's canonical name (gis.crs.CRS_NAMES), or Invalid unknown_crs naming the ones there
    are: every channel and file import reads it the same way, in words a page can show (webapp ERROR_TEXT)."""
    try:
        return normalize_crs_name(crs)
    except CoordinateError as exc:
        raise Invalid(str(exc), code="unknown_crs", details={"crs": str(crs)}) from exc


def known_city(session: Session, city_code: str) -> City:
    """The city, or Invalid naming the cities this database holds: a well-formed but mistyped code (or a
    forgotten GRIDLINK_CITY) listed nothing and looked like an empty city."""
    city = session.get(City, city_code)
    if city is None:
        raise unknown_city(session, city_code)
    return city


def unknown_city(session: Session, city_code: str) -> Invalid:
    """The error for a city this database does not hold, naming the ones it does."""
    loaded = ", ".join(f"{code} {name}" for code, name in session.execute(
        select(City.code, City.name).order_by(City.code).limit(10))) or "none yet: import its divisions first"
    return Invalid(f"unknown city {city_code}; the cities loaded here: {loaded}", code="unknown_city")


def _ensure_city(session: Session, city_code: str, boundaries: Sequence[Boundary]) -> None:
    """Create the city row on first import, named after its own boundary when the file holds it."""
    if session.get(City, city_code) is None:
        name = next((b.name for b in boundaries if b.code == city_code), city_code)
        session.add(City(code=city_code, name=name))
        session.flush()


def import_divisions(session: Session, city_code: str, path: Path, *, level: str, crs: str, code_field: str,
                     name_field: str, parent_code: str | None = None, invalid: str = "refuse",
                     clip_overlaps: bool = False) -> dict[str, Any]:
    """Import boundaries from a file; `invalid` is refuse (default), skip or repair. Never commits."""
    if level not in DIVISION_LEVELS:
        raise Invalid(f"unknown level {level!r}; choose one of: {', '.join(DIVISION_LEVELS)}", code="bad_level")
    if invalid not in INVALID_MODES:
        raise Invalid(f"unknown invalid-feature mode {invalid!r}", code="bad_mode")
    parent = division_by_code(session, city_code, parent_code) if parent_code else None
    if parent is not None and DIVISION_LEVELS.index(parent.level) >= DIVISION_LEVELS.index(level):
        raise Invalid(f"{parent.code} {parent.name} is a {parent.level}: a {level} lies in a division of a level "
                      f"above it ({', '.join(DIVISION_LEVELS[:DIVISION_LEVELS.index(level)])}); check the level "
                      "and the parent", code="bad_parent",
                      details={"parent": parent.code, "name": parent.name, "parent_level": parent.level,
                               "level": level})
    boundaries, problems, repairs = read_boundaries(Path(path), crs, code_field, name_field, level,
                                                    invalid == "repair")
    _refuse_another_citys(boundaries, city_code)
    _refuse_misplaced_level(session, city_code, level, parent, boundaries)
    boundaries, outside, trimmed = _within_parent(boundaries, parent)
    problems += outside
    if problems and invalid != "skip":
        raise Invalid(f"{len(problems)} features cannot be imported; nothing was stored. Fix them, or use "
                      "--skip-invalid to store the others (--repair fixes invalid shapes)",
                      code="invalid_features", details={"invalid": problems})
    siblings = _stored_siblings(session, city_code, level, parent, {b.code for b in boundaries})
    moved = _separate_siblings(siblings + boundaries, clip_overlaps)
    _ensure_city(session, city_code, boundaries)
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    for b in boundaries:
        before = session.scalar(select(Division.version).where(Division.city_code == city_code,
                                                               Division.code == b.code))
        row = upsert_division(session, city_code, b.code, b.name, level, b.geom, parent=parent)
        state = "created" if before is None else "updated" if row.version > before else "unchanged"
        outcome[state].append(b.code)
    outline = _derive_outline(session, city_code) if parent is None and level != "city" else None
    return {"city": city_code, "level": level, "parent": parent_code, "stored": len(boundaries), **outcome,
            "skipped": problems, "repaired": repairs, "trimmed": trimmed, "moved": moved, "outline": outline}


def district_at_sql(incident: str, column: str) -> str:
    """SQL for the `column` of the district at the point of the case `incident` (a table or alias name): cases
    store their township and grid, and a city run by district (Jiujiang, no township drawn) has cases in neither,
    in a district all the same. One rule for the export's column and the ranking by district."""
    return (f"(SELECT d.{column} FROM division_parts p JOIN divisions d ON d.id = p.division_id "
            f"WHERE d.level = 'district' AND d.city_code = {incident}.city_code "
            f"AND ST_Covers(p.geom, {incident}.location) ORDER BY d.id LIMIT 1)")


def _city_prefix(city_code: str) -> str:
    """What every division code of the city starts with: its code without the trailing 00 pairs of the levels it
    is not (360400, the prefecture-level 九江市: 3604; 330781, the county-level 兰溪市: all six digits)."""
    prefix = city_code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return prefix


def _refuse_another_citys(boundaries: Sequence[Boundary], city_code: str) -> None:
    """Jiujiang's districts imported with --city left at its default were stored as Lanxi's, and every later
    command without --city went quietly to that phantom city."""
    prefix = _city_prefix(city_code)
    foreign = [b.code for b in boundaries if not b.code.startswith(prefix)]
    if foreign:
        guesses = " or ".join(dict.fromkeys((foreign[0][:6], f"{foreign[0][:4]}00")))  # county- or prefecture-level
        raise Invalid(f"division codes {', '.join(foreign[:10])} are not of city {city_code} (its codes start with "
                      f"{prefix}); nothing was stored. Pass --city with their city's code (perhaps {guesses}) or "
                      "set GRIDLINK_CITY", code="another_city")


def _refuse_misplaced_level(session: Session, city_code: str, level: str, parent: Division | None,
                            boundaries: Sequence[Boundary]) -> None:
    """Jiujiang's 13 districts imported as --level city became 13 cities; townships imported without --parent
    beside their districts became top-level divisions overlapping them, and no check fired."""
    if level == "city":
        others = [b.code for b in boundaries if b.code != city_code]
        if others:
            raise Invalid(f"a city-level boundary has the city's own code {city_code}; {', '.join(others[:10])} are "
                          "not it: import them with the level they are (--level district, township ...)",
                          code="bad_level")
        return
    if parent is not None:
        return
    above = session.scalars(select(Division).where(
        Division.city_code == city_code, Division.level.in_(DIVISION_LEVELS[1:DIVISION_LEVELS.index(level)]))
        .order_by(Division.code)).all()
    if above:
        code = boundaries[0].code if boundaries else ""
        guess = next((f" (perhaps --parent {d.code}, {d.name}: {code} starts with its code)" for d in above
                      if code.startswith(d.code)), "")
        raise Invalid(f"a {level} lies in a {above[0].level} of this city: import each {above[0].level}'s "
                      f"{level}s with --parent{guess}", code="missing_parent")


def _derive_outline(session: Session, city_code: str) -> str | None:
    """The city's outline as the union of its top-level divisions, when the city has no boundary of its own
    (or only one made this way, remade now): without an outline no case can be taken, and a city such as
    Jiujiang publishes its districts but no outline. Returns what was done, for the summary."""
    outline = session.scalar(select(Division).where(Division.city_code == city_code, Division.level == "city"))
    if outline is not None and not outline.derived:
        return None
    top = session.scalars(select(Division).where(
        Division.city_code == city_code, Division.level != "city",
        or_(Division.parent_id.is_(None), Division.parent_id == (outline.id if outline else None)))).all()
    union = to_polygonal(shapely.union_all([to_shape(d.geom) for d in top]))
    city = session.get(City, city_code)
    row = upsert_division(session, city_code, city_code, city.name, "city", union)
    row.derived = True
    for division in top:
        division.parent_id = row.id
    session.flush()
    return f"the city outline is the union of its {len(top)} top-level divisions"


def list_divisions(session: Session, city_code: str, level: str | None = None) -> list[dict[str, Any]]:
    """Stored divisions with their geodesic area, parents first then by code."""
    known_city(session, city_code)
    parent = aliased(Division)
    query = (select(Division.code, Division.name, Division.level, parent.code, Division.version,
                    func.ST_Area(func.geography(Division.geom)))
             .outerjoin(parent, parent.id == Division.parent_id)
             .where(Division.city_code == city_code).order_by(func.length(Division.code), Division.code))
    if level:
        query = query.where(Division.level == level)
    return [{"code": code, "name": name, "level": lvl, "parent": parent_code, "version": version,
             "area_m2": round(area, 1)}
            for code, name, lvl, parent_code, version, area in session.execute(query)]
