"""Working time: deadlines and remaining time counted in a city's working hours on its working days.

Why a package for holidays: China's official holidays and the weekend days turned into working days (调休)
are announced by the State Council each November; `chinese_calendar` (PyPI `chinesecalendar`) ships them.
A city can override any day in the `calendar_days` table (a local holiday, a late announcement). Years
the package does not cover yet fall back to Monday-Friday, so a deadline is never refused.

Working hours are data too: `City.working_hours` (a list of ["HH:MM", "HH:MM"] periods) or DEFAULT_HOURS.
A limit of "Nd" is N full working days of working time, i.e. the same clock time N working days later
when the case starts inside working hours; "Nh" and "Nm" are working hours and minutes (a stage such as
dispatching may have to happen within 30 working minutes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import Row, Select, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from grids.divisions import known_city, unknown_city
from grids.errors import Invalid
from grids.models import CalendarDay, City

DEFAULT_HOURS: tuple[tuple[str, str], ...] = (("08:30", "12:00"), ("13:30", "17:30"))
_LIMIT_RE = re.compile(r"^([0-9]+)([mhd])$")
# A deadline further away than this is a data error (a 10-year limit), not something to walk towards.
_MAX_DAYS_WALKED = 3660


def _parse_hours(periods: list[list[str]] | tuple[tuple[str, str], ...]) -> tuple[tuple[time, time], ...]:
    parsed = tuple((time.fromisoformat(start), time.fromisoformat(end)) for start, end in periods)
    if not parsed or any(start >= end for start, end in parsed) or any(
            a[1] > b[0] for a, b in zip(parsed, parsed[1:], strict=False)):
        raise Invalid(f"working hours {periods!r} must be ordered, non-overlapping periods such as "
                      '[["08:30", "12:00"], ["13:30", "17:30"]]', code="bad_working_hours")
    return parsed


@dataclass(frozen=True)
class WorkCalendar:
    """One city's working time: time zone, daily working periods, and per-day overrides."""

    timezone: str = "Asia/Shanghai"
    hours: tuple[tuple[str, str], ...] | list[list[str]] = DEFAULT_HOURS
    overrides: dict[date, bool] = field(default_factory=dict)

    # Cached: deadline arithmetic asks for these once per day walked, and a cached calendar lives long.
    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def periods(self) -> tuple[tuple[time, time], ...]:
        return _parse_hours(self.hours)

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:  # a year the package does not know yet
            return day.weekday() < 5

    def _periods_on(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_workday(day):
            return []
        return [(datetime.combine(day, start, self.tz), datetime.combine(day, end, self.tz))
                for start, end in self.periods]

    def _days_from(self, moment: datetime):
        day = moment.astimezone(self.tz).date()
        for offset in range(_MAX_DAYS_WALKED):
            yield day + timedelta(days=offset)
        raise Invalid("a working-time deadline lies more than ten years away; check the time limit",
                      code="bad_time_limit")

    def add(self, start: datetime, work: timedelta) -> datetime:
        """The moment when `work` of working time has passed after `start` (an aware datetime)."""
        left = work
        for day in self._days_from(start):
            for period_start, period_end in self._periods_on(day):
                if start >= period_end:
                    continue
                begin = max(start, period_start)
                if left <= period_end - begin:
                    return begin + left
                left -= period_end - begin
        raise AssertionError("unreachable: _days_from raises first")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end`; negative when `end` is earlier (time overdue)."""
        if end < start:
            return -self.between(end, start)
        total = timedelta(0)
        for day in self._days_from(start):
            if datetime.combine(day, time.min, self.tz) >= end:
                return total
            for period_start, period_end in self._periods_on(day):
                overlap = min(end, period_end) - max(start, period_start)
                total += max(overlap, timedelta(0))
        raise AssertionError("unreachable: _days_from raises first")

    @property
    def day_length(self) -> timedelta:
        return sum((datetime.combine(date.min, e) - datetime.combine(date.min, s) for s, e in self.periods),
                   timedelta(0))


def parse_limit(limit: str, calendar: WorkCalendar) -> timedelta:
    """'30m' -> 30 working minutes; '4h' -> 4 working hours; '5d' -> 5 working days (of the calendar's
    daily working time)."""
    match = _LIMIT_RE.match(limit or "")
    if not match:
        raise Invalid(f"time limit {limit!r} must look like 30m (working minutes), 4h (working hours) "
                      "or 5d (working days)", code="bad_time_limit")
    amount, unit = int(match.group(1)), match.group(2)
    units = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": calendar.day_length}
    return amount * units[unit]


def calendar_stamp(city_code: str) -> Select[Any]:
    """One row that changes whenever the city's calendar does: its time zone, working hours and an md5 of
    all its day overrides (computed in the database, so the days themselves need not travel). A caller may
    add its own columns (grids.workflow adds the stage's limit and now()) to save a round trip."""
    days = (select(func.md5(func.string_agg(func.concat(CalendarDay.day, ":", CalendarDay.is_workday),
                                            aggregate_order_by(literal_column("','"), CalendarDay.day))))
            .where(CalendarDay.city_code == City.code).scalar_subquery())
    return select(City.timezone, City.working_hours, days.label("days_md5")).where(City.code == city_code)


#: Calendars built in this process, by city, with the stamp they were built from. No TTL is needed: every
#: use compares the stamp read in the same transaction, so an edited day or working hours count at once.
_CALENDARS: dict[str, tuple[tuple[Any, ...], WorkCalendar]] = {}


def city_calendar(session: Session, city_code: str, stamp: Row[Any] | None = None) -> WorkCalendar:
    """The calendar of a city: its time zone, working hours and day overrides from the database.

    `stamp` is its calendar_stamp row when the caller read it already. The overrides are read and parsed
    only when the stamp differs from the cached calendar's (issue 4: every report starts a clock).
    """
    stamp = stamp or session.execute(calendar_stamp(city_code)).first()
    if stamp is None:
        raise unknown_city(session, city_code)
    key = (stamp.timezone, repr(stamp.working_hours), stamp.days_md5)
    cached = _CALENDARS.get(city_code)
    if cached is not None and cached[0] == key:
        return cached[1]
    overrides = {row.day: row.is_workday for row in session.execute(
        select(CalendarDay.day, CalendarDay.is_workday).where(CalendarDay.city_code == city_code))}
    calendar = WorkCalendar(timezone=stamp.timezone, hours=stamp.working_hours or DEFAULT_HOURS, overrides=overrides)
    _CALENDARS[city_code] = (key, calendar)
    return calendar


def deadline(start: datetime, limit: str, calendar: WorkCalendar) -> datetime:
    """When a case started at `start` with a time limit such as '30m', '4h' or '5d' is due."""
    return calendar.add(start, parse_limit(limit, calendar))


# --- the days a city overrides -------------------------------------------------------------------
def package_covers(year: int) -> bool:
    """Whether the holiday package knows the year's official holidays and 调休 days."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def set_day(session: Session, city_code: str, day: date, is_workday: bool | None, note: str | None = None) -> None:
    """Make `day` a working day (True) or a day off (False) for the city, or drop its override (None) so the
    holiday package (or Monday-Friday) decides again. Counts from the next deadline computed."""
    known_city(session, city_code)
    row = session.get(CalendarDay, (city_code, day))
    if is_workday is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(CalendarDay(city_code=city_code, day=day, is_workday=is_workday, note=note))
    else:
        row.is_workday, row.note = is_workday, note
    session.flush()


def year_days(session: Session, city_code: str, year: int) -> dict[str, Any]:
    """A year as the city's deadlines see it: whether the package covers it, and the city's own days.

    Why it matters: a year the package does not know yet counts Monday-Friday, so until the State Council's
    holidays are entered here (or the package is upgraded), a deadline may fall on a national holiday."""
    known_city(session, city_code)
    rows = session.scalars(select(CalendarDay).where(
        CalendarDay.city_code == city_code, CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
        .order_by(CalendarDay.day))
    return {"city": city_code, "year": year, "package_covers": package_covers(year),
            "days": [{"day": row.day.isoformat(), "workday": row.is_workday, "note": row.note} for row in rows]}


#: How far ahead a missing holiday year is flagged: deadlines reach weeks into the next year before it starts.
GAP_WARNING = timedelta(days=60)
#: 元旦, 春节, 清明, 劳动节, 端午, 中秋, 国庆: a year with fewer days off entered is not entered yet (one
#: local day off, say, does not make the State Council's holidays known).
OFFICIAL_HOLIDAYS = 7


def gap_warning(years: list[int]) -> str:
    """What an operator is told of years no holiday data knows, and what to do (the server log, `sla sweep`)."""
    return (f"no holiday data for {', '.join(map(str, years))}: its deadlines count Monday-Friday until the State "
            "Council's holidays and 调休 days are entered (gridlink sla day DATE --holiday|--workday) or "
            "chinesecalendar is upgraded")


def unknown_years(session: Session, city_code: str, today: date) -> list[int]:
    """The years from today to GAP_WARNING ahead that neither the holiday package nor the city's own days
    (at least OFFICIAL_HOLIDAYS days off) know: their deadlines count Monday-Friday and fall on national
    holidays (春节, 国庆) until someone enters them (`gridlink sla day`) or upgrades the package. What the
    server log and the dispatch page warn of."""
    years = [y for y in sorted({today.year, (today + GAP_WARNING).year}) if not package_covers(y)]
    if not years:  # most of the year: no statement on the dispatch page's load
        return []
    year = func.extract("year", CalendarDay.day)
    entered = session.execute(select(year, func.count()).where(
        CalendarDay.city_code == city_code, year.in_(years), CalendarDay.is_workday.is_(False)).group_by(year))
    days_off = {int(y): count for y, count in entered}
    return [y for y in years if days_off.get(y, 0) < OFFICIAL_HOLIDAYS]

