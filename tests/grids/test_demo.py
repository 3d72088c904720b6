"""The demo city is real Lanxi, labelled illustrative where it is drawn, and loads idempotently."""

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from gis.crs import area_m2
from grids.calendar import city_calendar
from grids.demo import DEMO_HISTORY, DEMO_SHOPS, HISTORY_PREFIX, PILOT_TOWNSHIPS, lanxi_outline, load_demo, load_history
from grids.errors import Invalid
from grids.evaluation import evaluate, parse_period
from grids.frontage import red_list
from grids.incidents import Actor
from grids.models import (
    CaseEvent,
    Category,
    Division,
    FrontageInspection,
    FrontageUnit,
    Grid,
    Incident,
    Squad,
    User,
)
from grids.workflow import STAGE_CLOCKS, act, escalate_overdue, events_of, replay
from tests.conftest import YOUBU


def _counts(db) -> dict[str, int]:
    return {m.__name__: db.scalar(select(func.count()).select_from(m))
            for m in (Division, Grid, Category, Squad, User, Incident, CaseEvent)}


def test_loading_twice_creates_no_duplicates(db, demo_city) -> None:
    """The same load again (the session fixture drew 游埠's grids) adds nothing, grids included."""
    before = _counts(db)
    again = load_demo(db, grid_townships=(YOUBU,))
    assert again["new_cases"] == 0
    assert _counts(db) == before


def test_townships_are_the_16_official_codes_covering_the_real_outline(db, demo_city) -> None:
    townships = db.scalars(select(Division).where(Division.level == "township")).all()
    assert len(townships) == 16
    assert {t.code for t in townships} >= set(PILOT_TOWNSHIPS)
    assert all(t.illustrative and "示意" in t.name for t in townships)
    total = sum(db.scalar(select(func.ST_Area(func.Geography(Division.geom))).where(Division.id == t.id))
                for t in townships)
    assert abs(total - area_m2(lanxi_outline())) / area_m2(lanxi_outline()) < 1e-4


def test_squads_have_at_least_two_co_managers_per_officer(db, demo_city) -> None:
    for squad in db.scalars(select(Squad)).all():
        roles = [u.role for u in db.scalars(select(User).where(User.squad_id == squad.id))]
        assert roles.count("officer") >= 1
        assert roles.count("co_manager") >= 2 * roles.count("officer"), squad.name


def test_demo_cases_lie_in_pilot_townships_with_their_squad(db, demo_city) -> None:
    cases = db.scalars(select(Incident).where(Incident.source == "demo")).all()
    assert len(cases) >= 5
    for case in cases:
        assert case.township.code in PILOT_TOWNSHIPS
        assert case.squad is not None and case.squad.township_id == case.township_id


def test_worked_cases_went_through_the_workflow_and_load_once(db, demo_city) -> None:
    """Each worked case's history replays to its state; a second load adds nothing."""
    assert load_history(db) == len(DEMO_HISTORY)
    cases = db.scalars(select(Incident).where(Incident.external_id.like(f"{HISTORY_PREFIX}%"))).all()
    scripts = Counter(case.script for case in DEMO_HISTORY)
    assert Counter(case.status for case in cases) == {
        "closed": len(cases) - scripts["open"] - scripts["handled"], "in_progress": scripts["open"],
        "handled": scripts["handled"]}
    assert all(replay(events_of(db, case.id)) == case.status for case in cases)
    actions = Counter(e.action for case in cases for e in events_of(db, case.id))
    assert (actions["rework"], actions["approve_extension"], actions["return"]) == (
        scripts["reworked"], scripts["extended"], scripts["returned"])
    assert load_history(db) == 0


def _worked_cases(db) -> list[Incident]:
    load_history(db)
    return list(db.scalars(select(Incident).where(Incident.external_id.like(f"{HISTORY_PREFIX}%"))
                           .order_by(Incident.external_id)))


