"""Cases: where a point lies, who answers for it and why, opening a case there, and its history.

Routing order (rules are data: RoutingRule rows and Category.departments):
- the point is converted to WGS84 (gis.crs) and must lie in the city, else Invalid (422) with the fix;
- the grid in force covering it (grids.layouts.grid_at) gives the grid's squad and co-manager;
  no grid -> triage queue;
- divisions covering the point give the path city -> township -> community, one per level (_PATH_IDS): on
  two townships' common edge the one its grid lies in, with no grid the lowest id;
- the department, first that applies:
  1. a case naming a component (its 16-digit code) goes to the component's maintainer; a component with
     no maintainer falls through to the rules below (with a step saying so);
  2. the category's routing rule of the most specific scope, in this exact precedence (asked in the same
     statement as the place, `ORDER BY grid_code IS NULL, <depth of the rule's division> DESC NULLS LAST
     LIMIT 1` over the rules with `grid_code = <located grid's code>` OR `division_id IN <path>` OR both
     NULL): a rule for the located grid's code (no grid, no grid rule) > the rule for the deepest division
     of the path (community > township > district > city) > the city-wide rule (no grid, no division);
     the category is the case's, or the component's when the case names only a component;
  3. the category's default department (the one with the lowest code);
- the owner (责任主体唯一) is the first of OWNER_ORDER that was found, and the township government
  (属地兜底) when nothing else is; a case without a usable place belongs to the dispatch centre.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from geoalchemy2 import WKTElement
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Row,
    String,
    and_,
    any_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased, defer, make_transient_to_detached

from gis.crs import CoordinateError, check_lonlat, distance_m, looks_swapped, to_wgs84
from grids.components import component_by_code, nearest_component
from grids.db import prepared
from grids.divisions import city_outline, known_crs
from grids.errors import Conflict, Invalid
from grids.layouts import grid_in_force
from grids.models import (
    DIVISION_LEVELS,
    CaseEvent,
    Category,
    City,
    Component,
    Department,
    Division,
    DivisionPart,
    FrontageUnit,
    Grid,
    Incident,
    RoutingRule,
    Squad,
    User,
)
from grids.outbox import notify

#: The longest text a case keeps (the columns' widths): longer is refused on every channel, never cut.
TEXT_LIMITS = {"description": 4000, "address": 300, "reporter_contact": 200, "external_id": 100, "media_url": 2000}
#: Characters no text may hold: NUL (PostgreSQL text cannot), the other C0 controls but tab, LF and CR, and
#: U+FFFE/U+FFFF (XML 1.0 cannot: one stored would make every Open311 XML list holding it unreadable), and
#: lone surrogates (UTF-8 cannot encode them). The web refuses them, a file import drops them.
UNFIT_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: The channels a case comes in by (Incident.source): a filter names one of these, whether or not a case has
#: come that way yet (a client polling its own new channel gets an empty list, not a refusal).
SOURCES = ("dispatcher", "hotline", "visit", "field", "api", "open311", "import", "demo", "frontage_inspection")
# Who answers for a case, most specific first; "township" is the territorial government (属地兜底).
OWNER_ORDER = ("department", "squad", "township")
CENTRE = "centre"


@dataclass(frozen=True)
class Actor:
    """Whoever acts on a case: a staff user, or an API key (which has a role but no zone)."""

    city_code: str
    role: str
    user_id: int | None = None
    township_id: int | None = None
    department_id: int | None = None
    label: str = ""

    @classmethod
    def of_user(cls, user: User) -> Actor:
        return cls(city_code=user.city_code, role=user.role, user_id=user.id, township_id=user.township_id,
                   department_id=user.department_id, label=user.username)


#: How each routing step reads in the stored text, the API and exports. Cases also keep the steps
#: themselves (Incident.routing_steps), so pages word the same keys in the reader's language.
REASON_TEXT = {
    "township": "township {name}", "no_township": "in the city but in no township",
    "grid": "grid {code}", "no_grid": "in no published grid: triage",
    "squad_of_grid": "squad {name}: assigned to the grid",
    "squad_of_township": "squad {name}: stationed in the township",
    "frontage": "frontage of {name} (门前三包)",
    "component_maintainer": "department {name}: maintainer of component {code}",
    "component_no_maintainer": "component {code} has no maintainer: routing rules apply",
    "grid_rule": "department {name}: rule for grid {grid} of category {category}",
    "scoped_rule": "department {name}: rule for {scope} of category {category}",
    "city_rule": "department {name}: city-wide rule of category {category}",
    "category_default": "department {name}: default of category {category}",
    "no_department": "no department for category {category}",
    "centre_dispatch": "dispatched by the centre to department {name}",
    "centre_dispatch_local": "dispatched by the centre to {name}: no department has the case",
    "returned_to_centre": "returned to the centre by {name}",
    "owner": "owner: {owner}",
    "no_coordinates": "no coordinates given", "centre_triage": "owner: centre (triage)",
}


@dataclass
class Location:
    """Where a point lies and who answers for it there, with the reasons in words."""

    lon: float | None
    lat: float | None
    input_crs: str | None = None
    input_x: float | None = None
    input_y: float | None = None
    divisions: list[Division] = field(default_factory=list)
    grid: Grid | None = None
    squad: Squad | None = None
    co_manager: User | None = None
    department: Department | None = None
    frontage_unit: FrontageUnit | None = None
    component: Component | None = None
    # A component of the reported (component) class within a few metres, offered to the reporter, never forced.
    suggested_component: dict[str, Any] | None = None
    owner_type: str = CENTRE
    steps: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def township(self) -> Division | None:
        return next((d for d in self.divisions if d.level == "township"), None)

    @property
    def needs_triage(self) -> bool:
        return self.grid is None

    def say(self, key: str, **params: str) -> None:
        """Add one step of the routing explanation (a key of REASON_TEXT and its values)."""
        self.steps.append((key, params))

    @property
    def routing_reason(self) -> str:
        return "; ".join(REASON_TEXT[key].format(**params) for key, params in self.steps)

    def to_dict(self) -> dict[str, Any]:
        def named(row: Any, *extra: str) -> dict[str, Any] | None:
            if row is None:
                return None
            return {"id": row.id, **{k: getattr(row, k) for k in ("code", "name", *extra) if hasattr(row, k)}}

        return {
            "lon": self.lon, "lat": self.lat,
            "input": {"crs": self.input_crs, "x": self.input_x, "y": self.input_y},
            "divisions": [named(d, "level") for d in self.divisions],
            "township": named(self.township), "grid": named(self.grid), "squad": named(self.squad),
            "co_manager": ({"id": self.co_manager.id, "name": self.co_manager.display_name}
                           if self.co_manager else None),
            "department": named(self.department), "frontage_unit": named(self.frontage_unit),
            "component": named(self.component), "suggested_component": self.suggested_component,
            "owner_type": self.owner_type, "needs_triage": self.needs_triage,
            "routing_reason": self.routing_reason,
        }


#: A report's point and city as bind parameters: the statements below are built once, so SQLAlchemy reuses
#: their cache keys and compiled SQL, and each report only sends its numbers (bench/intake.py).
_CITY = bindparam("city_code", type_=String)
_POINT = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon", type_=Float), bindparam("lat", type_=Float)), 4326)


def _covers(division_id: ColumnElement[int]) -> ColumnElement[bool]:
    """Whether the division covers the point, asked of its subdivided parts (division_parts): against a
    county outline of many vertices the test would cost a millisecond and more per report."""
    return exists().where(DivisionPart.division_id == division_id, func.ST_Covers(DivisionPart.geom, _POINT))


def _covering(point: ColumnElement[Any]) -> ColumnElement[Any]:
    """The ids of the divisions covering a point, from one GiST lookup of their parts: as a join, a prepared
    (generic) plan probed the parts once per division of the city (17 in the demo, hundreds in a real city)."""
    return func.array(select(DivisionPart.division_id).where(func.ST_Covers(DivisionPart.geom, point))
                      .correlate(Grid).scalar_subquery())


_AT_POINT = _covering(_POINT)
#: The divisions at a point inside the grid found at the point. Correlated to that Grid row: only for a
#: statement that joins Grid before it uses _PATH_IDS (alone, it would read every grid of the city).
_AT_GRID = _covering(func.ST_PointOnSurface(Grid.geom))
#: The division path, one division per level: those covering the point first, then (a point in the hair between
#: two townships' separately cut edges, covered by neither) those covering the grid found there; on a shared
#: edge, where both neighbours cover the point, the grid's, so the case's township is that of its grid, squad
#: and co-manager; with no grid, the lowest id. A grid crossing a division's edge keeps each case's own.
_PATH_IDS = func.array(select(Division.id).where(Division.city_code == _CITY, or_(Division.id == any_(_AT_POINT),
                                                                                  Division.id == any_(_AT_GRID)))
                       .ext(distinct_on(Division.level))
                       .order_by(Division.level, ~(Division.id == any_(_AT_POINT)), ~(Division.id == any_(_AT_GRID)),
                                 Division.id).scalar_subquery())
_IN_CITY = (select(_covers(Division.id)).where(Division.city_code == _CITY, Division.level == "city")
            .order_by(Division.id).limit(1))


def wgs84_lonlat(x: float, y: float, crs: str = "wgs84") -> tuple[float, float]:
    """The WGS84 (lon, lat) of (x, y) given in `crs`, or Invalid (422) saying what to fix (RELIABILITY 7)."""
    name = known_crs(crs)
    try:
        return to_wgs84(x, y, name)
    except CoordinateError as exc:
        if _valid_lonlat(y, x) and not _valid_lonlat(x, y):
            raise Invalid(f"longitude and latitude look swapped: ({x}, {y}) is no place on Earth as (lon, lat); "
                          f"send {y} as the longitude and {x} as the latitude",
                          code="swapped_coordinates", details={"lon": y, "lat": x}) from exc
        raise Invalid(str(exc), code="bad_coordinates") from exc


def _valid_lonlat(lon: float, lat: float) -> bool:
    try:
        check_lonlat(lon, lat)
    except CoordinateError:
        return False
    return True


def refuse_outside_city(session: Session, city_code: str, x: float, y: float, crs: str) -> NoReturn:
    """Invalid (422) for a point outside the city, worded from its outline: swapped or simply elsewhere
    (RELIABILITY 8, 9). Only a refused point pays for reading the outline's extent."""
    city = city_outline(session, city_code)
    bbox = tuple(session.execute(select(func.ST_XMin(Division.geom), func.ST_YMin(Division.geom),
                                        func.ST_XMax(Division.geom), func.ST_YMax(Division.geom))
                                 .where(Division.id == city.id)).one())
    name = city.name
    west, south, east, north = (round(v, 3) for v in bbox)
    extent = f"its outline spans longitude {west}..{east}, latitude {south}..{north}"
    if looks_swapped(x, y, bbox):
        raise Invalid(f"longitude and latitude look swapped: ({x}, {y}) is outside {name} but ({y}, {x}) "
                      f"is inside; send {y} as the longitude and {x} as the latitude", code="swapped_coordinates",
                      details={"lon": y, "lat": x})
    raise Invalid(f"the point ({x}, {y}) in {crs} is outside the boundary of {name} ({extent}); check the coordinates "
                  "and that crs names the system they were taken in (wgs84 for GPS, gcj02 for Amap/Tencent, "
                  "bd09 for Baidu)", code="outside_city",
                  details={"city": name, "west": west, "south": south, "east": east, "north": north})


