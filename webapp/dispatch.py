"""The dispatch centre (指挥调度): a full-height map of the city's open cases with the queue beside it.

The page is server-rendered once; the browser then polls `/dispatch/feed?after=<last id>` so a new case
appears within seconds, and loads one case's details (`/dispatch/cases/<id>`) into a drawer. Both answer
JSON that the page script renders with textContent only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from sqlalchemy import ColumnElement, Date, cast, func, or_, select

from grids.calendar import unknown_years
from grids.incident_io import ONLY, department_condition
from grids.incidents import TEXT_LIMITS, Actor
from grids.layouts import city_date
from grids.models import CaseEvent, Category, City, Department, Division, Incident
from grids.org import city_departments
from grids.workflow import ABSORB_DUPLICATE, ACTIONS, BEFORE_DISPATCH, STAGE_CLOCKS, visible_case, zone_of
from webapp import db
from webapp.api.serialize import CONTACT_ROLES
from webapp.api.v1 import EXPORT_TYPES
from webapp.auth import current_user, require_roles
from webapp.intake import CRS_CHOICES, DEFAULT_CRS, OFFLINE_TEXT, nearby_config, new_token, submit_report
from webapp.labels import action_label, city_time, duration_label, routing_text, source_label
from webapp.pages import (
    OPEN_STATUSES,
    QUEUE_LIMIT,
    approvers_text,
    case_history,
    category_name,
    count_open,
    drawer_actions,
    open_cases,
    safe_json,
    summaries,
    surface_map,
)
from webapp.photos import photo_links
from webapp.plan import RESPONSIBILITY_COLOURS, RESPONSIBILITY_KIND_LABELS, RESPONSIBILITY_STYLE
from webapp.tiles import LAYERS

bp = Blueprint("dispatch", __name__, url_prefix="/dispatch")
# Both report forms' templates (here and the phone's 上报 page) render the nearby list's settings.
bp.add_app_template_global(nearby_config)
FEED_LIMIT = 500  # case events a poll looks at: far more than a city's busiest 3 s
POLL_MS = 3000
#: How a report reached the dispatcher, as the form offers it (the usual first, so preselected): a hotline call
#: and a walk-in are public reports an inspector verifies on site; 指挥中心受理 covers any other way.
INTAKE_CHANNELS = ("hotline", "visit", "dispatcher")
#: Where the owner named by routing is shown as the suggested assignee, and whom that means.
OWNER_LABELS = {"department": _l("部门"), "squad": _l("中队"), "township": _l("乡镇政府（属地兜底）"),
                "centre": _l("指挥中心分拣")}


def _day(value: str | None) -> date | None:
    """A yyyy-mm-dd from the date inputs; anything else means no bound."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Filters:
    """The queue's GET form: ignored values (unknown status, non-numeric ids) mean "any"."""

    status: str = ""
    category: int | None = None
    township: int | None = None
    department: str = ""  # 承办单位 (code): whose cases, e.g. the supervisor's overdue list per department
    overdue: bool = False
    triage: bool = False  # 待分拣: in the city but in no grid, or no usable place at all
    extension: bool = False  # 延期待批: a handler's extension request waits for its approver
    source: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        status = args.get("status", "")
        since, until = _day(args.get("since")), _day(args.get("until"))
        if since and until and since > until:  # 11-29..11-28 means the days between: put in order on the form,
            since, until = until, since  # not an empty queue whose downloads the export refuses (since > until)
        return cls(status=status if status in OPEN_STATUSES else "",
                   category=args.get("category", type=int), township=args.get("township", type=int),
                   department=args.get("department", "")[:32],
                   overdue=args.get("overdue") == "1", triage=args.get("triage") == "1",
                   extension=args.get("extension") == "1",
                   source=args.get("source", "")[:32],
                   since=since, until=until)

    def only(self) -> list[str]:
        """The 只看 boxes ticked (grids.incident_io.ONLY names them)."""
        return [name for name in ONLY if getattr(self, name)]

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.status:
            conditions.append(Incident.status == self.status)
        if self.category is not None:
            minors = select(Category.id).where(Category.parent_id == self.category)
            conditions.append(or_(Incident.category_id == self.category, Incident.category_id.in_(minors)))
        if self.township is not None:
            conditions.append(Incident.township_id == self.township)
        if self.department:
            conditions.append(department_condition(self.department))
        conditions += [ONLY[name] for name in self.only()]
        if self.source:
            conditions.append(Incident.source == self.source)
        return conditions + self._days()

    def export_args(self) -> dict[str, str]:
        """The same choice as the export's query (codes, not ids; closed cases too unless a status is chosen
        or one of 只看超时/待分拣/延期待批, which only open cases meet)."""
        args = {"status": self.status, "since": self.since.isoformat() if self.since else "",
                "until": self.until.isoformat() if self.until else "", "source": self.source,
                "department": self.department,
                **{name: "1" for name in self.only()}}
        if self.category is not None:
            args["category"] = ",".join(db().scalars(select(Category.code).where(
                or_(Category.id == self.category, Category.parent_id == self.category)).order_by(Category.code)))
        if self.township is not None:
            args["township"] = db().scalar(select(Division.code).where(Division.id == self.township)) or ""
        return {name: value for name, value in args.items() if value}

    def _days(self) -> list[ColumnElement[bool]]:
        """The reporting day in the city's own time zone, both bounds included."""
        zone = select(City.timezone).where(City.code == Incident.city_code).scalar_subquery()
        day = cast(func.timezone(zone, Incident.reported_at), Date)
        return [*([day >= self.since] if self.since else []), *([day <= self.until] if self.until else [])]


