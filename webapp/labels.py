"""Display names of codes (roles, case statuses, division levels), translated at render time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, g
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from grids.models import City
from webapp import db

ROLE_LABELS = {
    "admin": _l("系统管理员"), "dispatcher": _l("派遣员"), "supervisor": _l("值班长"), "inspector": _l("监督员"),
    "squad_leader": _l("中队长"), "officer": _l("执法队员"), "co_manager": _l("协管员"),
    "department": _l("部门联络员"), "planner": _l("网格规划员"), "viewer": _l("查看者"),
}
STATUS_LABELS = {
    "reported": _l("已上报"), "verified": _l("已核实"), "filed": _l("已立案"), "dispatched": _l("已派遣"),
    "in_progress": _l("处置中"), "handled": _l("已处置"), "checked": _l("已核查"), "closed": _l("已结案"),
    "cancelled": _l("已作废"), "parked": _l("已挂账"),
}
LEVEL_LABELS = {"city": _l("市/县"), "district": _l("区"), "township": _l("乡镇/街道"), "community": _l("社区/村")}


def _label(table: dict[str, object]) -> object:
    return lambda code: str(table.get(code, code))


role_label = _label(ROLE_LABELS)
status_label = _label(STATUS_LABELS)
level_label = _label(LEVEL_LABELS)

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
        worded.append(str(ROUTING_STEPS[key]) % params)
    return gettext("；").join(worded)


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