def to_city_point(session: Session, city_code: str, x: float, y: float, crs: str = "wgs84") -> Point:
    """The WGS84 point of (x, y) given in `crs` if it lies in the city, else Invalid (422) with the fix.

    Tested against the outline's small parts (grids.divisions.division_at) in one statement; locate asks
    the same of its surroundings statement instead of sending this one."""
    lon, lat = wgs84_lonlat(x, y, crs)
    if session.scalar(_IN_CITY, {"city_code": city_code, "lon": lon, "lat": lat}):
        return Point(lon, lat)
    refuse_outside_city(session, city_code, x, y, crs)


@dataclass(frozen=True)
class _Rule:
    """The routing rule that applies at a point: its scope (a division id, a grid code, or neither: city-wide)
    and its department."""

    division_id: int | None
    grid_code: str | None
    department: Department


@dataclass(frozen=True)
class _Surroundings:
    """What lies at a point: the division path (city first), the grid in force with its squad and
    co-manager, the frontage unit (门前三包) whose area covers it, and the category's routing rule there."""

    divisions: list[Division]
    grid: Grid | None
    grid_squad: Squad | None
    co_manager: User | None
    frontage_unit: FrontageUnit | None
    rule: _Rule | None


_FRONTAGE_AT = (select(FrontageUnit.id)
                .where(FrontageUnit.city_code == _CITY, FrontageUnit.status == "active",
                       func.ST_Covers(FrontageUnit.area, _POINT))
                .order_by(FrontageUnit.id).limit(1).scalar_subquery())
