"""Working-time deadlines on China's official calendar (holidays and 调休 make-up working days)."""

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from grids.calendar import (
    WorkCalendar,
    city_calendar,
    deadline,
    parse_limit,
    set_day,
    unknown_years,
)
from grids.errors import Invalid
from grids.models import CalendarDay, City
from tests.grids.test_cli_foundation import cli_db  # noqa: F401  (fixture)
from webapp.cli import main

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_four_hours_started_before_national_day_roll_over_the_whole_holiday() -> None:
    # 2025-09-30 is the last working day before 1-8 October; 1.5 h are left that day, 2.5 h on 9 October.
    assert deadline(at("2025-09-30 16:00"), "4h", CAL) == at("2025-10-09 11:00")


def test_make_up_saturday_counts_as_a_working_day() -> None:
    # 2025-10-11 is a Saturday made a working day (调休); an ordinary Saturday would roll to Monday.
    assert deadline(at("2025-10-10 16:00"), "4h", CAL) == at("2025-10-11 11:00")
    assert deadline(at("2025-10-17 16:00"), "4h", CAL) == at("2025-10-20 11:00")


def test_lunch_break_and_evening_are_not_working_time() -> None:
    assert deadline(at("2025-06-03 11:00"), "2h", CAL) == at("2025-06-03 14:30")
    assert deadline(at("2025-06-03 20:00"), "1h", CAL) == at("2025-06-04 09:30")


def test_minutes_are_working_minutes() -> None:
    # A stage limit such as dispatching within 30 working minutes runs over the lunch break.
    assert deadline(at("2025-06-03 11:45"), "30m", CAL) == at("2025-06-03 13:45")
    assert parse_limit("90m", CAL) == timedelta(hours=1, minutes=30)


def test_working_days_are_full_days_of_working_time() -> None:
    # 5 working days from Thursday 25 Sept 2025: 26, 28 (调休 Sunday), 29, 30 Sept, then 9 Oct.
    assert deadline(at("2025-09-25 10:00"), "5d", CAL) == at("2025-10-09 10:00")


def test_remaining_counts_only_working_time_and_goes_negative_when_overdue() -> None:
    due = at("2025-10-09 11:00")
    assert CAL.between(at("2025-09-30 16:00"), due) == timedelta(hours=4)
    assert CAL.between(at("2025-10-05 12:00"), due) == timedelta(hours=2, minutes=30)
    assert CAL.between(at("2025-10-09 14:00"), due) == -timedelta(hours=1, minutes=30)


def test_hours_are_data_and_a_bad_limit_says_how_to_write_it() -> None:
    late = WorkCalendar(hours=[["09:00", "18:00"]])
    assert deadline(at("2025-06-03 17:00"), "2h", late) == at("2025-06-04 10:00")
    with pytest.raises(Invalid, match="4h"):
        parse_limit("four hours", CAL)
    with pytest.raises(Invalid):
        WorkCalendar(hours=[["12:00", "08:00"]]).periods  # noqa: B018


def test_city_overrides_in_the_database_beat_the_package(db, demo_city) -> None:
    # A local holiday on Tuesday 10 June 2025 pushes the deadline to Wednesday.
    db.add(CalendarDay(city_code="330781", day=date(2025, 6, 10), is_workday=False, note="local holiday"))
    db.flush()
    cal = city_calendar(db, "330781")
    assert cal.timezone == "Asia/Shanghai"
    assert deadline(at("2025-06-09 17:00"), "1h", cal) == at("2025-06-11 09:00")


def test_an_operator_enters_a_year_the_holiday_package_does_not_know(cli_db: str, monkeypatch) -> None:  # noqa: F811
    """2027 is not in chinesecalendar 1.11: until its holidays are entered, 1 January counts as a workday."""
    engine = create_engine(cli_db)
    with engine.begin() as conn:
        conn.execute(insert(City).values(code="999701", name="Calendar city"))
    thursday_evening = datetime(2026, 12, 31, 16, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    with Session(engine) as session:
        assert deadline(thursday_evening, "2h", city_calendar(session, "999701")).date() == date(2027, 1, 1)
    before = CliRunner().invoke(main, ["sla", "days", "2027", "--city", "999701"])
    assert "NOT known to the installed chinesecalendar" in before.output and "gridlink sla day" in before.output
    entered = CliRunner().invoke(main, ["sla", "day", "2027-01-01", "--holiday", "--note", "元旦", "--city", "999701"])
    assert entered.exit_code == 0, entered.output
    listed = json.loads(CliRunner().invoke(main, ["sla", "days", "2027", "--city", "999701", "--json"]).output)
    assert listed["package_covers"] is False
    assert listed["days"] == [{"day": "2027-01-01", "workday": False, "note": "元旦"}]
    with Session(engine) as session:
        assert deadline(thursday_evening, "2h", city_calendar(session, "999701")) == datetime(
            2027, 1, 4, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    both = CliRunner().invoke(main, ["sla", "day", "2027-01-01", "--workday", "--holiday", "--city", "999701"])
    assert both.exit_code == 2 and "exactly one of --workday, --holiday or --clear" in both.output
    CliRunner().invoke(main, ["sla", "day", "2027-01-01", "--clear", "--city", "999701"])
    unknown = CliRunner().invoke(main, ["sla", "day", "2027-01-01", "--holiday", "--city", "999999"])
    assert unknown.exit_code == 1 and "unknown city 999999" in unknown.output
    listed_unknown = CliRunner().invoke(main, ["sla", "days", "2027", "--city", "999999"])
    assert listed_unknown.exit_code == 1 and "unknown city 999999" in listed_unknown.output
    assert CliRunner().invoke(main, ["sla", "days", "10000", "--city", "999701"]).exit_code == 2  # a usage error
    assert json.loads(CliRunner().invoke(main, ["sla", "days", "2027", "--city", "999701", "--json"]).output)[
        "days"] == []
    monkeypatch.setattr("grids.layouts.city_date", lambda session, city: date(2026, 12, 15))
    swept = CliRunner().invoke(main, ["sla", "sweep", "--json"])  # a cron sweep in December says it too
    assert swept.exit_code == 0 and json.loads(swept.stdout)["calendar_gaps"]["999701"] == [2027]
    assert "city 999701: no holiday data for 2027" in swept.stderr and "gridlink sla day" in swept.stderr
    engine.dispose()


def test_a_year_no_holiday_data_knows_is_flagged_before_it_starts_until_its_days_are_entered(db, demo_city) -> None:
    """chinesecalendar 1.11 knows 2026 but not 2027: from mid-November deadlines reach into 2027."""
    assert unknown_years(db, "330781", date(2026, 6, 1)) == []
    assert unknown_years(db, "330781", date(2026, 12, 15)) == [2027]
    set_day(db, "330781", date(2027, 1, 1), False, "元旦")
    assert unknown_years(db, "330781", date(2026, 12, 15)) == [2027]  # one day off is not the year's holidays
    for day in (date(2027, 2, 5), date(2027, 2, 8), date(2027, 4, 5), date(2027, 5, 3), date(2027, 6, 9),
                date(2027, 10, 1)):
        set_day(db, "330781", day, False)
    assert unknown_years(db, "330781", date(2026, 12, 15)) == []