def _choices() -> dict[str, Any]:
    """The filter form's options (top-level categories, townships, sources) and the intake form's."""
    city = current_app.config["GRIDLINK_CITY"]
    sources = db().scalars(select(Incident.source).where(Incident.city_code == city).distinct()
                           .order_by(Incident.source))
    return {
        "statuses": OPEN_STATUSES,
        "sources": [(s, source_label(s)) for s in sources],
        "minor_categories": [(c.code, category_name(c)) for c in db().scalars(
            select(Category).where(Category.city_code == city, Category.parent_id.is_not(None))
            .order_by(Category.code))],
        "departments": city_departments(db(), city),
        "crs_choices": CRS_CHOICES, "default_crs": DEFAULT_CRS,
        "channels": [(code, source_label(code)) for code in INTAKE_CHANNELS], "intake_token": new_token(),
        "categories": [(c.id, f"{c.code} {category_name(c)}") for c in db().scalars(
            select(Category).where(Category.city_code == city, Category.parent_id.is_(None))
            .order_by(Category.type.desc(), Category.code))],
        "townships": db().scalars(select(Division).where(Division.city_code == city, Division.level == "township")
                                  .order_by(Division.code)).all(),
    }


def _labels() -> dict[str, str]:
    """The few words the page script writes itself, translated here like every other string."""
    return {"unlocated": _("未定位"), "none": "—", "newCases": _("新到 %(n)s 件"),
            "offline": _("连接中断，正在重试…"), "failed": _("操作失败，请重试。"),
            "conflict": _("案件已被他人更改，请重新加载后再操作。"),
            # what changed the open case under the user: who (or someone), the step, when (dispatch.js changeText)
            "conflictBy": _("操作未执行：%(who)s 刚更改了此案件（%(step)s，%(at)s）。已显示最新状态，请确认后再操作。"),
            "updated": _("%(who)s 刚更改了此案件（%(step)s，%(at)s），已显示最新状态。"),
            "someone": _("他人"),
            "offlineOpen": _("连接中断，未能打开案件 #%(id)s，请稍后重试。"),
            "offlineAction": _("连接中断，未能确认操作是否完成。恢复连接后此处会显示案件的最新状态。"),
            "noActions": _("当前状态下你的角色没有可做的操作。"),
            "notePlaceholder": _("备注或理由（返工、挂账、驳回延期、重新立案时必填）"),
            "noteRequired": _("请先填写理由。"), "lon": _("经度"), "lat": _("纬度"),
            "pickPoint": _("在地图上点选新位置（或填写 WGS84 坐标）后再点“重新定位”。"),
            "pickPointIntake": _("新建案件打开时，地图点选填入新建案件：请关闭它后再点选新位置，或填写 WGS84 坐标。"),
            "created": _("已创建案件 #%(id)s。"),
            "intakeOffline": str(OFFLINE_TEXT), "intakeSending": _("正在提交…"),
            "notAvailable": _("当前案件不能执行“%(action)s”。"),
            "bulkResult": _("%(case)s：%(result)s", case="%(case)s", result="%(result)s"),
            "bulkOk": _("成功"), "bulkChanged": _("案件已被他人更改"), "bulkNone": _("框内没有案件。"),
            "selected": _("已选 %(n)s 件"), "noPhotos": _("无照片"),
            "photoKinds": {"before": _("上报照片"), "after": _("处置后照片")},
            "extensionFlag": _("延期待批"), "extensionTitle": _("申请延期 %(t)s，等待审批", t="%(t)s"),
            "returnedFlag": _("已退回"), "reworkFlag": _("返工"), "extensionRejectedFlag": _("延期被驳回"),
            "escalatedFlag": _("督办 ×%(n)s", n="%(n)s"),
            "confirmDuplicate": _("本案件将作废并并入 #%(id)s（上报人和照片转到原案件），不能恢复。确定？")}