_RULE_SCOPE = aliased(Division)
#: The category's most specific rule at the point (grid > deepest division of the path > city-wide, see the
#: module docstring); no grid at the point matches no grid rule, no category no rule.
_RULE_AT = (select(RoutingRule.id).outerjoin(_RULE_SCOPE, _RULE_SCOPE.id == RoutingRule.division_id)
            .where(RoutingRule.category_id == bindparam("category_id", type_=Integer),
                   or_(and_(RoutingRule.division_id.is_(None), RoutingRule.grid_code.is_(None)),
                       RoutingRule.division_id == any_(_PATH_IDS), RoutingRule.grid_code == Grid.code))
            .order_by(RoutingRule.grid_code.is_(None),
                      func.array_position(literal(list(DIVISION_LEVELS), ARRAY(String)), _RULE_SCOPE.level)
                      .desc().nulls_last())
            .limit(1).scalar_subquery())
#: Everything locate needs at a point in ONE statement (issue 4: each round trip of a report costs more than
#: the joins): one row per division of the path, each carrying the same grid, squad, co-manager, frontage
#: unit and rule. The shapes stay in the database: only names, codes and ids travel.
_SURROUNDINGS = prepared(
    select(Division, Grid, Squad, User, FrontageUnit, RoutingRule.division_id, RoutingRule.grid_code, Department)
    .select_from(City).where(City.code == _CITY)
    .outerjoin(Grid, Grid.id == grid_in_force(_CITY, _POINT))
    .outerjoin(Division, and_(Division.city_code == City.code, Division.id == any_(_PATH_IDS)))
    .outerjoin(Squad, Squad.id == Grid.squad_id).outerjoin(User, User.id == Grid.co_manager_id)
    .outerjoin(FrontageUnit, FrontageUnit.id == _FRONTAGE_AT)
    .outerjoin(RoutingRule, RoutingRule.id == _RULE_AT)
    .outerjoin(Department, Department.id == RoutingRule.department_id)
    .options(defer(Division.geom), defer(Grid.geom), defer(FrontageUnit.location), defer(FrontageUnit.area),
             defer(User.password_hash))
    .order_by(Division.id))


