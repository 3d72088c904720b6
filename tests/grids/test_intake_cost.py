"""What one report costs the database (issue 4): statement counts are deterministic, unlike timings, so a
regression shows here on any machine. The calendar cache that helps keep the count low must never hide
an edit of the city's calendar."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select

from grids.calendar import city_calendar, deadline
from grids.models import CalendarDay, City, Division
from grids.workflow import report
from tests.grids.test_workflow import CITY, YOUBU, actor, new_case

# Category with its stage clock, everything at the point (city check and routing rule included), INSERT of
# the case with its first event.
LOCATED_REPORT_STATEMENTS = 3


def test_a_located_report_costs_at_most_three_statements(db, demo_city) -> None:
    new_case(db)  # the first report of a process also reads the city's calendar days
    inspector, township = actor(db, "inspector"), db.scalar(select(Division).where(Division.code == YOUBU))
    x, y = db.execute(select(func.ST_X(func.ST_PointOnSurface(township.geom)),
                             func.ST_Y(func.ST_PointOnSurface(township.geom)))).one()
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.get_bind(), "before_cursor_execute", listener)
    try:
        case = report(db, inspector, "E0101", x, y, source="test", description="垃圾满溢")
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", listener)
    assert case.grid_id is not None and case.squad_id is not None and case.deadline_at is not None
    assert len(statements) <= LOCATED_REPORT_STATEMENTS, "\n".join(statements)


def test_an_edited_calendar_counts_at_once_although_calendars_are_cached(db, demo_city) -> None:
    sh = ZoneInfo("Asia/Shanghai")
    monday_evening = datetime(2025, 6, 9, 17, 0, tzinfo=sh)
    assert deadline(monday_evening, "1h", city_calendar(db, CITY)) == datetime(2025, 6, 10, 9, 0, tzinfo=sh)
    db.add(CalendarDay(city_code=CITY, day=date(2025, 6, 10), is_workday=False, note="local holiday"))
    db.flush()
    assert deadline(monday_evening, "1h", city_calendar(db, CITY)) == datetime(2025, 6, 11, 9, 0, tzinfo=sh)
    db.get(City, CITY).working_hours = [["10:00", "18:00"]]
    db.flush()
    assert deadline(monday_evening, "1h", city_calendar(db, CITY)) == datetime(2025, 6, 9, 18, 0, tzinfo=sh)
