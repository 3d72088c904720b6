"""Pages shared by every surface (home, department inbox, plan, reports, language, /healthz) and the case
helpers the surfaces share: zones, deadline classes, urgency order and the case JSON the maps read.

Why the case helpers live here for now: they are read-only presentation of the domain (what a user may
see, how late a case is in words); the workflow rules themselves belong to grids/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from jinja2.utils import htmlsafe_json_dumps
from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import selectinload

from grids.db import INSTALLED_POSTGIS
from grids.incidents import CENTRE
from grids.models import CaseEvent, Category, Department, Division, Grid, Incident, User, extension_approvers
from grids.org import city_departments
from grids.workflow import (
    CANCEL_REASONS,
    CLOSED_STATES,
    OPEN_STATES,
    RULES,
    TRANSITIONS,
    Zone,
    case_conditions,
    deadline_class,
    is_dispatched,
    latest_event,
    local_owner,
    may_take,
    report_objection,
    zone_of,
)
from webapp import db, remember_language
from webapp.auth import ROLE_PAGES, current_user, home_url, require_roles
from webapp.labels import (
    CANCEL_REASON_LABELS,
    CANCEL_REASON_SHORT,
    action_label,
    city_time,
    data_credit,
    duration_label,
    event_note,
    field_label,
    localized_name,
    role_label,
    status_label,
)
from webapp.maps import (
    GridlinkMap,
    MapParts,
    add_place_labels,
    add_plugins,
    add_vector_grid,
    base_map,
    render_map_parts,
)
from webapp.photos import bp as photos_bp
from webapp.photos import photo_links_of
from webapp.reports import ranking_page

bp = Blueprint("pages", __name__)
bp.register_blueprint(photos_bp)  # /photos/<id>: shared by every surface, like the other pages here

OPEN_STATUSES = OPEN_STATES
#: Queue order: late first, then nearly late, then cases with no running clock (parked, or a stage without
#: a limit), then the rest.
URGENCY = ("overdue", "due_soon", "none", "on_time")
DEADLINE_LABELS = {"overdue": _l("已超时"), "due_soon": _l("即将到期"), "on_time": _l("按时"),
                   "none": _l("无时限")}
#: Fields the drawer can supply: a free-text note (sent as note and reason), a field an action picks from a
#: list (CHOICES), a point clicked on the map (relocate), and after-photos (处置反馈, sent as files).
PHOTO_FIELD = "after_photo"
DRAWER_FIELDS = ("note", "reason", "department", "duration", "lon", "lat", PHOTO_FIELD)
NOTE_FIELDS = {"note", "reason"}  # typed into the drawer's note; the rest come from a list or the map
#: The extensions a department picks from (working time, grids.calendar): the phone form takes any amount.
EXTENSION_DURATIONS = ("4h", "1d", "2d", "3d", "5d")


def _department_options(case: Incident, chosen: int | None = None, *, other: bool = False) -> list[dict[str, Any]]:
    """The city's departments; `chosen` (the one the rules named, for 派遣) comes picked; `other` (改派) leaves
    out the department that has the case."""
    mine = case.department_id if other and case.owner_type == "department" else None
    return [{"value": d.code, "label": d.name, **({"selected": True} if d.id == chosen else {})}
            for d in city_departments(db(), case.city_code) if d.id != mine]


def _local_option(case: Incident) -> list[dict[str, Any]]:
    """派遣 with no department, for a case no department has (none routed, or one returned it): it goes to the
    case's local_owner (grids.workflow._dispatch_locally). Picked first for a case no department ever had; a case
    given back (退回) is the centre's to place anew, as for 改派: with the squad picked, one keypress sent a case a
    department had returned as "城建's, not ours" to the squad. The page sends no department for it."""
    local = local_owner(case)
    if case.department_id is not None or local is None:
        return []
    returned = case.owner_type == CENTRE  # 退回 gives it to the centre (a case with a local owner is no one else's)
    return [{"value": "local", "label": _("不派部门：由%(name)s承办", name=local[1].name), "local": True,
             **({} if returned else {"selected": True})}]


#: Actions whose field takes one of a list: the field, and the options (value, words) for a case. The
#: workflow checks the value again (a cancel is for a duplicate or an invalid report, nothing else).
CHOICES: dict[str, tuple[str, Callable[[Incident], list[dict[str, Any]]]]] = {
    "cancel": ("reason", lambda case: [{"value": code, "label": str(CANCEL_REASON_LABELS[code])}
                                       for code in CANCEL_REASONS]),
    "dispatch": ("department", lambda case: [*_local_option(case), *_department_options(case, case.department_id)]),
    "redispatch": ("department", lambda case: _department_options(case, other=True)),
    "request_extension": ("duration", lambda case: [{"value": value, "label": duration_label(value)}
                                                    for value in EXTENSION_DURATIONS]),
}
QUEUE_LIMIT = 500


def now_utc() -> datetime:
    return datetime.now(UTC)


def time_left_text(deadline: datetime | None, now: datetime) -> str:
    """'剩余 2 小时' / '超时 3 小时' (English: '2 h left' / '3 h overdue'), in the largest whole unit."""
    if deadline is None:
        return str(DEADLINE_LABELS["none"])
    seconds = abs((deadline - now).total_seconds())
    if seconds >= 48 * 3600:
        amount = _("%(n)d 天", n=int(seconds // 86400))
    elif seconds >= 3600:
        amount = _("%(n)d 小时", n=int(seconds // 3600))
    else:
        amount = _("%(n)d 分钟", n=max(1, int(seconds // 60)))
    return _("剩余 %(t)s", t=amount) if deadline >= now else _("超时 %(t)s", t=amount)


def urgency_key(case: Incident, now: datetime) -> tuple[int, float, int]:
    """Sort key of the queue; the same numbers go to the browser so live arrivals slot in place. The case id
    breaks ties (cases taken in together share their deadline): a row put back after a look keeps its place."""
    at = case.due_at or case.reported_at
    return URGENCY.index(deadline_class(case.due_at, now)), at.timestamp(), case.id


def open_cases(*conditions: ColumnElement[bool], limit: int = QUEUE_LIMIT) -> list[Incident]:
    """Open cases of the city matching `conditions`, most urgent first."""
    city = current_app.config["GRIDLINK_CITY"]
    query = (select(Incident).where(Incident.city_code == city, Incident.status.in_(OPEN_STATUSES), *conditions)
             .options(selectinload(Incident.category), selectinload(Incident.township),
                      selectinload(Incident.department), selectinload(Incident.squad),
                      selectinload(Incident.grid).load_only(Grid.code))
             .order_by(Incident.due_at.nulls_last(), Incident.reported_at, Incident.id).limit(limit))
    now = now_utc()
    return sorted(db().scalars(query), key=lambda c: urgency_key(c, now))


def count_open(*conditions: ColumnElement[bool]) -> int:
    """How many open cases match, beyond the QUEUE_LIMIT that open_cases lists."""
    city = current_app.config["GRIDLINK_CITY"]
    return db().scalar(select(func.count()).select_from(Incident).where(
        Incident.city_code == city, Incident.status.in_(OPEN_STATUSES), *conditions)) or 0


def category_name(category: Category) -> str:
    return localized_name(category.name, category.name_en)


def where(case: Incident) -> str | None:
    """Where a list says a case is: its township, else its grid (a city drawn without townships, such as one
    with only its districts, read 未定位 for a case in a grid), else 不在网格内 for a place no grid covers (it
    read 未定位 beside its pin on the map), else None (未定位: no place at all)."""
    if case.township is not None:
        return case.township.name
    if case.grid is not None:
        return _("网格 %(code)s", code=case.grid.code)
    return _("不在网格内") if case.location is not None else None


def case_summary(case: Incident, now: datetime, point: tuple[float, float] | None,
                 news: tuple[str, str] | None = None, escalated: int = 0) -> dict[str, Any]:
    """What a queue row, a marker and its tooltip show; plain values, rendered as text by the browser.
    `news`: the step whose words someone must read, and those words (_news); `escalated`: how many times the
    case was 督办'd (_escalations)."""
    said = dict([news]) if news else {}
    klass, due = deadline_class(case.due_at, now), case.due_at
    return {
        "id": case.id, "lat": point[0] if point else None, "lon": point[1] if point else None,
        "status": case.status, "status_label": status_label(case.status),
        "category": category_name(case.category), "description": case.description, "address": case.address,
        "township": where(case),
        "deadline_class": klass, "deadline_label": str(DEADLINE_LABELS[klass]),
        "due_text": "—" if case.status in CLOSED_STATES else time_left_text(due, now),  # no clock
        # the working-time deadline itself: the countdown counts wall hours, so "剩余 2 天" on a Friday evening
        # may be Monday 09:00; a phone shows both
        "due_at": _("%(t)s 到期", t=city_time(due)[5:])  # 11-30 14:00: this year's, as a clock reads
        if due is not None and case.status not in CLOSED_STATES else "",
        "reported_at": city_time(case.reported_at),
        "urgency": list(urgency_key(case, now)),
        # a 申请延期 waiting for its approver (how long it asks): rows flag it, the approver's queue filters it
        "extension_pending": duration_label(case.extension_request) if case.extension_request else None,
        "returned": said.get("return"),  # 已退回: to be dispatched again, not a fresh filing
        "reworked": said.get("rework"),  # 返工: the check failed, and why; the handler's to do again
        # the answer to the handler's 申请延期: the reason it was refused, or the time it was granted
        "extension_rejected": said.get("reject_extension"), "extension_granted": said.get("approve_extension"),
        "owner": _owner_name(case),  # 承办: who is late when the row is red
        "escalated": escalated,
    }