def _surroundings(session: Session, city_code: str, lon: float, lat: float,
                  category: Category | None) -> _Surroundings:
    """What lies at the point: the division path, the grid in force on the city's today and its people, the
    frontage unit, and the rule that routes the category there."""
    rows = session.execute(_SURROUNDINGS, {"city_code": city_code, "lon": lon, "lat": lat,
                                           "category_id": category.id if category else None}).all()
    if not rows:  # no such city
        return _Surroundings([], None, None, None, None, None)
    by_level = {row.Division.level: row.Division for row in rows if row.Division is not None}
    grid, squad, co_manager, frontage_unit, division_id, grid_code, department = rows[0][1:]
    return _Surroundings([by_level[level] for level in DIVISION_LEVELS if level in by_level],
                         grid, squad, co_manager, frontage_unit,
                         _Rule(division_id, grid_code, department) if department is not None else None)


def _department_for(category: Category, path: list[Division],
                    rule: _Rule | None) -> tuple[Department | None, tuple[str, dict[str, str]]]:
    """The category's most specific rule at the point, else the category's default department."""
    if rule is not None:
        params = {"name": rule.department.name, "category": category.code}
        if rule.grid_code is not None:
            return rule.department, ("grid_rule", {**params, "grid": rule.grid_code})
        scope = next((d.name for d in path if d.id == rule.division_id), None)
        return rule.department, (("scoped_rule", {**params, "scope": scope}) if scope else ("city_rule", params))
    if category.departments:
        department = min(category.departments, key=lambda d: d.code)
        return department, ("category_default", {"name": department.name, "category": category.code})
    return None, ("no_department", {"category": category.code})