@bp.route("")
@require_roles("dispatcher", "supervisor")
def board() -> Any:
    filters = Filters.from_args(request.args)
    cases = summaries(open_cases(*filters.conditions()))
    total = count_open(*filters.conditions()) if len(cases) >= QUEUE_LIMIT else len(cases)
    city = current_app.config["GRIDLINK_CITY"]
    last_event = db().scalar(select(func.max(CaseEvent.id)).where(CaseEvent.city_code == city)) or 0
    parts, names, bounds = surface_map(zone_of(current_user()))
    data = {"cases": cases, "lastEvent": last_event, "pollMs": POLL_MS, "map": names, "bounds": bounds,
            "feedUrl": url_for("dispatch.feed", **request.args), "caseUrl": url_for("dispatch.case", case_id=0),
            "csrf": generate_csrf(), "labels": _labels(), "actionLabels": {a: action_label(a) for a in ACTIONS},
            "openStatuses": OPEN_STATUSES, "intakeUrl": url_for("dispatch.intake"), "duty": _duty_layer(),
            "noteLimit": TEXT_LIMITS["description"]}
    duty_kinds = [(RESPONSIBILITY_COLOURS[k], label) for k, label in RESPONSIBILITY_KIND_LABELS.items()]
    exports = {fmt: url_for("api_v1.export_incidents", fmt=fmt, **filters.export_args()) for fmt in EXPORT_TYPES}
    return render_template("dispatch.html", cases=cases, total=total, filters=filters, data=data, map_parts=parts,
                           duty_kinds=duty_kinds, exports=exports, **_choices(),
                           unknown_years=unknown_years(db(), city, city_date(db(), city)))


def _duty_layer() -> dict[str, Any]:
    """The 责任网格 overlay the page script adds: the published duty areas' tiles, styled as on /plan."""
    return {"url": request.script_root + "/tiles/responsibility/{z}/{x}/{y}.pbf",
            "minZoom": LAYERS["responsibility"].min_zoom, "style": RESPONSIBILITY_STYLE,
            "colours": RESPONSIBILITY_COLOURS}


@bp.route("/feed")
@require_roles("dispatcher", "supervisor")
def feed() -> Any:
    """What changed since the case event `after`, by anyone: the touched cases that are open and pass the page's
    filters (new reports, a reopened case, a new status or deadline), the ids of those that left the queue
    (closed, cancelled, filtered out), and the new cursor. Every workflow step writes an event, so no change is
    missed, whoever made it (another dispatcher, a department, the overdue sweep); of a burst larger than
    FEED_LIMIT events between two polls (a bulk import) only the latest come, and a reload shows the rest."""
    after = request.args.get("after", 0, type=int)
    events = db().execute(select(CaseEvent.id, CaseEvent.incident_id)
                          .where(CaseEvent.city_code == current_app.config["GRIDLINK_CITY"], CaseEvent.id > after)
                          .order_by(CaseEvent.id.desc()).limit(FEED_LIMIT)).all()
    touched = {incident_id for _, incident_id in events}
    conditions = Filters.from_args(request.args).conditions()
    cases = sorted(open_cases(Incident.id.in_(touched), *conditions), key=lambda c: c.id) if touched else []
    return safe_json({"cases": summaries(cases), "gone": sorted(touched - {c.id for c in cases}),
                      "lastEvent": events[0].id if events else after,
                      # the header's count when anything changed: the queue lists at most QUEUE_LIMIT of them
                      "open": count_open(*conditions) if touched else None})