def _owner_name(case: Incident) -> str | None:
    """The one accountable owner's name once the case is with them (a department, else the squad); before
    派遣 the rules' choice is only a suggestion (the drawer's 建议派遣对象)."""
    if not is_dispatched(case):
        return None
    if case.owner_type == "department" and case.department is not None:
        return case.department.name
    return case.squad.name if case.owner_type == "squad" and case.squad is not None else None


def case_points(cases: list[Incident]) -> dict[int, tuple[float, float]]:
    """(lat, lon) of many cases in one query."""
    if not cases:
        return {}
    rows = db().execute(select(Incident.id, func.ST_Y(Incident.location), func.ST_X(Incident.location))
                        .where(Incident.id.in_([c.id for c in cases]), Incident.location.is_not(None)))
    return {case_id: (lat, lon) for case_id, lat, lon in rows}


WORKED_STATES = ("dispatched", "in_progress")  # with its handler
#: The steps whose words someone must read next: a 退回 (the centre places the case again), a 返工 (why the check
#: failed) and the answer to an extension request (the handler goes on). The latest of these and of the steps
#: that answer them (the handler's, a new 派遣) counts: once someone acted on the news, it is old.
NEWS = {"return": ("filed",), "rework": WORKED_STATES, "approve_extension": WORKED_STATES,
        "reject_extension": WORKED_STATES}