def _routing_category(category: Category | None, component: Component | None) -> Category | None:
    """Whose rules route the case: its category's, or its component's class when it gives none."""
    return category or (component.category if component is not None else None)


def _route(loc: Location, category: Category | None, rule: _Rule | None) -> None:
    """The department: the named component's maintainer first, then the rules of the category (or of the
    component's class when the case gives none)."""
    component = loc.component
    if component is not None and component.maintainer is not None:
        loc.department = component.maintainer
        loc.say("component_maintainer", name=component.maintainer.name, code=component.code)
        return
    if component is not None:
        loc.say("component_no_maintainer", code=component.code)
    category = _routing_category(category, component)
    if category is not None:
        loc.department, (key, params) = _department_for(category, loc.divisions, rule)
        loc.say(key, **params)


def _place(x: float | None, y: float | None, crs: str, component: Component | None) -> Location:
    """The WGS84 point of the report (whether it is in the city is asked with its surroundings); a case
    naming a component without coordinates is at the component."""
    if x is not None and y is not None:
        lon, lat = wgs84_lonlat(x, y, crs)
        return Location(lon=lon, lat=lat, input_crs=known_crs(crs), input_x=x, input_y=y,
                        component=component)
    if component is None:
        raise Invalid("send lon and lat, or the 16-digit code of a component (部件)", code="missing_location")
    point = to_shape(component.location)
    return Location(lon=point.x, lat=point.y, component=component)


def locate(session: Session, city_code: str, x: float | None, y: float | None, *, crs: str = "wgs84",
           category: Category | None = None, component_code: str | None = None) -> Location:
    """Where (x, y) lies in the city and who answers for it there; Invalid when it is not a city place.

    A case may name a component instead of (or as well as) giving coordinates: see the module docstring.
    """
    component = component_by_code(session, city_code, component_code) if component_code else None
    loc = _place(x, y, crs, component)
    here = _surroundings(session, city_code, loc.lon, loc.lat, _routing_category(category, component))
    if loc.input_crs is not None and not (here.divisions and here.divisions[0].level == "city"):
        refuse_outside_city(session, city_code, x, y, crs)
    loc.divisions = here.divisions
    township = loc.township
    if township:
        loc.say("township", name=township.name)
    else:
        loc.say("no_township")
    loc.grid = here.grid
    if loc.grid:
        loc.say("grid", code=loc.grid.code)
    else:
        loc.say("no_grid")
    if here.grid_squad is not None:
        loc.squad = here.grid_squad
        loc.say("squad_of_grid", name=loc.squad.name)
    elif township is not None:
        loc.squad = session.scalar(select(Squad).where(Squad.township_id == township.id).order_by(Squad.id))
        if loc.squad is not None:
            loc.say("squad_of_township", name=loc.squad.name)
    loc.co_manager = here.co_manager
    loc.frontage_unit = here.frontage_unit
    if loc.frontage_unit is not None:
        loc.say("frontage", name=loc.frontage_unit.name)
    _route(loc, category, here.rule)
    if component is None and category is not None and category.type == "component":
        loc.suggested_component = nearest_component(session, city_code, category.id, Point(loc.lon, loc.lat))
    found = {"department": loc.department, "squad": loc.squad, "township": township}
    loc.owner_type = next((kind for kind in OWNER_ORDER if found[kind] is not None), CENTRE)
    loc.say("owner", owner=loc.owner_type)
    return loc