def test_worked_cases_happened_over_the_past_weeks_in_order(db, demo_city) -> None:
    """Back-filled from the report on: each case's events in replay order are in time order, all past,
    spread over more than five weeks; one case in handling is overdue, the others are not, and the handled
    case waits for its check past its deadline."""
    cases = _worked_cases(db)
    now = db.scalar(select(func.now()))
    for case in cases:
        times = [event.at for event in events_of(db, case.id)]
        assert times == sorted(times) and times[0] == case.reported_at and times[-1] < now, case.external_id
    assert now - min(case.reported_at for case in cases) > timedelta(weeks=5)
    in_handling = [case for case in cases if case.status == "in_progress"]
    assert sum(case.deadline_at < now for case in in_handling) == 1
    assert all(case.deadline_at < now for case in cases if case.status == "handled")


def test_the_demo_history_ranks_this_month_and_last_with_late_closings_and_handling_time(db, demo_city) -> None:
    """What /reports shows after `gridlink demo load`: both months rank pilot townships; a late closing makes
    按期结案率 differ from 结案率; handling takes time."""
    _worked_cases(db)
    today = db.scalar(select(func.now())).astimezone(city_calendar(db, "330781").tz).date()
    this_month = parse_period("month", today)
    last_month = parse_period("month", this_month.start - timedelta(days=1))
    rows = {period.label: [row for row in evaluate(db, "330781", period, "township") if row.rank]
            for period in (this_month, last_month)}
    assert all(rows.values()), rows
    ranked = [row for period_rows in rows.values() for row in period_rows]
    assert {row.code for row in ranked} <= set(PILOT_TOWNSHIPS)
    assert any(row.rates["按期结案率"] < row.rates["结案率"] for row in ranked)
    assert any(row.handle_hours for row in ranked)
    assert all(row.handle_hours > 0 for row in ranked if row.handle_hours is not None)


def test_a_back_filled_action_in_the_future_or_before_the_history_is_refused(db, demo_city) -> None:
    """`at` keeps the history ordered and past; a refused action leaves the case as it was."""
    case = next(case for case in _worked_cases(db) if case.status == "in_progress")
    officer = Actor.of_user(db.scalar(select(User).where(User.username == f"{case.township.code}-officer1")))
    history = events_of(db, case.id)
    for at, code in ((db.scalar(select(func.now())) + timedelta(hours=1), "event_time_in_future"),
                     (history[-1].at - timedelta(minutes=1), "event_time_before_history")):
        with pytest.raises(Invalid) as refused:
            act(db, case.id, "handle", officer, case.version, at=at, note="已处置", after_photo="after.jpg")
        assert refused.value.code == code
        db.refresh(case)
        assert (case.status, len(events_of(db, case.id))) == ("in_progress", len(history))


def _escalations(events: list[CaseEvent]) -> list[CaseEvent]:
    return [event for event in events if event.action == "escalate"]


def test_worked_cases_that_ran_late_were_escalated_at_each_deadline_they_passed(db, demo_city) -> None:
    """What the sweeper would have said: a stage left after its deadline shows one 督办 (system, "overdue")
    at that deadline, before the late action; a stage left in time shows none; the history still replays."""
    escalated = 0
    for case in _worked_cases(db):
        events = events_of(db, case.id)
        assert replay(events) == case.status, case.external_id
        for event, following in zip(events, events[1:], strict=False):
            if event.action == "escalate":
                assert (event.actor_role, event.note) == ("system", "overdue"), case.external_id
                assert event.at == datetime.fromisoformat(event.data["deadline_at"]) < following.at
        deadlines = [(event.data["stage"], datetime.fromisoformat(event.data["deadline_at"]))
                     for event in _escalations(events)]
        assert len(deadlines) == len(set(deadlines)), f"{case.external_id} escalated a deadline twice"
        for stage, clock in case.due_times.items():
            started, due = datetime.fromisoformat(clock["started"]), datetime.fromisoformat(clock["due"])
            left = next((e for e in events if e.at > started and STAGE_CLOCKS.get(e.to_status) != stage), None)
            late = left is not None and left.at > due
            assert deadlines.count((stage, due)) == late, (case.external_id, stage)
        escalated += len(deadlines)
    late_handling = 5  # DEMO_HISTORY's comment: 游埠 24, 永昌 22, 马涧 18 and 7, 梅江 16 days back
    assert escalated >= late_handling


