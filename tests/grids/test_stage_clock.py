"""Working-time limits per stage (立案, 派遣, 处置, 核查, 结案): each stage starts its own clock on the city
calendar, a category's limit beats the city default, a stage without a limit has no deadline, and the sweep
escalates each stage's deadline once, across restarts."""

import json
from datetime import datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, delete, func, select
from sqlalchemy.orm import Session

from grids.calendar import city_calendar, deadline
from grids.catalog import import_catalog
from grids.models import Category, Incident, StageLimit
from grids.workflow import deadline_class, escalate_overdue, events_of, start_stage
from tests.grids.test_workflow import CITY, committed_case, fresh_city_url, new_case, step  # noqa: F401

SH = ZoneInfo("Asia/Shanghai")
# The demo catalog's defaults (grids/data/lanxi_catalog.json); handling is the minor class's own limit.
LIMITS = {"file": "1h", "dispatch": "30m", "handle": "4h", "check": "4h", "close": "1h"}
WALK = (("file", "dispatcher", {}), ("dispatch", "dispatcher", {"department": "bureau"}),  # the squad's work
        ("accept", "squad_leader", {}),
        ("handle", "squad_leader", {"note": "已清运", "after_photo": "after.jpg"}), ("check", "inspector", {}))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def due_of(db, case: Incident, stage: str) -> datetime:
    """When the stage's clock, as due_times recorded its start and limit, is due on the city calendar."""
    clock = case.due_times[stage]
    return deadline(datetime.fromisoformat(clock["started"]), clock["limit"], city_calendar(db, CITY))


def walk(db, case: Incident, until: str) -> Incident:
    for action, username, payload in WALK[:[a for a, _, _ in WALK].index(until) + 1]:
        step(db, case, action, username, **payload)
    return case


def test_each_stage_starts_its_clock_with_its_limit_and_due_times_keeps_them_all(db, demo_city) -> None:
    case = new_case(db, by="dispatcher")  # a hotline call of 暴露垃圾: 4 working hours to handle
    seen = {"report": case.deadline_at}
    for action, username, payload in (("verify", "co_manager", {}), *WALK):
        step(db, case, action, username, **payload)
        seen[action] = case.deadline_at
    assert seen["verify"] == seen["report"]  # verifying on site does not restart the centre's filing clock
    assert seen["accept"] == seen["dispatch"]  # accepting does not restart the handler's clock
    started = {"file": "report", "dispatch": "file", "handle": "dispatch", "check": "handle", "close": "check"}
    for stage, limit in LIMITS.items():
        assert case.due_times[stage]["limit"] == limit
        assert seen[started[stage]] == due_of(db, case, stage) == datetime.fromisoformat(case.due_times[stage]["due"])
    step(db, case, "close", "dispatcher")
    assert case.deadline_at is None and set(case.due_times) == set(LIMITS)


def test_a_limit_counts_working_time_across_national_day_and_a_make_up_saturday(db, demo_city) -> None:
    case = new_case(db)
    # 30 working minutes from 17:15 on 30 Sept 2025: 15 before closing, 15 after the 1-8 October holiday.
    assert start_stage(db, case, "dispatch", at("2025-09-30 17:15"))["deadline_at"] == at("2025-10-09 08:45")
    db.add(StageLimit(city_code=CITY, category_id=case.category_id, stage="check", time_limit="3d"))
    db.flush()
    # 3 working days = 22.5 h: 1.5 on 30 Sept, 7.5 on 9 and 10 Oct, 6 on Saturday 11 Oct (调休, a working day).
    clock = start_stage(db, case, "check", at("2025-09-30 16:00"))
    assert clock["deadline_at"] == at("2025-10-11 16:00")
    assert clock["due_times"]["check"] == {"started": "2025-09-30T08:00:00+00:00",  # stored in UTC
                                           "due": "2025-10-11T08:00:00+00:00", "limit": "3d"}


def test_a_category_limit_beats_the_city_default(db, demo_city) -> None:
    water = walk(db, new_case(db, "E0401"), "handle")  # 路面积水: checked within 1 hour, not the default 4
    garbage = walk(db, new_case(db), "handle")
    assert water.due_times["check"]["limit"] == "1h" and garbage.due_times["check"]["limit"] == "4h"
    assert water.deadline_at < garbage.deadline_at
    fire = new_case(db, "E0402")  # 火灾隐患: filed within 30 minutes; its other stages keep the defaults
    step(db, fire, "file", "dispatcher")
    assert fire.due_times["file"]["limit"] == "30m" and fire.due_times["dispatch"]["limit"] == "15m"
    step(db, fire, "dispatch", "dispatcher")
    assert fire.due_times["handle"]["limit"] == "2h"


