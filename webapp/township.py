"""Township squads (乡镇中队) on their phones: their zone's map, "my tasks" by deadline, a case page with the
way there, handling feedback with an after-photo and extension requests, and 上报 in three taps.
Only the user's township exists here: another township's case is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, false, or_, select, true

from grids.errors import Conflict, Invalid
from grids.incidents import Actor
from grids.models import Category, Division, Incident, Squad, User
from grids.photos import handle_with_photos
from grids.workflow import (
    RULES,
    TOWNSHIP_ROLES,
    act,
    case_conditions,
    reported_by,
    reported_on_site,
    visible_case,
    zone_of,
)
from webapp import db
from webapp.api.serialize import CONTACT_ROLES
from webapp.auth import current_user, require_roles
from webapp.errors import error_text
from webapp.intake import (
    CRS_CHOICES,
    OFFLINE_TEXT,
    field_errors,
    new_token,
    pictures_or_errors,
    quick_categories,
    submit_report,
)
from webapp.labels import source_label
from webapp.pages import case_history, category_name, offered, open_cases, summaries, surface_map
from webapp.photos import photo_links, upload_root

bp = Blueprint("township", __name__, url_prefix="/township")
EXTENSION_UNITS = ("h", "d")
#: Steps taken on the spot with one tap and an optional note: 核实 a report, 接单 a dispatched case, 核查
#: a handled one (a failed check is a note to the centre, which sends it back for 返工).
ON_THE_SPOT = {"verify": (_l("核实属实"), _l("已核实，等待立案。")),
               "refute": (_l("核实不属实"), _l("已报指挥中心：现场不属实，由其作废。")),
               "accept": (_l("接单"), _l("已接单。")),
               "check": (_l("核查通过"), _l("已核查，等待结案。")),
               "rework": (_l("核查不通过"), _l("已退回处置单位返工。")),
               "return": (_l("退回指挥中心"), _l("已退回指挥中心，由其改派。"))}
#: The steps whose typed note is their required reason, and what to write when it is missing: what was found
#: instead of the report; what is still wrong on site; why the case is not the squad's (a squad given a case
#: not theirs had no way to give it back).
REASONED = {"refute": _l("请写明现场所见（例如现场没有上报的问题），指挥中心据此作废。"),
            "rework": _l("请写明现场还有什么问题，处置单位据此返工。"),
            "return": _l("请写明退回原因（例如不属于本中队的职责或辖区），指挥中心据此改派。")}
#: 我的任务 by role (DOMAIN §4): the inspector verifies public and hotline reports (staff's own are first-hand)
#: and checks feedback in the zone; a co-manager
#: does both in their own grids (a department's work: the squad does not check its own); officers work the
#: squad's dispatched cases (a functional department's case in its grids is the department's).
TASKS = {"inspector": ("verify", "check"), "co_manager": ("verify", "check_others"),
         "officer": ("squad_work",), "squad_leader": ("squad_work",)}
GRID_BOUND = ("co_manager",)  # whose tasks are kept to the grids they co-manage
#: What an empty 我的任务 says will appear there, by role.
_SQUAD_TASKS = _l("暂无任务：指挥中心派给本中队的案件会出现在这里，按时限排序。")
NO_TASKS = {"officer": _SQUAD_TASKS, "squad_leader": _SQUAD_TASKS,
            "co_manager": _l("暂无任务：你协管的网格里待核实的上报、待核查的处置会出现在这里，按时限排序。"),
            "inspector": _l("暂无任务：待核实的上报和待核查的处置会出现在这里，按时限排序。")}
MAX_EXTENSION = 99
MAX_NOTE = 4000


def _to_act(user: User) -> ColumnElement[bool]:
    """My tasks: what my role is there to do on site (TASKS) and whatever is assigned to me by name."""
    work = {"verify": (Incident.status == "reported") & ~reported_on_site(),  # 核实 a public or hotline report
            "check": Incident.status == "handled",
            "check_others": (Incident.status == "handled") & ~Incident.worked_by_squad,  # never the squad's own
            "squad_work": (Incident.squad_id == user.squad_id if user.squad_id is not None else false())
            & Incident.status.in_(("dispatched", "in_progress")) & Incident.worked_by_squad}
    tasks = and_(or_(false(), *(work[kind] for kind in TASKS.get(user.role, ()))),
                 *case_conditions(zone_of(user)))  # not my own report in the next township: that I only follow
    if user.role in GRID_BOUND:
        tasks = tasks & (Incident.co_manager_id == user.id)
    return or_(Incident.assignee_id == user.id, tasks)


@bp.route("")
@require_roles(*TOWNSHIP_ROLES)
def home() -> Any:
    user = current_user()
    zone = zone_of(user)
    township = db().get(Division, zone.township_id) if zone.township_id else None
    squad = db().scalar(select(Squad).where(Squad.township_id == township.id)) if township else None
    to_act, by_me = _to_act(user), reported_by(user.id)
    cases = open_cases(or_(and_(true(), *case_conditions(zone)), by_me))  # my reports in the next township too
    flags = db().execute(select(Incident.id, to_act, by_me).where(Incident.id.in_([c.id for c in cases]),
                                                                 or_(to_act, by_me))).all()
    tasks = {id_ for id_, to_act, _ in flags if to_act}
    reported = {id_ for id_, to_act, by_me in flags if by_me and not to_act}
    rows = summaries(cases)
    parts, names, bounds = surface_map(zone)
    data = {"cases": rows, "map": names, "bounds": bounds,
            "caseUrl": url_for("township.case", case_id=0)}
    return render_template("township.html", zone=township, squad=squad, map_parts=parts, data=data,
                           tasks=[c for c in rows if c["id"] in tasks],
                           reported=[c for c in rows if c["id"] in reported],
                           others=[c for c in rows if c["id"] not in tasks | reported],
                           no_tasks=NO_TASKS.get(user.role, NO_TASKS["inspector"]),
                           same=next((c for c in rows if c["id"] == request.args.get("same", type=int)), None),
                           may_report=user.role in RULES[(None, "report")].roles or user.role == "admin")


def _case_page(incident: Incident, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    """The case with the steps the user may take on it; none on their own report in another township, which
    they follow but do not work (outside_zone)."""
    user = current_user()
    zone = zone_of(user)
    outside = zone.township_id is not None and incident.township_id != zone.township_id
    may = (lambda action: False) if outside else (lambda action: offered(user, incident, action))
    return render_template("township_case.html", case=summaries([incident])[0], incident=incident,
                           source=source_label(incident.source),  # a hotline call is to be verified, a
                           # staff report is first-hand; the caller's number for a call-back (CONTACT_ROLES)
                           contact=incident.reporter_contact if current_user().role in CONTACT_ROLES else None,
                           history=case_history(incident), photos=photo_links(incident.id),
                           outside_zone=outside, may_handle=may("handle"),
                           spot_actions=[(a, label) for a, (label, _done) in ON_THE_SPOT.items() if may(a)],
                           reasoned=list(REASONED),
                           may_extend=may("request_extension"),
                           errors=errors or {}, form=request.form, units=EXTENSION_UNITS,
                           # a step refused as stale (409) may no longer be offered: its typed note is shown
                           kept_note=request.form.get("note", "").strip() if status == 409 else "",
                           posted=request.endpoint if request.method == "POST" else None), status  # whose note to keep


@bp.route("/cases/<int:case_id>")
@require_roles(*TOWNSHIP_ROLES)
def case(case_id: int) -> Any:
    return _case_page(visible_case(db(), Actor.of_user(current_user()), case_id, own_reports=True))


def _posted_version() -> int:
    version = request.form.get("version", type=int)
    if version is None:
        raise Invalid("the form lost the case's version; reload the page", code="missing_fields",
                      details=["version"])
    return version


def _act_or_page(incident: Incident, step: Any, done: str) -> Any:
    """Run a workflow step; back to the case page with the outcome, or with the errors next to the fields."""
    try:
        step()
    except Conflict:
        return _case_page(incident, {"form": _("案件已被他人更改，请重新加载后再操作。")}, 409)
    except Invalid as exc:
        refusal = field_errors(exc) or {"form": error_text(exc.code, exc.details) or exc.message}
        return _case_page(incident, refusal, 422)
    flash(done)
    return redirect(url_for("township.case", case_id=incident.id))


@bp.post("/cases/<int:case_id>/handle")
@require_roles(*TOWNSHIP_ROLES)
def handle(case_id: int) -> Any:
    """处置反馈: what was done and at least one after-photo."""
    actor = Actor.of_user(current_user())
    incident = visible_case(db(), actor, case_id)
    note = request.form.get("note", "").strip()[:MAX_NOTE]
    pictures, errors = pictures_or_errors(request.files)
    if not note:
        errors["note"] = _("请写明处置情况。")
    if errors:
        return _case_page(incident, errors, 422)
    return _act_or_page(incident, lambda: handle_with_photos(db(), upload_root(), case_id, actor, _posted_version(),
                                                             note, pictures), _("已提交处置反馈，等待核查。"))


@bp.post("/cases/<int:case_id>/act")
@require_roles(*TOWNSHIP_ROLES)
def act_on_the_spot(case_id: int) -> Any:
    """One of ON_THE_SPOT, with the note the person adds (what they saw)."""
    actor = Actor.of_user(current_user())
    incident = visible_case(db(), actor, case_id)
    action = request.form.get("action", "")
    if action not in ON_THE_SPOT:
        raise Invalid(f"unknown action {action!r}; one of {', '.join(ON_THE_SPOT)}", code="bad_action")
    note = request.form.get("note", "").strip()[:MAX_NOTE] or None
    if action in REASONED and not note:
        return _case_page(incident, {"spot": str(REASONED[action])}, 422)
    reason = {"reason": note} if action in REASONED else {}
    return _act_or_page(incident, lambda: act(db(), case_id, action, actor, _posted_version(), note=note, **reason),
                        str(ON_THE_SPOT[action][1]))


@bp.post("/cases/<int:case_id>/extension")
@require_roles(*TOWNSHIP_ROLES)
def extension(case_id: int) -> Any:
    """延期申请: how much longer (hours or days) and why; a supervisor approves it from the dispatch board."""
    actor = Actor.of_user(current_user())
    incident = visible_case(db(), actor, case_id)
    amount = request.form.get("amount", type=int)
    unit = request.form.get("unit", "")
    reason = request.form.get("reason", "").strip()[:MAX_NOTE]
    errors = {}
    if amount is None or not 1 <= amount <= MAX_EXTENSION or unit not in EXTENSION_UNITS:
        errors["duration"] = _("请填写 1 到 %(n)d 之间的整数，并选择小时或天。", n=MAX_EXTENSION)
    if not reason:
        errors["reason"] = _("请写明延期理由。")
    if errors:
        return _case_page(incident, errors, 422)
    return _act_or_page(incident, lambda: act(db(), case_id, "request_extension", actor, _posted_version(),
                                              duration=f"{amount}{unit}", note=reason, reason=reason),
                        _("延期申请已提交，等待审批。"))


@bp.route("/report")
@require_roles(*TOWNSHIP_ROLES)
def report_page() -> Any:
    """上报 tap 1: this page takes the GPS position (or a tap on the map) at once."""
    zone = zone_of(current_user())
    parts, names, bounds = surface_map(zone)
    township = db().get(Division, zone.township_id) if zone.township_id else None
    data = {"cases": [], "map": names, "bounds": bounds, "labels": _report_labels(),
            "zone": township.code if township else None, "homeUrl": url_for("township.home")}
    quick = quick_categories()
    others = db().scalars(select(Category).where(
        Category.city_code == current_app.config["GRIDLINK_CITY"], Category.parent_id.is_not(None),
        Category.id.not_in([c.id for c in quick])).order_by(Category.code))
    return render_template("township_report.html", map_parts=parts, data=data, token=new_token(),
                           categories=[(c.code, category_name(c)) for c in quick],
                           more_categories=[(c.code, category_name(c)) for c in others], crs_choices=CRS_CHOICES)


def _report_labels() -> dict[str, str]:
    return {"locating": _("正在获取位置…"), "accuracy": _("已定位，精度约 %(m)s 米"),
            "denied": _("无法获取位置：请在地图上点选位置。"), "tapped": _("已在地图上选定位置"),
            "failed": _("提交失败，请重试。"), "sending": _("正在上报…"), "grid": _("网格 %(code)s"),
            "samePhoto": _("不再上报，已选的照片也不会上传。确定？"),
            "offline": str(OFFLINE_TEXT),
            "outside": _("此处属于%(place)s，不在本辖区：仍可上报，由当地处置，你可跟进到结案。"),
            "photoChosen": _("已选照片：%(name)s"), "sendWithPhoto": _("上报（含照片）"),
            "sendWithoutPhoto": _("不拍照，直接上报")}


@bp.post("/report")
@require_roles(*TOWNSHIP_ROLES)
def report() -> Any:
    """上报 tap 3: the report with its optional photo, through the same use case as the API."""
    return submit_report("field", lambda case_id: url_for("township.home", reported=case_id),
                         require_description=False,
                         no_point=_("还没有位置：请等待定位、点“重新定位”，或在地图上点选问题位置。"))
