"""统计评价 (/reports, endpoint pages.reports): the ranking of townships, departments or squads for a week,
month, quarter or year, as a page and as a CSV download (?format=csv, same query).

Who sees what: every role that may open the page sees the whole city's ranking, whatever its zone;
rankings are published in this trade (DOMAIN 6), so a squad or a department sees where it stands among
the others. The counts, rates and score are grids.evaluation's; this module only asks and shows.
A plain GET form picks the period and the objects: no script, nothing for the CSP to allow.
"""

from __future__ import annotations

import codecs
import io
from typing import Any

from flask import Response, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from grids.errors import Invalid
from grids.evaluation import (
    PERIOD_KINDS,
    RATES,
    Evaluation,
    Period,
    evaluate,
    parse_period,
    write_csv,
)
from grids.layouts import city_date
from grids.models import Division
from grids.org import CO_MANAGERS_PER_OFFICER, understaffed_squads
from webapp import db

PERIOD_LABELS = {"week": _l("周"), "month": _l("月"), "quarter": _l("季度"), "year": _l("年")}
#: A period named in words (the CSV's file name keeps grids.evaluation's 2026-W48, 2026-Q4).
PERIOD_WORDS = {"week": _l("%(year)s 年第 %(week)s 周"), "month": _l("%(year)s 年 %(month)s 月"),
                "quarter": _l("%(year)s 年第 %(quarter)s 季度"), "year": _l("%(year)s 年")}  # named by Period.number
OBJECT_LABELS = {"township": _l("按乡镇（街道）"), "district": _l("按区县"), "department": _l("按部门"),
                 "squad": _l("按中队")}
#: Column headers of the table and the CSV, in the reader's language (keys: grids.evaluation.COLUMNS).
HEADERS = {"rank": _l("名次"), "code": _l("编码"), "name": _l("名称"), "reported": _l("上报数"), "filed": _l("立案数"),
           "dispatched": _l("派遣数"), "handled": _l("处置数"), "due": _l("应结案数"), "closed": _l("结案数"),
           "on_time": _l("按期结案数"), "returned": _l("回退数"), "reworked": _l("返工数"), "extended": _l("延期数"),
           "overdue": _l("超期数"), "结案率": _l("结案率"), "按期结案率": _l("按期结案率"), "返工率": _l("返工率"),
           "延期率": _l("延期率"), "准确派遣率": _l("准确派遣率"), "handle_hours": _l("平均处置时长（小时）"),
           "score": _l("综合得分")}
#: The page's table: the columns a ranking is read by (the CSV has every column).
TABLE = ("rank", "name", "due", "closed", "on_time", "结案率", "按期结案率", "返工率", "延期率", "准确派遣率",
         "handle_hours", "score")
RATE_COLUMNS = frozenset(RATES)


def period_words(period: Period) -> str:
    """The period as people say it: 2026 年第 48 周, not 2026-W48."""
    year, number = period.number
    return str(PERIOD_WORDS[period.kind]) % {period.kind: number, "year": year}  # a year's own key is its year


def _choice(name: str, allowed: tuple[str, ...] | dict[str, Any], default: str) -> str:
    value = request.args.get(name, default)
    return value if value in allowed else default


def _today(city_code: str) -> str:
    """Today on the city's clock, not the server's."""
    return city_date(db(), city_code).isoformat()


def _cell(key: str, value: Any) -> str:
    """What a cell shows: rates as percentages, a dash for nothing to measure."""
    if value is None:
        return "—"
    return f"{value}%" if key in RATE_COLUMNS else str(value)


def _csv(rows: list[Evaluation], name: str) -> Response:
    """The whole ranking (every column); a BOM so spreadsheet programs read UTF-8; names stay text."""
    out = io.StringIO()
    write_csv(rows, out, {key: str(label) for key, label in HEADERS.items()})
    return Response(codecs.BOM_UTF8 + out.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _bad_date(kind: str, by: str, day: str, today: str, objects: dict[str, Any]) -> tuple[str, int]:
    """422 with the form again (set to today) and what to type, in the reader's language: the domain's
    message is for the API and the command line."""
    error = _("“%(day)s”不是有效日期：请按“年-月-日”填写 9999 年以前的一天，例如 %(today)s", day=day, today=today)
    return render_template("reports.html", error=error, period=None, day=today, kind=kind, by=by,
                           periods=PERIOD_LABELS, objects=objects), 422


def _objects(city: str) -> dict[str, Any]:
    """What this city can be ranked by: a division level it has not drawn (districts in a county-level city
    such as Lanxi, townships in one drawn by district) would rank nothing."""
    levels = set(db().scalars(select(Division.level).where(Division.city_code == city).distinct()))
    return {key: label for key, label in OBJECT_LABELS.items()
            if key not in ("township", "district") or key in levels}


def ranking_page() -> Any:
    city = current_app.config["GRIDLINK_CITY"]
    kind = _choice("period", PERIOD_KINDS, "month")
    objects = _objects(city)
    by = _choice("by", objects, next(iter(objects)))
    today = _today(city)
    day = request.args.get("date") or today
    try:
        period = parse_period(kind, day)  # the kind is one of PERIOD_KINDS: only the date can be wrong
    except Invalid:
        return _bad_date(kind, by, day, today, objects)
    rows = evaluate(db(), city, period, by)
    if request.args.get("format") == "csv":
        return _csv(rows, f"evaluation-{by}-{period.label}")
    records = [(r.code, r.record()) for r in rows]
    table = [{"key": code, "cells": [(key, _cell(key, record[key])) for key in TABLE]} for code, record in records]
    return render_template(
        "reports.html", table=table, headers=[(key, HEADERS[key]) for key in TABLE], period=period, day=day,
        kind=kind, by=by, periods=PERIOD_LABELS, objects=objects, period_name=period_words(period),
        anything_due=any(r.counts["due"] for r in rows), understaffed=understaffed_squads(db(), city),
        per_officer=CO_MANAGERS_PER_OFFICER,
        csv_args={"period": kind, "date": day, "by": by, "format": "csv"})