#: How far a report naming a component may be from it: a phone's fix is off by tens of metres, not hundreds.
COMPONENT_REACH_M = 200


def check_component(loc: Location, category: Category | None) -> None:
    """A report naming a component is about it: of its class (a 暴露垃圾 report naming a manhole's code would go
    to the water company and sit at the manhole), and, when it gives a point too, near it (a code mistyped by a
    digit named a lamp 25 km away, in another township, whose maintainer got the case without a word). Reports
    refuse both, and so does asking where one would go; the centre's 重新定位 of an older case does not ask."""
    component = loc.component
    if component is None:
        return
    if loc.input_crs is not None:
        _check_near(component, loc)
    if category is None or component.category_id == category.id:
        return
    kind = component.category
    raise Invalid(f"component {component.code} is a {kind.name} ({kind.code}), not {category.code}: report it "
                   f"under {kind.code}, or leave out the component code", code="component_class_mismatch",
                   details={"code": component.code, "name": kind.name, "class_code": kind.code})


def _check_near(component: Component, loc: Location) -> None:
    at = to_shape(component.location)
    away = distance_m(loc.lon, loc.lat, at.x, at.y)
    if away > COMPONENT_REACH_M:
        raise Invalid(f"the point is {away:,.0f} m from component {component.code} ({at.x:.6f}, {at.y:.6f}): check the "
                      "code on its plate and that crs names the system the point was taken in (a GCJ-02 or BD-09 "
                      "point read as WGS84 is 300-600 m off), or send the code alone to place the case at the "
                      "component",
                      code="component_far", details={"code": component.code, "distance_m": round(away)})


def unlocated(reason: str) -> Location:
    """A case with no usable place (an Open311 address only): the dispatch centre triages it."""
    return Location(lon=None, lat=None, steps=[(reason, {}), ("centre_triage", {})])


#: Events go in through the table: no ORM object is needed (replay and the API read them back by query), and
#: the ORM's flush cost a report more than the INSERT itself (bench/intake.py).
_EVENTS = CaseEvent.__table__
_NEW_EVENT = prepared(insert(_EVENTS).returning(_EVENTS.c.id, _EVENTS.c.action, _EVENTS.c.note))
#: A back-filled event's checks in one round trip: the transaction's now() and the case's last event time.
_HISTORY_END = (select(func.now(), func.max(CaseEvent.at))
                .where(CaseEvent.incident_id == bindparam("incident_id", type_=Integer)))


def check_event_time(session: Session, incident_id: int | None, at: datetime) -> None:
    """A back-filled time is never in the future and never before the case's last event (None: a case not
    stored yet): the history's times must read in the order its seq replays. Callers check before they
    change anything (act, open_case), so record_event takes `at` as checked."""
    if at.tzinfo is None:
        raise Invalid(f"the event time {at.isoformat()} needs a time zone", code="event_time_naive")
    now, last = session.execute(_HISTORY_END, {"incident_id": incident_id}).one()
    if at > now:
        raise Invalid(f"the event time {at.isoformat()} is in the future (now: {now.isoformat()})",
                      code="event_time_in_future")
    if last is not None and at < last:
        raise Invalid(f"the event time {at.isoformat()} is before the case's last event ({last.isoformat()})",
                      code="event_time_before_history")