def test_a_sweep_right_after_the_load_escalates_only_the_overdue_open_cases_once(db, demo_city) -> None:
    """The back-filled escalations are the sweeper's own: it finds them done, and escalates the open cases
    that are overdue now (one in handling, one waiting for its check) exactly once, however often it runs."""
    cases = {case.id: case for case in _worked_cases(db)}
    before = {case_id: len(_escalations(events_of(db, case_id))) for case_id in cases}
    now = db.scalar(select(func.now()))
    overdue = {case.id for case in cases.values() if case.status != "closed" and case.deadline_at < now}
    assert set(escalate_overdue(db)) & set(cases) == overdue
    assert sorted(cases[case_id].status for case_id in overdue) == ["handled", "in_progress"]
    assert set(escalate_overdue(db)) & set(cases) == set()
    for case_id, case in cases.items():
        escalations = _escalations(events_of(db, case_id))
        assert len(escalations) == before[case_id] + (case_id in overdue), case.external_id
    for case_id in overdue:
        swept = [event for event in _escalations(events_of(db, case_id)) if event.at == now]
        assert [datetime.fromisoformat(event.data["deadline_at"]) for event in swept] == [cases[case_id].deadline_at]


def test_the_old_street_has_frontage_units_whose_areas_hold_the_stall_case(db, demo_city) -> None:
    """The demo's 门前三包 street: ten shops with agreements, each with its own frontage area (none overlap),
    and the fruit-stall case standing in front of the fruit shop is routed with that unit."""
    units = db.scalars(select(FrontageUnit).where(FrontageUnit.city_code == "330781")).all()
    assert len(units) == len(DEMO_SHOPS["south"]) + len(DEMO_SHOPS["north"]) == 10
    youbu = db.scalar(select(Division.id).where(Division.code == YOUBU))
    assert all(u.area is not None and u.agreement_expires_on and u.township_id == youbu and u.grids for u in units)
    overlaps = db.scalar(select(func.count()).select_from(FrontageUnit).join(
        other := aliased(FrontageUnit), (other.id > FrontageUnit.id) & func.ST_Overlaps(other.area, FrontageUnit.area)))
    assert overlaps == 0
    stall = db.scalar(select(Incident).where(Incident.source == "demo", Incident.description.like("沿街水果店%")))
    assert db.get(FrontageUnit, stall.frontage_unit_id).name == "老街水果店"
    assert "frontage of 老街水果店 (门前三包)" in stall.routing_reason
    assert load_demo(db, grid_townships=(YOUBU,))["new_frontage_units"] == 0
    scores = {row["name"]: row["score"] for row in red_list(db, "330781", YOUBU)}
    assert scores == {"老街便利店": 1000, "古镇药房": 1000, "供销社门市部": 1000, "老街理发店": 980, "游埠早茶馆": 970,
                      "游埠酥饼铺": 950}  # 950 and up: the fruit shop (840) and 五金店 (730) are not on it


def test_a_reload_adds_a_missing_shop_and_leaves_other_units_and_scores_alone(db, demo_city) -> None:
    """A deleted demo shop comes back with its area and its one inspection; a unit of the planner's own in 游埠
    keeps its area, and the other shops are not inspected again."""
    from geoalchemy2.shape import to_shape

    from gis.readers import Feature
    from grids.frontage import import_units

    shops = {u.name: u for u in db.scalars(select(FrontageUnit).where(FrontageUnit.city_code == "330781"))}
    fruit = to_shape(shops["老街水果店"].area).centroid
    import_units(db, "330781", [Feature(1, {"name": "规划员自建单位"}, fruit, None)], "name")
    own = db.scalar(select(FrontageUnit).where(FrontageUnit.name == "规划员自建单位"))
    own.area = shops["老街水果店"].area
    db.delete(shops["古镇药房"])
    db.flush()
    inspections = db.scalar(select(func.count()).select_from(FrontageInspection))
    assert load_demo(db, grid_townships=(YOUBU,))["new_frontage_units"] == 1
    db.refresh(own)
    assert db.scalar(select(func.ST_Equals(own.area, shops["老街水果店"].area)))
    back = db.scalar(select(FrontageUnit).where(FrontageUnit.name == "古镇药房"))
    assert back.area is not None and db.scalar(select(func.count()).select_from(FrontageInspection)) == inspections + 1