NEWS_READ = ("handle", "request_extension", "dispatch", "redispatch", "park")


def _news(cases: list[Incident]) -> dict[int, tuple[str, str]]:
    """(step, its words) of the cases with news (NEWS) for whoever has them now (one query)."""
    waiting = [c.id for c in cases if any(c.status in states for states in NEWS.values())]
    if not waiting:
        return {}
    steps = select(CaseEvent.incident_id, CaseEvent.action, CaseEvent.note, CaseEvent.data).where(
        CaseEvent.action.in_([*NEWS, *NEWS_READ]))
    status = {c.id: c.status for c in cases}
    return {row.incident_id: (row.action, _news_words(row.action, row.note, row.data))
            for row in db().execute(latest_event(steps, waiting))
            if status[row.incident_id] in NEWS.get(row.action, ())}


def _news_words(action: str, note: str | None, data: dict[str, Any] | None) -> str:
    """A granted extension by its length (1 个工作日), anything else by the reason given."""
    if action == "approve_extension":
        return duration_label((data or {}).get("duration"))
    return note or ""


def _escalations(cases: list[Incident]) -> dict[int, int]:
    """How many times each case was 督办'd, by the sweeper or a supervisor (one query)."""
    if not cases:
        return {}
    return dict(db().execute(select(CaseEvent.incident_id, func.count()).where(
        CaseEvent.incident_id.in_([c.id for c in cases]), CaseEvent.action == "escalate")
        .group_by(CaseEvent.incident_id)).all())


def summaries(cases: list[Incident]) -> list[dict[str, Any]]:
    now, points, news, escalated = now_utc(), case_points(cases), _news(cases), _escalations(cases)
    return [case_summary(c, now, points.get(c.id), news.get(c.id), escalated.get(c.id, 0)) for c in cases]


def _event_detail(action: str, data: dict[str, Any], departments: dict[str, str]) -> str:
    """What an action decided: to whom a 派遣/改派 went, how long a 申请延期 asked for, which case a duplicate
    joined (作废 as 重复), why a case was cancelled (a typed note beside it did not say whether it was a
    repeat or invalid), or which duplicate a case took in (合并重复上报)."""
    if data.get("original"):
        return _("重复于 #%(id)s", id=data["original"])
    if action == "cancel" and data.get("reason") in CANCEL_REASON_SHORT:
        return str(CANCEL_REASON_SHORT[data["reason"]])
    if data.get("duplicate"):
        return f"#{data['duplicate']}"
    return departments.get(data.get("department", ""), "") or duration_label(data.get("duration"))