def record_event(session: Session, incident: Incident, action: str, *, actor_id: int | None = None,
                 actor_role: str | None = None, from_status: str | None = None, note: str | None = None,
                 data: dict[str, Any] | None = None, at: datetime | None = None) -> Row[Any]:
    """Append one history row to a stored case; seq is per case so replaying the events gives the current state.

    With open_case's first event (written with the case), the only place events are written, so the outbox
    messages the action calls for commit with it.
    `at`: when it happened, for back-filled history only (the demo's worked cases, tests), already checked
    by the caller (check_event_time); HTTP callers never pass it and the event takes the transaction's now().
    """
    seq = (session.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.incident_id == incident.id)) or 0) + 1
    # The column default (now()) unless `at` is given: one prebuilt statement, compiled once per column set.
    when = {} if at is None else {"at": at}
    event = session.execute(_NEW_EVENT, {
        "city_code": incident.city_code, "incident_id": incident.id, "seq": seq, "action": action,
        "actor_id": actor_id, "actor_role": actor_role, "from_status": from_status, "to_status": incident.status,
        "note": note, "data": data, **when}).one()
    notify(session, incident, event)
    return event


_CASES = Incident.__table__
_CASE_COLUMNS = [column for column in _CASES.c if column.key != "id"]
_NEW_CASE = (pg_insert(_CASES)
             .values({column.key: bindparam(column.key, type_=column.type) for column in _CASE_COLUMNS})
             .values(reported_at=func.coalesce(bindparam("reported_at", type_=_CASES.c.reported_at.type), func.now()))
             .on_conflict_do_nothing(constraint="uq_incidents_city_code_external_id")
             .returning(_CASES.c.id, _CASES.c.city_code, _CASES.c.status, _CASES.c.reported_at).cte("new_case"))
#: A new case and its first event (the report, at the case's report time) in ONE statement: one round trip
#: and no ORM flush (together they cost a report more than both INSERTs did in the database, bench/intake.py).
#: A case number another report stored meanwhile (open_case checked before it) inserts nothing: no row.
_STORE_REPORTED = prepared(insert(_EVENTS).from_select(
    ["city_code", "incident_id", "seq", "at", "action", "actor_id", "actor_role", "to_status", "note", "data"],
    select(_NEW_CASE.c.city_code, _NEW_CASE.c.id, literal(1), _NEW_CASE.c.reported_at, literal("report"),
           bindparam("event_actor_id", type_=Integer), bindparam("event_actor_role", type_=String),
           _NEW_CASE.c.status, bindparam("event_note", type_=String),
           bindparam("event_data", type_=_EVENTS.c.data.type)))
    .returning(_EVENTS.c.id, _EVENTS.c.incident_id, _EVENTS.c.at, _EVENTS.c.action, _EVENTS.c.note))


def _store_reported(session: Session, incident: Incident, actor: Actor | None, data: dict[str, Any]) -> Row[Any]:
    """INSERT a new case with its report event; the object becomes the session's persistent case, as if loaded.

    Every column is bound: a column the object leaves unset takes its model default (None if it has none),
    set on the object too, so reading it later costs no query. The session treats the case as loaded, not
    added: a rollback to a savepoint taken before the report expires it instead of discarding it, so a
    caller that rolls back must not use the case afterwards (every caller's request or command ends there)."""
    for column in _CASE_COLUMNS:
        value = getattr(incident, column.key)
        if value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        setattr(incident, column.key, value)
    event = session.execute(_STORE_REPORTED, {
        **{column.key: getattr(incident, column.key) for column in _CASE_COLUMNS},
        "event_actor_id": actor.user_id if actor else None, "event_actor_role": actor.role if actor else None,
        "event_note": incident.description, "event_data": data}).first()
    if event is None and incident.external_id:  # a parallel report with the same external id committed first
        _refuse_stored_external_id(session, incident.city_code, incident.external_id)
        raise Conflict(f"external id {incident.external_id!r} was just stored by another report",
                       code="duplicate_external_id")
    incident.id, incident.reported_at = event.incident_id, event.at
    make_transient_to_detached(incident)
    session.add(incident)
    return event


_ROUTED_ROWS = ("grid", "township", "squad", "department", "component")