@bp.route("/cases/<int:case_id>")
@require_roles("dispatcher", "supervisor")
def case(case_id: int) -> Any:
    """One case for the drawer: summary, routing reason, history and the version an action must quote."""
    incident = visible_case(db(), Actor.of_user(current_user()), case_id)
    summary = summaries([incident])[0]
    reason = routing_text(incident.routing_steps, incident.routing_reason)
    history = case_history(incident)
    return safe_json({**summary, "routing_reason": reason, "version": incident.version,
                      "squad": incident.squad.name if incident.squad else None,
                      "suggestion": _suggestion(incident), "photos": photo_links(incident.id),
                      "history": history, "actions": drawer_actions(current_user(), incident),
                      "stage_due": stage_text(incident), "extension_request": _extension_text(incident, history),
                      "category_code": incident.category.code, **_reporter(incident),
                      # the category's standard: what 立案 needs, what counts as done at 核查 and 结案
                      "filing_condition": incident.category.filing_condition,
                      "closing_condition": incident.category.closing_condition,
                      "actionsUrl": f"{request.script_root}/api/v1/incidents/{incident.id}/actions",
                      "duplicateUrl": f"{request.script_root}/api/v1/incidents/{incident.id}/duplicate-of"})


def _reporter(incident: Incident) -> dict[str, Any]:
    """Where the report came from (with the sending system's number: a hotline's 工单号), and how to call the
    reporters back (the case's own, then those of the duplicates merged into it): only for the roles the API
    shows contacts to (CONTACT_ROLES), so the drawer tells no one more than the API would."""
    source = {"source": source_label(incident.source), "external_id": incident.external_id}
    if current_user().role not in CONTACT_ROLES:
        return source
    merged = db().execute(select(CaseEvent.data["duplicate"].astext, CaseEvent.data["reporter_contact"].astext)
                          .where(CaseEvent.incident_id == incident.id, CaseEvent.action == ABSORB_DUPLICATE,
                                 CaseEvent.data["reporter_contact"].astext.is_not(None))
                          .order_by(CaseEvent.seq)).all()
    contacts = [incident.reporter_contact] if incident.reporter_contact else []
    contacts += [_("%(contact)s（重复上报 #%(id)s）", contact=contact, id=case_id) for case_id, contact in merged]
    return {**source, "reporter_contact": _("；").join(contacts) or None}


def _extension_text(incident: Incident, history: list[dict[str, Any]]) -> str | None:
    """The waiting extension request in words, with its reason and who decides it: a second one waits for a
    higher approver, so a supervisor seeing no 批准 button reads why."""
    if not incident.extension_request:
        return None
    reason = next((e["note"] for e in reversed(history) if e["action"] == "request_extension"), None)
    amount = duration_label(incident.extension_request)
    request = _("%(amount)s（理由：%(reason)s）", amount=amount, reason=reason) if reason else amount
    return _("%(request)s，等待%(who)s审批", request=request, who=approvers_text(incident))


#: The stage whose working-time clock runs in a state (grids.workflow.STAGE_CLOCKS), as the drawer names it.
STAGE_LABELS = {"file": _l("立案"), "dispatch": _l("派遣"), "handle": _l("处置"), "check": _l("核查"),
                "close": _l("结案")}


def stage_text(incident: Incident) -> str | None:
    """Whose move it is and by when, e.g. 派遣，2026-11-26 14:30 到期; None when no stage clock runs."""
    stage = STAGE_CLOCKS.get(incident.status)
    if stage is None:
        return None
    if incident.deadline_at is None:
        return _("%(stage)s，无时限", stage=STAGE_LABELS[stage])
    return _("%(stage)s，%(due)s 到期", stage=STAGE_LABELS[stage], due=city_time(incident.deadline_at))


def _suggestion(incident: Incident) -> dict[str, Any]:
    """Whom routing named as the one owner (责任主体) and why: the dispatcher's default assignee."""
    department = db().get(Department, incident.department_id) if incident.department_id else None
    names = {"department": department.name if department else None,
             "squad": incident.squad.name if incident.squad else None,
             "township": incident.township.name if incident.township else None}
    kind = incident.owner_type or "centre"
    heading = _("建议派遣对象") if incident.status in BEFORE_DISPATCH else _("承办单位")  # suggested, then sent to
    return {"heading": heading, "kind": str(OWNER_LABELS.get(kind, kind)), "name": names.get(kind) or "—",
            "department": department.code if department else None,
            "reason": routing_text(incident.routing_steps, incident.routing_reason)}


@bp.post("/cases")
@require_roles("dispatcher", "supervisor")
def intake() -> Any:
    """新建案件: the dispatcher's report form (a phone call, a walk-in), as JSON for the page script."""
    return submit_report("dispatcher", lambda case_id: url_for("dispatch.board", _anchor=f"case-{case_id}"),
                         require_description=True, channels=INTAKE_CHANNELS)