def _event_label(event: CaseEvent, departments: dict[str, str]) -> str:
    """The action in words with what it decided (_event_detail)."""
    detail = _event_detail(event.action, event.data or {}, departments)
    label = action_label(event.action)
    return _("%(action)s（%(detail)s）", action=label, detail=detail) if detail else label


_EVENTS_WITH_ACTORS = select(CaseEvent, User.display_name).outerjoin(User, User.id == CaseEvent.actor_id)


def _history_items(rows: Sequence[Row[tuple[CaseEvent, str | None]]]) -> list[dict[str, Any]]:
    """Events (with their actor's name) as the timeline shows them: the action and what it decided in words."""
    departments = dict(db().execute(select(Department.code, Department.name)
                                    .where(Department.city_code == current_app.config["GRIDLINK_CITY"])).all())
    reader = current_user()
    return [{"at": city_time(e.at), "action": e.action,
             "action_label": _event_label(e, departments), "actor": actor,
             # the reader's own step (a bulk action, another tab) is no news to announce to them
             "mine": reader is not None and e.actor_id == reader.id,
             # a status only where the action changed it: 申请延期 or 督办 leave the case where it was
             "to_status": status_label(e.to_status) if e.to_status and e.to_status != e.from_status else None,
             "note": event_note(e.action, e.note)}
            for e, actor in rows]


def case_history(case: Incident) -> list[dict[str, Any]]:
    """The case's events in order, for the timeline."""
    return _history_items(db().execute(_EVENTS_WITH_ACTORS.where(CaseEvent.incident_id == case.id)
                                       .order_by(CaseEvent.seq)).all())


