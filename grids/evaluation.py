"""综合评价: counts, rates and a 0-100 score per township, department or squad for a week, month, quarter or year.

Definitions (DOMAIN 6), all over one period [start, end) in the city's time zone:

- A case's **handling deadline** is due_times->'handle'->>'due' (the 处置 clock, moved by an approved
  extension, restarted by 改派); for a case without stage history (imported or legacy: due_times NULL) it
  is deadline_at. A case whose class has no handling limit has no deadline.
- **应结案 (due to close)**: the non-cancelled cases whose settling moment, the earlier of the handling
  deadline and the closing time, lies in the period and has come (in a running period a case due next
  week is not yet due, not unclosed); a case parked (挂账) before its deadline is not due
  while it stays parked (parking stops the clock), one parked after it still is (judged by its state now:
  a period's figures move when a case in it is parked or resumed later). So a case counts in
  exactly one period: where it was closed if closed by its deadline (or without one), else where its
  deadline fell, closed or not.
- **结案 (closed)**: due cases closed before the period ends (a past period's figures stay put).
- **按期结案 (closed on time)**: due cases closed at or before their deadline; one without a deadline had
  no limit to miss and counts as on time. **超期 (overdue)**: due cases whose deadline passed (before the
  period ends and before now) while they were still open.
- **结案率 = 结案 / 应结案**, **按期结案率 = 按期结案 / 应结案** (a published report: 911/972 = 93.72 %,
  737/972 = 75.82 %).
- From the history (case_events at in the period): 立案 file, 派遣 dispatch + redispatch, 处置 handle,
  回退 return, 返工 rework, 延期 approve_extension. **返工率 = 返工 / 处置**, **延期率 = 延期 / 派遣**,
  **准确派遣率 = dispatches not returned (by the period's end) / 派遣**. 上报 counts cases reported in the
  period (imported ones by their original report time, cancelled ones too).
- **平均处置时长**: wall-clock hours from the start of handling (the dispatch, 改派 or 返工 before it) to each
  handling feedback in the period. Wall hours, not working hours: the working-time calendar walks day by
  day in Python, which per case is not cheap.

Attribution: cases belong to their township, squad and department (their current columns); for the
department ranking an event belongs to the department it names (a dispatch to a department), else the
acting department account's, else the case's current department. So a department's returned dispatch
stays in its own 准确派遣率 although the case has left it. Cases with no object on an axis are in no row.

Rates are exact fractions shown as percentages rounded half-up to 2 places; a rate with nothing to
divide by is None (no "0 %" for a township with nothing due). The score weights are data per city in
grids/data/evaluation_weights.json (see score()); an object with nothing due to close has no score and
no rank. Each object kind is one SQL statement grouped in the database: it reads the city's cases
(incidents.city_code index; the handling deadline sits in JSONB, which no index covers) and the history of
the cases with an event in the period (case_events.city_code, then (incident_id, seq) for the window).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from datetime import MAXYEAR, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from importlib import resources
from typing import IO, Any
from zoneinfo import ZoneInfo

import jsonschema
from sqlalchemy import text
from sqlalchemy.orm import Session

from grids.calendar import city_calendar
from grids.divisions import district_at_sql
from grids.errors import Invalid
from grids.spreadsheet import safe_cell

PERIOD_KINDS = ("week", "month", "quarter", "year")
MONTHS = {"month": 1, "quarter": 3, "year": 12}
WEIGHTS_SCHEMA = json.loads(resources.files("grids").joinpath("data/evaluation_weights.schema.json").read_text())
WEIGHTS_FILE = resources.files("grids").joinpath("data/evaluation_weights.json")
FULL_SCORE = 100
COUNTS = ("reported", "filed", "dispatched", "handled", "due", "closed", "on_time", "returned", "reworked",
          "extended", "overdue", "dispatched_kept")
#: Each rate: (numerator count, denominator count). The names are the weights file's keys.
RATES: dict[str, tuple[str, str]] = {
    "结案率": ("closed", "due"),
    "按期结案率": ("on_time", "due"),
    "返工率": ("reworked", "handled"),
    "延期率": ("extended", "dispatched"),
    "准确派遣率": ("dispatched_kept", "dispatched"),
}
#: Table columns (CLI, CSV): key and Chinese header.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("rank", "名次"), ("code", "编码"), ("name", "名称"), ("reported", "上报数"), ("filed", "立案数"),
    ("dispatched", "派遣数"), ("handled", "处置数"), ("due", "应结案数"), ("closed", "结案数"),
    ("on_time", "按期结案数"), ("returned", "回退数"), ("reworked", "返工数"), ("extended", "延期数"),
    ("overdue", "超期数"),
    *((name, name) for name in RATES), ("handle_hours", "平均处置时长（小时）"), ("score", "综合得分"))


@dataclass(frozen=True)
class Period:
    """A week (Monday first), month, quarter or year: [start, end) in days of the city's calendar."""

    kind: str
    start: date
    end: date

    @property
    def number(self) -> tuple[int, int]:
        """(year, number in it): the ISO week's (its year may be the next or last), the month's or the
        quarter's; a year is (year, 1). What the label and the pages' words name the period by."""
        if self.kind == "week":
            year, week, _day = self.start.isocalendar()
            return year, week
        month = self.start.month
        return self.start.year, {"month": month, "quarter": (month - 1) // 3 + 1}.get(self.kind, 1)

    @property
    def label(self) -> str:
        year, number = self.number
        return {"week": f"{year}-W{number:02d}", "month": f"{year}-{number:02d}", "quarter": f"{year}-Q{number}",
                "year": str(year)}[self.kind]

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        return datetime.combine(self.start, time.min, tz), datetime.combine(self.end, time.min, tz)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_period(kind: str, day: date | str) -> Period:
    """The week, month, quarter or year that holds `day` (a date or YYYY-MM-DD)."""
    if kind not in PERIOD_KINDS:
        raise Invalid(f"period {kind!r} must be one of {', '.join(PERIOD_KINDS)}", code="bad_period")
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError as exc:
            raise Invalid(f"date {day!r} must look like 2026-11-01", code="bad_period") from exc
    if day.year >= MAXYEAR:  # the period's end (the next day, month or year) must be a date too
        raise Invalid(f"date {day} is too late: choose a day before {MAXYEAR}-01-01", code="bad_period")
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7))
    first_month = {"month": day.month, "quarter": (day.month - 1) // 3 * 3 + 1, "year": 1}[kind]
    start = date(day.year, first_month, 1)
    return Period(kind, start, _add_months(start, MONTHS[kind]))


@dataclass(frozen=True)
class ObjectKind:
    """Who is evaluated: the rows to list, and which object a case and an event count for."""

    objects: str
    case_key: str
    event_key: str


_CASE_DISTRICT = district_at_sql("i", "id")

OBJECT_KINDS: dict[str, ObjectKind] = {
    "township": ObjectKind("SELECT id, code, name FROM divisions WHERE city_code = :city AND level = 'township'",
                           "i.township_id", "i.township_id"),
    "district": ObjectKind("SELECT id, code, name FROM divisions WHERE city_code = :city AND level = 'district'",
                           _CASE_DISTRICT, _CASE_DISTRICT),
    "department": ObjectKind("SELECT id, code, name FROM departments WHERE city_code = :city",
                             "i.department_id", "coalesce(named.id, actor.department_id, i.department_id)"),
    "squad": ObjectKind("SELECT id, code, name FROM squads WHERE city_code = :city", "i.squad_id", "i.squad_id"),
}

_SQL = """
WITH history AS (
    SELECT e.incident_id, e.seq, e.action, e.at, {event_key} AS object_id,
           max(e.seq) FILTER (WHERE e.action IN ('dispatch', 'redispatch')) OVER w AS dispatch_seq,
           max(e.at) FILTER (WHERE e.action IN ('dispatch', 'redispatch', 'rework')) OVER w AS handle_started
    FROM case_events e
    JOIN incidents i ON i.id = e.incident_id
    LEFT JOIN users actor ON actor.id = e.actor_id
    LEFT JOIN departments named ON named.city_code = e.city_code AND named.code = e.data->>'department'
    WHERE e.city_code = :city AND e.at < :end
      AND e.incident_id IN (SELECT incident_id FROM case_events WHERE city_code = :city AND at >= :start AND at < :end)
    WINDOW w AS (PARTITION BY e.incident_id ORDER BY e.seq)
), undone AS (  -- the dispatch each return undid
    SELECT DISTINCT incident_id, dispatch_seq AS seq FROM history WHERE action = 'return'
), acts AS MATERIALIZED (  -- computed once, whatever the planner guesses about the objects
    SELECT h.object_id,
           count(*) FILTER (WHERE h.action = 'file') AS filed,
           count(*) FILTER (WHERE h.action IN ('dispatch', 'redispatch')) AS dispatched,
           count(*) FILTER (WHERE h.action IN ('dispatch', 'redispatch') AND u.seq IS NULL) AS dispatched_kept,
           count(*) FILTER (WHERE h.action = 'handle') AS handled,
           count(*) FILTER (WHERE h.action = 'return') AS returned,
           count(*) FILTER (WHERE h.action = 'rework') AS reworked,
           count(*) FILTER (WHERE h.action = 'approve_extension') AS extended,
           avg(extract(epoch FROM h.at - h.handle_started) / 3600) FILTER (WHERE h.action = 'handle')
               AS handle_hours
    FROM history h LEFT JOIN undone u ON u.incident_id = h.incident_id AND u.seq = h.seq
    WHERE h.at >= :start
    GROUP BY h.object_id
), cases AS (
    SELECT {case_key} AS object_id, i.status, i.reported_at,
           CASE WHEN i.status = 'closed' THEN i.closed_at END AS closed_at,
           coalesce((i.due_times->'handle'->>'due')::timestamptz,
                    CASE WHEN i.due_times IS NULL THEN i.deadline_at END) AS due,
           CASE WHEN i.status = 'parked' THEN (SELECT max(e.at) FROM case_events e
                                               WHERE e.incident_id = i.id AND e.action = 'park') END AS parked_at
    FROM incidents i
    WHERE i.city_code = :city
), settling AS (
    SELECT c.*, c.status <> 'cancelled' AND least(c.due, c.closed_at) >= :start
                AND least(c.due, c.closed_at) < least(:end, now())
                AND (c.status <> 'parked' OR c.due < c.parked_at) AS is_due
    FROM cases c
), tally AS MATERIALIZED (
    SELECT object_id,
           count(*) FILTER (WHERE reported_at >= :start AND reported_at < :end) AS reported,
           count(*) FILTER (WHERE is_due) AS due,
           count(*) FILTER (WHERE is_due AND closed_at < :end) AS closed,
           count(*) FILTER (WHERE is_due AND closed_at <= coalesce(due, closed_at)) AS on_time,
           count(*) FILTER (WHERE is_due AND due < least(:end, now())
                            AND (closed_at IS NULL OR closed_at > due)) AS overdue
    FROM settling
    GROUP BY object_id
)
SELECT o.code, o.name,
       coalesce(t.reported, 0) AS reported, coalesce(a.filed, 0) AS filed,
       coalesce(a.dispatched, 0) AS dispatched, coalesce(a.handled, 0) AS handled,
       coalesce(t.due, 0) AS due, coalesce(t.closed, 0) AS closed, coalesce(t.on_time, 0) AS on_time,
       coalesce(a.returned, 0) AS returned, coalesce(a.reworked, 0) AS reworked,
       coalesce(a.extended, 0) AS extended, coalesce(t.overdue, 0) AS overdue,
       coalesce(a.dispatched_kept, 0) AS dispatched_kept, a.handle_hours
FROM ({objects}) o
LEFT JOIN tally t ON t.object_id = o.id
LEFT JOIN acts a ON a.object_id = o.id
ORDER BY o.code
"""


@dataclass(frozen=True)
class Evaluation:
    """One evaluated object: its counts, rates (percent, 2 places, None: nothing to divide by), score, rank."""

    code: str
    name: str
    counts: dict[str, int]
    rates: dict[str, Decimal | None]
    handle_hours: Decimal | None
    score: Decimal | None
    rank: int | None = None

    def record(self) -> dict[str, Any]:
        """The row as {column key: value}, in COLUMNS order."""
        values = {"rank": self.rank, "code": self.code, "name": self.name, **self.counts, **self.rates,
                  "handle_hours": self.handle_hours, "score": self.score}
        return {key: values[key] for key, _label in COLUMNS}


def ratio(numerator: int, denominator: int) -> Fraction | None:
    """An exact rate; None when there is nothing to divide by."""
    return Fraction(numerator, denominator) if denominator else None


def percent(value: Fraction | None) -> Decimal | None:
    """93.72 for 911/972: percent rounded half-up to 2 places, from the exact fraction."""
    if value is None:
        return None
    return (Decimal(value.numerator * 100) / Decimal(value.denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def validate_weights(doc: Any) -> None:
    """Every problem of a weights file named with its key, so the author can fix it in one go."""
    errors = sorted(jsonschema.Draft202012Validator(WEIGHTS_SCHEMA).iter_errors(doc), key=lambda e: list(e.path))
    problems = [f"{'/'.join(str(p) for p in e.path) or '(top)'}: {e.message}" for e in errors]
    if not problems:
        problems = [f"{city}: the positive weights add up to {total:g}, not {FULL_SCORE}"
                    for city, weights in doc.items() if isinstance(weights, dict)
                    if (total := sum(w for w in weights.values() if w > 0)) != FULL_SCORE]
    if problems:
        raise Invalid("the evaluation weights do not match the format: " + "; ".join(problems[:20]),
                      code="bad_weights", details=problems)


def load_weights(city_code: str, doc: Any = None) -> dict[str, float]:
    """The city's weights from `doc` (default: grids/data/evaluation_weights.json), else the default entry."""
    doc = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8")) if doc is None else doc
    validate_weights(doc)
    return doc.get(city_code, doc["default"])


def score(rates: dict[str, Fraction | None], weights: dict[str, float]) -> Decimal | None:
    """The 0-100 composite: each positive weight earns its points times its rate, each negative weight
    loses its points times its rate; clamped to 0-100.

    A positive rate with nothing to measure (None) is left out and the other positive weights are scaled
    up to 100, so a squad that dispatched nothing is not punished for it; a penalty with nothing to
    measure costs nothing. None when no positive rate can be measured.
    """
    earned = {name: w for name, w in weights.items() if w > 0 and rates[name] is not None}
    if not earned:
        return None
    scale = Fraction(FULL_SCORE) / sum(Fraction(w) for w in earned.values())
    total = sum(Fraction(w) * scale * rates[name] for name, w in earned.items())
    total += sum(Fraction(w) * rates[name] for name, w in weights.items() if w < 0 and rates[name] is not None)
    clamped = min(max(total, Fraction(0)), Fraction(FULL_SCORE))
    return percent(clamped / 100)


def _evaluation(row: Any, weights: dict[str, float]) -> Evaluation:
    """Nothing due to close: no score, since the closing rates carry the ranking and a township that only
    had dispatches would otherwise top it with its 准确派遣率 alone."""
    counts = {name: int(getattr(row, name)) for name in COUNTS}
    exact = {name: ratio(counts[num], counts[den]) for name, (num, den) in RATES.items()}
    hours = None if row.handle_hours is None else Decimal(row.handle_hours).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return Evaluation(row.code, row.name, counts, {name: percent(value) for name, value in exact.items()}, hours,
                      score(exact, weights) if counts["due"] else None)


def ranked(rows: list[Evaluation]) -> list[Evaluation]:
    """Best score first; objects without a score last, unranked; ties share a rank."""
    ordered = sorted(rows, key=lambda r: (r.score is None, -(r.score or 0), r.code))
    result: list[Evaluation] = []
    for position, row in enumerate(ordered, start=1):
        tied = result and result[-1].score == row.score
        rank = None if row.score is None else result[-1].rank if tied else position
        result.append(replace(row, rank=rank))
    return result


def evaluate(session: Session, city_code: str, period: Period, by: str,
             weights: dict[str, float] | None = None) -> list[Evaluation]:
    """The ranking of every township, district, department or squad of the city for the period."""
    kind = OBJECT_KINDS.get(by)
    if kind is None:
        raise Invalid(f"evaluate by {by!r}: use one of {', '.join(OBJECT_KINDS)}", code="bad_object_kind")
    start, end = period.bounds(city_calendar(session, city_code).tz)
    weights = load_weights(city_code) if weights is None else weights
    statement = text(_SQL.format(objects=kind.objects, case_key=kind.case_key, event_key=kind.event_key))
    rows = session.execute(statement, {"city": city_code, "start": start, "end": end})
    return ranked([_evaluation(row, weights) for row in rows])


def write_csv(rows: list[Evaluation], handle: IO[str], headers: dict[str, str] | None = None) -> None:
    """The ranking as CSV (headers: column key -> label, Chinese by default); names stay text (safe_cell)."""
    labels = {key: label for key, label in COLUMNS} | (headers or {})
    writer = csv.writer(handle)
    writer.writerow([labels[key] for key, _label in COLUMNS])
    for row in rows:
        writer.writerow([safe_cell("" if value is None else value) for value in row.record().values()])