def location_values(loc: Location) -> dict[str, Any]:
    """The case columns a Location decides: where (and as given), who answers, and why."""
    # WKT from the floats' exact repr: building a shapely point to make WKB cost more than the INSERT's binding.
    return {"location": WKTElement(f"POINT({loc.lon!r} {loc.lat!r})", srid=4326) if loc.lon is not None else None,
            "input_crs": loc.input_crs, "input_x": loc.input_x, "input_y": loc.input_y,
            **{f"{name}_id": row.id if row else None for name, row in
               zip(_ROUTED_ROWS, (loc.grid, loc.township, loc.squad, loc.department, loc.component), strict=True)},
            "co_manager_id": loc.co_manager.id if loc.co_manager else None,
            "frontage_unit_id": loc.frontage_unit.id if loc.frontage_unit else None,
            "owner_type": loc.owner_type, "needs_triage": loc.needs_triage, "routing_reason": loc.routing_reason,
            "routing_steps": [[key, params] for key, params in loc.steps]}


def apply_location(incident: Incident, loc: Location) -> None:
    """Copy where and who from a Location onto a case, including why (routing_reason). The rows go on as
    relationships as well as ids: the ids read at once, the rows name the case without a query."""
    for name, value in location_values(loc).items():
        setattr(incident, name, value)
    for name in _ROUTED_ROWS:
        setattr(incident, name, getattr(loc, name))


def _check_lengths(**texts: str | None) -> None:
    too_long = sorted(name for name, value in texts.items() if value and len(value) > TEXT_LIMITS[name])
    if too_long:
        limits = ", ".join(f"{name} {TEXT_LIMITS[name]}" for name in too_long)
        raise Invalid(f"text too long (characters at most: {limits})", code="too_long",
                      details={"fields": too_long, "limits": {name: TEXT_LIMITS[name] for name in too_long}})


def _refuse_stored_external_id(session: Session, city_code: str, external_id: str) -> None:
    """Conflict naming the case that has this external id (a hotline's case number), if one has it."""
    stored = session.scalar(select(Incident.id).where(Incident.city_code == city_code,
                                                      Incident.external_id == external_id))
    if stored:
        raise Conflict(f"a case with external id {external_id!r} exists already: case {stored}",
                       code="duplicate_external_id", details={"id": stored})


def open_case(session: Session, city_code: str, category: Category, x: float | None, y: float | None, *,
              source: str, description: str, crs: str = "wgs84", address: str | None = None,
              reporter: User | None = None, reporter_contact: str | None = None,
              external_id: str | None = None, reported_at: datetime | None = None,
              actor: Actor | None = None, component_code: str | None = None, media_url: str | None = None,
              clock: Callable[[Session, Incident], object] | None = None) -> Incident:
    """Store a reported case at (x, y) in `crs` (or at the component it names), routed to its one owner;
    no place -> triage by the centre.

    `clock` (grids.workflow.start_report_clock) sets the stage clock's columns before the case is stored,
    so its INSERT carries them and no UPDATE follows. `media_url` (Open311: a photo kept by the calling
    system) is kept in the report's event.
    """
    external_id = (external_id or "").strip() or None  # " HX-1 " is HX-1, as the bulk import reads it
    _check_lengths(description=description, address=address, reporter_contact=reporter_contact,
                   external_id=external_id, media_url=media_url)
    if external_id:
        _refuse_stored_external_id(session, city_code, external_id)
    if (x is None or y is None) and not component_code:
        loc = unlocated("no_coordinates")
    else:
        loc = locate(session, city_code, x, y, crs=crs, category=category, component_code=component_code)
        check_component(loc, category)  # at report only: an older case can still be relocated
    actor = actor or (Actor.of_user(reporter) if reporter else None)
    incident = Incident(city_code=city_code, source=source, category=category, category_id=category.id,
                        status="reported", description=description, address=address,
                        reporter_contact=reporter_contact, external_id=external_id, version=1)
    apply_location(incident, loc)
    if reported_at:
        check_event_time(session, None, reported_at)
        incident.reported_at = reported_at
    if clock is not None:
        clock(session, incident)
    data = {"source": source, "routing_reason": loc.routing_reason, **({"media_url": media_url} if media_url else {})}
    event = _store_reported(session, incident, actor, data)
    notify(session, incident, event)
    return incident