def case_histories(case_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Every case's events in order as the timeline shows them (one query): a handler's inbox keeps what it was
    told earlier (a 返工's reason, a 督办) after later steps follow."""
    rows = db().execute(_EVENTS_WITH_ACTORS.where(CaseEvent.incident_id.in_(case_ids))
                        .order_by(CaseEvent.incident_id, CaseEvent.seq)).all()
    histories: dict[int, list[dict[str, Any]]] = {case_id: [] for case_id in case_ids}
    for (event, _actor), item in zip(rows, _history_items(rows), strict=True):
        histories[event.incident_id].append(item)
    return histories


def zone_bounds(zone: Zone) -> list[list[float]]:
    """[[south, west], [north, east]] of the user's township, or of the whole city."""
    city = current_app.config["GRIDLINK_CITY"]
    where = Division.id == zone.township_id if zone.township_id else Division.level == "city"
    box = func.ST_Extent(Division.geom)
    row = db().execute(select(func.ST_YMin(box), func.ST_XMin(box), func.ST_YMax(box), func.ST_XMax(box))
                       .where(Division.city_code == city, where)).one()
    south, west, north, east = (v if v is not None else 0.0 for v in row)
    return [[south, west], [north, east]]


#: Leaflet path styles of the tile layers: divisions as dark outlines, grids as faint hairlines.
DIVISION_STYLE = {"color": "#24496e", "weight": 2, "opacity": 0.8, "fill": True, "fillColor": "#24496e",
                  "fillOpacity": 0.03}
GRID_STYLE = {"color": "#6f8399", "weight": 0.6, "opacity": 0.7, "fill": False}


def app_map(center: tuple[float, float], zoom: int) -> GridlinkMap:
    """A map of this app: its self-hosted files, the configured basemap, the city data's credit, controls in the
    page's language."""
    config = current_app.config
    return base_map(center=center, zoom=zoom, static_url=lambda path: url_for("static", filename=path),
                    basemap_url=config.get("GRIDLINK_BASEMAP_URL"),
                    basemap_attribution=config.get("GRIDLINK_BASEMAP_ATTRIBUTION"),
                    attribution_extra=data_credit(), chinese_controls=str(get_locale()) != "en")


def township_labels(zone: Zone) -> list[tuple[str, float, float]]:
    """(name, lat, lon) of the zone's townships, at a point inside each (a centroid may fall outside), in code
    order: where names would collide on the map, the one earlier in it keeps its name."""
    inside = func.ST_PointOnSurface(Division.geom)
    where = Division.id == zone.township_id if zone.township_id else Division.level == "township"
    return [tuple(row) for row in db().execute(
        select(Division.name, func.ST_Y(inside), func.ST_X(inside))
        .where(Division.city_code == current_app.config["GRIDLINK_CITY"], where)
        .order_by(Division.code))]


def tiled_map(bounds: list[list[float]], zoom: int) -> tuple[GridlinkMap, str, Any]:
    """A map centred on `bounds` with the divisions beneath everything as vector tiles, as every map page starts:
    the map, the tile URL template its other layers use, and the divisions layer."""
    m = app_map(((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2), zoom)
    tiles = request.script_root + "/tiles/{layer}/{z}/{x}/{y}.pbf"
    divisions = add_vector_grid(m, url_template=tiles, layer_name="divisions", style=DIVISION_STYLE,
                                name=_("行政区划"))
    return m, tiles, divisions


def surface_map(zone: Zone) -> tuple[MapParts, dict[str, str], list[list[float]]]:
    """The case map every surface shares: divisions and grids as vector tiles, clustered cases, heat.

    Returns the rendered parts, the JavaScript names of the map and its layers (the page script adds
    markers to them) and the bounds to fit.
    """
    bounds = zone_bounds(zone)
    m, tiles, divisions = tiled_map(bounds, 11)
    grids = add_vector_grid(m, url_template=tiles, layer_name="grids", style=GRID_STYLE, name=_("单元网格"))
    add_place_labels(m, township_labels(zone))
    plugins = add_plugins(m, cluster=True, heat=True)
    assert plugins.cluster is not None and plugins.heat is not None
    names = {"map": m.get_name(), "divisions": divisions.get_name(), "grids": grids.get_name(),
             "cluster": plugins.cluster.get_name(), "heat": plugins.heat.get_name()}
    return render_map_parts(m, nonce=g.csp_nonce), names, bounds


def drawer_actions(user: User, case: Incident) -> list[dict[str, Any]]:
    """The workflow actions the user's role may take on the case now, from the workflow's own table.

    The API checks again on submit; this only decides which buttons to show.
    """
    return [{"action": t.action, "label": action_label(t.action),
             "needsNote": bool((NOTE_FIELDS & set(t.required)) - {CHOICES.get(t.action, ("",))[0]}),
             "point": "lon" in t.required, "needsPhoto": PHOTO_FIELD in t.required, **_choice(t.action, case)}
            for t in TRANSITIONS if case.status in t.sources and offered(user, case, t.action)
            and set(t.required) <= set(DRAWER_FIELDS)]


def offered(user: User, case: Incident, action: str) -> bool:
    """Whether a page offers the action: the workflow's table allows it to the user's role in the case's state,
    and the case is ready for it (OFFERED_WHEN). The workflow checks again (role, zone, version) on submit."""
    rule = RULES.get((case.status, action))
    return (rule is not None and may_take(user.role, rule, case)
            and OFFERED_WHEN.get(action, lambda _case: True)(case)
            and (user.role == "admin" or report_objection(db(), user.id, action, case) is None))


#: Actions the table allows in the state but the case must also be ready for: a button that can only get an
#: error back is not shown (one extension request at a time; an answer needs a request).
OFFERED_WHEN: dict[str, Callable[[Incident], bool]] = {
    "request_extension": lambda case: not case.extension_request,
    "approve_extension": lambda case: bool(case.extension_request),
    "reject_extension": lambda case: bool(case.extension_request),
}


#: Actions that cannot be taken back by the one who takes them: the drawer asks before sending.
CONFIRM = {"cancel": _l("作废后案件不再处理，也不能恢复。确定作废此案件？"),
           "close": _l("结案后案件归档，只有值班长可以重新立案。确定结案？"),
           # one click notified the owner and the supervisors, and each one counts (督办 ×N on the queue)
           "escalate": _l("督办会通知承办单位和值班长，并记入处理记录。确定督办此案件？")}


def _choice(action: str, case: Incident) -> dict[str, Any]:
    """The list the action picks its field from (none chosen until the user picks), and its confirmation."""
    confirm = {"confirm": str(CONFIRM[action])} if action in CONFIRM else {}
    if action not in CHOICES:
        return confirm
    name, options = CHOICES[action]
    return {"choice": {"field": name, "options": options(case), "prompt": str(_("请选择%(what)s",
                                                                                what=field_label(name)))},
            **confirm}


def safe_json(payload: Any) -> Response:
    """JSON with <, >, & and ' escaped as \\u sequences, so even a misused response cannot become markup."""
    return Response(htmlsafe_json_dumps(payload, ensure_ascii=False), mimetype="application/json")


@bp.route("/")
def index() -> Any:
    user = current_user()
    return redirect(home_url(user) if user else url_for("auth.login"))


#: The department's cases it can do nothing on, under a heading true of every case below it: whom they wait on.
WAITING_HEADINGS = {"handled": _l("已处置，等待核查"), "checked": _l("已核查，等待结案"),
                    "parked": _l("已挂账，暂缓处置")}


def approvers_text(case: Incident) -> str:
    """Who decides the case's waiting extension request (a second one needs a higher approval), in words."""
    return _("或").join(role_label(role) for role in extension_approvers(case.extensions))


def _inbox_rows(user: User, cases: list[Incident]) -> list[dict[str, Any]]:
    """The cards: each case with the version an action must quote, the actions it allows (but those that take a
    point on the map: the inbox has none) and its whole history."""
    photos = photo_links_of([c.id for c in cases])
    histories = case_histories([c.id for c in cases])
    return [{**row, "version": case.version, "photos": photos[case.id],
             "actions": [a for a in drawer_actions(user, case) if not a["point"]],
             "history": histories[case.id], "last": histories[case.id][-1] if histories[case.id] else None,
             "approvers": approvers_text(case) if case.extension_request else None,
             "actions_url": f"{request.script_root}/api/v1/incidents/{case.id}/actions"}
            for case, row in zip(cases, summaries(cases), strict=True)]


def _waiting_groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cards without actions, one group per status in the workflow's order, headed by whom they wait on."""
    statuses = [s for s in OPEN_STATES if any(r["status"] == s for r in rows)]
    return [{"status": s, "heading": str(WAITING_HEADINGS.get(s, status_label(s))),
             "cases": [r for r in rows if r["status"] == s]} for s in statuses]


#: How often an open inbox reads itself again: new cases, and cards others changed (a clerk keeps it open all day).
INBOX_POLL_MS = 30_000


@bp.route("/department")
@require_roles("department")
def department() -> Any:
    """The department's inbox: the cases to act on, then those waiting on others, grouped by whom they wait on."""
    user = current_user()
    rows = _inbox_rows(user, open_cases(*case_conditions(zone_of(user))))  # the zone: cases dispatched to it
    labels = {"failed": _("操作失败，请重试。"), "conflict": _("案件已被他人更改，请重新加载后再操作。"),
              "changed": _("操作未执行：案件刚被他人更改（%(step)s），现为“%(status)s”。"),
              "kept": _("按钮已按最新状态更新，填写的内容仍在，请核对后再提交。"),
              "gone": _("操作未执行：此案件已不归本部门处理（已改派或已撤回）。"),
              "noteRequired": {"handle": _("请先填写处置说明。"), "return": _("请先填写退回理由。"),
                               "request_extension": _("请先填写延期理由。")},
              "photoRequired": _("请拍摄或选择至少一张处置后照片。"), "done": _("已完成：%(action)s"),
              "newCases": _("新派来 %(n)s 件案件", n="%(n)s"),
              "refreshed": _("此案件刚有新进展（%(step)s），已显示最新状态。", step="%(step)s"),
              "typedKept": _("填写的内容仍在。"), "left": _("此案件已不在本部门待办中（已改派、撤回或办结）。")}
    return render_template("department.html", todo=[r for r in rows if r["actions"]],
                           waiting=_waiting_groups([r for r in rows if not r["actions"]]),
                           data={"csrf": generate_csrf(), "labels": labels, "pollMs": INBOX_POLL_MS})


@bp.route("/reports")
@require_roles(*(role for role, pages in ROLE_PAGES.items() if "reports" in pages))
def reports() -> Any:
    """统计评价 (webapp.reports): open to the roles whose menu has it (webapp.auth.ROLE_PAGES)."""
    return ranking_page()


@bp.route("/about")
def about() -> Any:
    return render_template("about.html")


@bp.route("/lang/<code>")
def switch_language(code: str) -> Any:
    response = make_response(redirect(request.referrer if request.referrer else url_for("pages.index")))
    remember_language(response, code)
    return response


@bp.route("/healthz")
def healthz() -> Any:
    """Liveness for load balancers and operators: database reachable and PostGIS version."""
    version = db().execute(INSTALLED_POSTGIS).scalar()
    if not version:
        return jsonify({"status": "error", "database": "ok", "postgis": None,
                        "message": "PostGIS is not installed in this database: run `gridlink db upgrade`"}), 503
    return jsonify({"status": "ok", "database": "ok", "postgis": version})
