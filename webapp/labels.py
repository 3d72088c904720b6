"""Display names of codes (roles, case statuses, division levels), translated at render time."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

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
