"""综合评价: the published rates reproduced, on-time judged against the handling deadline, exception counts
read from the history, no division by zero, and the score weights validated as data."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from grids.errors import Invalid
from grids.evaluation import evaluate, load_weights, parse_period, validate_weights
from grids.incidents import Actor
from grids.models import Category, Division, Incident, User
from grids.workflow import act, report

CITY = "330781"
YOUBU = "330781102"
MARCH_2025 = parse_period("month", "2025-03-15")
DUE = "2025-03-10T10:00:00+08:00"


def insert_due_cases(db, closed_at: list[str | None]) -> None:
    """One case per entry, all with a 处置 deadline of DUE in 游埠镇, closed at the given moment (None: open);
    inserted in one statement, as a month of history would be."""
    category = db.scalar(select(Category.id).where(Category.city_code == CITY, Category.code == "E0101"))
    township = db.scalar(select(Division.id).where(Division.code == YOUBU))
    db.execute(text("""
        INSERT INTO incidents (city_code, source, category_id, status, description, township_id, extensions,
                               version, reported_at, due_times, closed_at)
        SELECT :city, 'test', :category, CASE WHEN c.closed IS NULL THEN 'in_progress' ELSE 'closed' END, '',
               :township, 0, 1, CAST(:due AS timestamptz) - interval '5 days',
               jsonb_build_object('handle', jsonb_build_object('due', :due)), CAST(c.closed AS timestamptz)
        FROM unnest(CAST(:closed AS text[])) AS c(closed)"""),
        {"city": CITY, "category": category, "township": township, "due": DUE, "closed": closed_at})


def youbu(rows):
    return next(row for row in rows if row.code == YOUBU)


def test_the_published_rates_are_reproduced(db, demo_city) -> None:
    """911 of 972 due cases closed (93.72 %), 737 of them by the deadline (75.82 %)."""
    on_time, late = "2025-03-09T16:00:00+08:00", "2025-03-12T09:00:00+08:00"
    insert_due_cases(db, [on_time] * 737 + [late] * (911 - 737) + [None] * (972 - 911))
    row = youbu(evaluate(db, CITY, MARCH_2025, "township"))
    assert (row.counts["due"], row.counts["closed"], row.counts["on_time"]) == (972, 911, 737)
    assert row.rates["结案率"] == Decimal("93.72") and row.rates["按期结案率"] == Decimal("75.82")
    assert row.counts["overdue"] == 972 - 737
    # Nothing dispatched in the period: 准确派遣率's 20 points go to the two closing rates (40 + 40 -> 100).
    assert row.score == Decimal("84.77") and row.rank == 1


def test_a_case_closed_after_its_deadline_is_closed_but_not_on_time(db, demo_city) -> None:
    insert_due_cases(db, ["2025-03-10T10:00:00+08:00", "2025-03-10T10:00:01+08:00"])
    row = youbu(evaluate(db, CITY, MARCH_2025, "township"))
    assert (row.counts["due"], row.counts["closed"], row.counts["on_time"]) == (2, 2, 1)
    assert row.rates["按期结案率"] == Decimal("50.00")


def test_a_case_counts_in_the_period_it_settles_in_only(db, demo_city) -> None:
    """Closed early in February although due in March: due (and on time) in February, not in March."""
    insert_due_cases(db, ["2025-02-27T09:00:00+08:00"])
    assert youbu(evaluate(db, CITY, MARCH_2025, "township")).counts["due"] == 0
    february = youbu(evaluate(db, CITY, parse_period("month", "2025-02-01"), "township"))
    assert (february.counts["due"], february.counts["on_time"]) == (1, 1)


def test_a_case_parked_before_its_deadline_is_not_due_one_parked_after_it_is(db, demo_city) -> None:
    """挂账 stops the clock: a parked case counted as due and overdue, lowering the squad's 结案率 and score."""
    insert_due_cases(db, [None, None])
    early, late = db.scalars(select(Incident.id).where(Incident.source == "test").order_by(Incident.id)).all()
    db.execute(text("UPDATE incidents SET status = 'parked' WHERE source = 'test'"))
    for case_id, parked in ((early, "2025-03-10T09:00:00+08:00"), (late, "2025-03-11T09:00:00+08:00")):
        db.execute(text("INSERT INTO case_events (city_code, incident_id, seq, at, action, from_status, to_status) "
                        "VALUES (:city, :id, 1, CAST(:at AS timestamptz), 'park', 'in_progress', 'parked')"),
                   {"city": CITY, "id": case_id, "at": parked})
    row = youbu(evaluate(db, CITY, MARCH_2025, "township"))
    assert (row.counts["due"], row.counts["overdue"]) == (1, 1)