def test_a_stage_without_a_limit_has_no_deadline_and_is_never_overdue(db, demo_city) -> None:
    db.execute(delete(StageLimit).where(StageLimit.city_code == CITY, StageLimit.stage == "close"))
    case = walk(db, new_case(db), "check")
    assert case.status == "checked" and case.deadline_at is None
    assert case.due_times["close"]["due"] is None and case.due_times["close"]["limit"] is None
    assert deadline_class(case.deadline_at, datetime.now(SH)) == "none"
    assert case.id not in escalate_overdue(db, db.scalar(select(func.now())) + timedelta(days=30))


def test_redispatch_restarts_the_handling_clock_and_an_extension_adds_to_it(db, demo_city) -> None:
    case = walk(db, new_case(db), "dispatch")
    step(db, case, "request_extension", "squad_leader", duration="30m", reason="需调用机械")
    step(db, case, "approve_extension", "supervisor")
    extended = case.deadline_at
    assert extended == city_calendar(db, CITY).add(due_of(db, case, "handle"), timedelta(minutes=30))
    assert case.due_times["handle"]["due"] == extended.isoformat()
    step(db, case, "redispatch", "dispatcher", department="utilities")
    assert case.deadline_at == due_of(db, case, "handle") < extended


def test_parking_stops_the_clock_and_resuming_starts_the_dispatch_clock(db, demo_city) -> None:
    case = walk(db, new_case(db), "dispatch")
    step(db, case, "park", "supervisor", reason="冬季无法施工")
    assert case.deadline_at is None
    step(db, case, "resume", "supervisor")
    assert case.status == "filed" and case.deadline_at == due_of(db, case, "dispatch")


def escalated_stages(db, case: Incident) -> list[str]:
    return [e.data["stage"] for e in events_of(db, case.id) if e.action == "escalate"]


def test_the_sweep_escalates_once_per_stage_deadline(db, demo_city) -> None:
    case = new_case(db)
    later = db.scalar(select(func.now())) + timedelta(days=30)
    assert case.id in escalate_overdue(db, later)  # nobody filed it in time
    assert case.id not in escalate_overdue(db, later)
    step(db, case, "file", "dispatcher")
    assert case.overdue_at is None
    assert case.id in escalate_overdue(db, later)  # nobody dispatched it in time either
    assert case.id not in escalate_overdue(db, later)
    assert escalated_stages(db, case) == ["file", "dispatch"]


def test_a_restarted_sweeper_escalates_nothing_twice(committed_case) -> None:  # noqa: F811
    url, case_id = committed_case
    engine = create_engine(url)

    def sweep(later: timedelta) -> list[int]:
        with Session(engine) as session, session.begin():  # a new process each time
            return escalate_overdue(session, session.scalar(select(func.now())) + later)

    assert case_id in sweep(timedelta(days=30)) and case_id not in sweep(timedelta(days=30))
    with Session(engine) as session, session.begin():
        case = session.get(Incident, case_id)
        step(session, case, "file", "dispatcher")
    assert case_id in sweep(timedelta(days=30)) and case_id not in sweep(timedelta(days=30))
    with Session(engine) as session:
        assert escalated_stages(session, session.get(Incident, case_id)) == ["file", "dispatch"]
    engine.dispose()


def test_loading_the_catalog_again_keeps_one_set_of_stage_limits(db, demo_city) -> None:
    catalog = json.loads(resources.files("grids").joinpath("data/lanxi_catalog.json").read_text())

    def limits() -> list[tuple[str | None, str, str]]:
        return sorted(db.execute(select(Category.code, StageLimit.stage, StageLimit.time_limit)
                                 .outerjoin(Category, Category.id == StageLimit.category_id)
                                 .where(StageLimit.city_code == CITY)).all(), key=str)

    before = limits()
    assert import_catalog(db, catalog)["stage_limits"] == len(before) == 7
    assert limits() == before
    assert "stage_limits" not in import_catalog(db, {k: v for k, v in catalog.items() if k != "stage_limits"})
    assert limits() == before  # a file that does not speak of stage limits keeps them
    import_catalog(db, {**catalog, "stage_limits": {}})
    assert limits() == []