def test_in_a_running_period_a_case_not_yet_due_is_not_counted_unclosed(db, demo_city) -> None:
    """A department whose only cases were due in two days ranked with 0.00 % 结案率 and a score of 20."""
    now = db.scalar(select(func.now()))
    insert_due_cases(db, [None])
    db.execute(text("UPDATE incidents SET due_times = jsonb_build_object('handle', jsonb_build_object('due', "
                    "CAST(:due AS text))) WHERE source = 'test'"), {"due": (now + timedelta(minutes=5)).isoformat()})
    running = youbu(evaluate(db, CITY, parse_period("year", (now + timedelta(minutes=5)).date().isoformat()),
                             "township"))
    assert running.counts["due"] == 0 and running.rates["结案率"] is None


def actor(db, username: str) -> Actor:
    return Actor.of_user(db.scalar(select(User).where(User.city_code == CITY, User.username == username)))


def test_returns_reworks_and_extensions_are_counted_from_the_history(db, demo_city) -> None:
    x, y = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                             func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == YOUBU)).one()
    case = report(db, actor(db, "inspector"), "E0101", x, y, source="test", description="垃圾满溢")
    steps = [("file", "dispatcher", {}), ("dispatch", "dispatcher", {"department": "sanitation"}),
             ("return", "department", {"reason": "不归我们管"}),
             ("dispatch", "dispatcher", {"department": "sanitation"}), ("accept", "department", {}),
             ("request_extension", "department", {"duration": "1d", "reason": "需调用机械"}),
             ("approve_extension", "supervisor", {}),
             ("handle", "department", {"note": "已清运", "after_photo": "after.jpg"}), ("check", "inspector", {}),
             ("rework", "dispatcher", {"reason": "仍有残留"}),
             ("handle", "department", {"note": "已冲洗", "after_photo": "after2.jpg"})]
    for action, username, payload in steps:
        act(db, case.id, action, actor(db, username), case.version, **payload)
    this_year = parse_period("year", datetime.now().date())
    row = next(r for r in evaluate(db, CITY, this_year, "department") if r.code == "sanitation")
    counts = {k: row.counts[k] for k in ("dispatched", "returned", "dispatched_kept", "handled", "reworked",
                                         "extended")}
    assert counts == {"dispatched": 2, "returned": 1, "dispatched_kept": 1, "handled": 2, "reworked": 1,
                      "extended": 1}
    assert row.rates["准确派遣率"] == row.rates["返工率"] == row.rates["延期率"] == Decimal("50.00")
    assert row.handle_hours is not None and row.handle_hours >= 0


def test_nothing_due_gives_no_rate_and_no_score_rather_than_zero(db, demo_city) -> None:
    rows = evaluate(db, CITY, parse_period("quarter", "2020-05-01"), "squad")
    assert rows and all(r.rates["结案率"] is None and r.score is None and r.rank is None for r in rows)


def test_periods_are_whole_weeks_months_quarters_and_years() -> None:
    week = parse_period("week", date(2026, 11, 26))
    assert (week.start, week.end, week.label) == (date(2026, 11, 23), date(2026, 11, 30), "2026-W48")
    quarter = parse_period("quarter", "2026-11-01")
    assert (quarter.start, quarter.end, quarter.label) == (date(2026, 10, 1), date(2027, 1, 1), "2026-Q4")
    assert quarter.last_day == date(2026, 12, 31)
    assert parse_period("year", "2026-11-01").end - parse_period("year", "2026-11-01").start == timedelta(days=365)
    with pytest.raises(Invalid, match="week, month, quarter, year"):
        parse_period("fortnight", "2026-11-01")
    with pytest.raises(Invalid, match="before 9999-01-01"):
        parse_period("year", "9999-12-31")


def test_the_weights_file_is_valid_and_a_bad_key_is_named() -> None:
    assert sum(w for w in load_weights(CITY).values() if w > 0) == 100
    with pytest.raises(Invalid, match="回退率") as caught:
        validate_weights({"default": {"结案率": 60, "按期结案率": 40, "回退率": -5}})
    assert caught.value.code == "bad_weights"
    with pytest.raises(Invalid, match="330781: the positive weights add up to 90, not 100"):
        validate_weights({"default": {"结案率": 100}, "330781": {"结案率": 50, "按期结案率": 40}})
