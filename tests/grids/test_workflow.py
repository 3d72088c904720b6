"""The case workflow: transitions as data, roles and zones on every action, optimistic concurrency,
working-time deadlines, the overdue sweeper, and history that replays to the current state."""

import json
import threading
from datetime import datetime, timedelta
from importlib import resources

import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from grids.duplicates import nearby_open_cases
from grids.errors import Conflict, Forbidden, Invalid, NotFound
from grids.incidents import Actor
from grids.models import ROLES, CaseEvent, Department, Division, Incident, OutboxMessage, User
from grids.workflow import ACTIONS, Zone, act, authorize, escalate_overdue, events_of, replay, report, zone_of

CITY = "330781"
YOUBU = "330781102"


def actor(db, username: str) -> Actor:
    return Actor.of_user(db.scalar(select(User).where(User.city_code == CITY, User.username == username)))


def new_case(db, category: str = "E0101", by: str = "inspector") -> Incident:
    """A case reported in 游埠镇: by default an inspector's (first-hand); by="dispatcher" a hotline call's."""
    x, y = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                             func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == YOUBU)).one()
    return report(db, actor(db, by), category, x, y, source="hotline" if by == "dispatcher" else "test",
                  description="垃圾满溢")


def step(db, case: Incident, action: str, username: str, **payload) -> Incident:
    return act(db, case.id, action, actor(db, username), case.version, **payload)


def test_the_whole_workflow_runs_sets_the_deadline_and_replays_from_history(db, demo_city) -> None:
    case = new_case(db, by="dispatcher")
    step(db, case, "verify", "co_manager")
    step(db, case, "file", "dispatcher")
    assert case.deadline_at is not None
    step(db, case, "dispatch", "dispatcher")
    step(db, case, "accept", "department")
    step(db, case, "handle", "department", note="已清运", after_photo="after.jpg")
    step(db, case, "check", "inspector")
    step(db, case, "rework", "dispatcher", reason="路面仍有残留")
    step(db, case, "handle", "department", note="已冲洗", after_photo="after2.jpg")
    step(db, case, "check", "inspector")
    step(db, case, "close", "dispatcher")
    assert case.status == "closed" and case.closed_at is not None and case.deadline_at is None
    events = events_of(db, case.id)
    assert [e.action for e in events][:3] == ["report", "verify", "file"]
    assert replay(events) == "closed" and len(events) == case.version
    assert events[-1].actor_role == "dispatcher" and events[5].data == {"after_photo": "after.jpg"}


def test_an_imported_case_replays_to_the_state_the_old_system_recorded() -> None:
    closed_elsewhere = [CaseEvent(action="import", to_status="closed")]
    assert replay(closed_elsewhere) == "closed"
    assert replay([CaseEvent(action="import", to_status="reported"), CaseEvent(action="file")]) == "filed"


def test_every_demo_case_replays_to_its_current_state(db, demo_city) -> None:
    """RELIABILITY 14: history is the truth; each case's events give its status."""
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "cancel", "supervisor", reason="duplicate")
    for incident in db.scalars(select(Incident).where(Incident.city_code == CITY)):
        assert replay(events_of(db, incident.id)) == incident.status


def test_an_illegal_jump_is_refused_and_nothing_is_recorded(db, demo_city, caplog) -> None:
    case = new_case(db)
    with pytest.raises(Invalid, match="cannot be 'close'ed") as caught:
        step(db, case, "close", "dispatcher")
    assert caught.value.details["allowed"] == ["file", "escalate", "cancel", "relocate"]  # the dispatcher's, in order
    assert f"refused close by dispatcher (dispatcher) on case {case.id} (reported)" in caplog.text  # who, which case
    assert len(events_of(db, case.id)) == 1 and case.version == 1


def test_a_role_without_the_grant_is_forbidden(db, demo_city) -> None:
    case = new_case(db)
    with pytest.raises(Forbidden, match="dispatcher or supervisor"):
        step(db, case, "file", "officer")


EXPECTED = {  # (state, action): roles granted, besides admin
    ("reported", "file"): {"dispatcher", "supervisor"},
    ("filed", "dispatch"): {"dispatcher", "supervisor"},
    ("dispatched", "accept"): {"department", "squad_leader", "officer"},
    ("in_progress", "handle"): {"department", "squad_leader", "officer"},
    ("handled", "check"): {"inspector", "co_manager", "officer", "squad_leader"},
    ("handled", "rework"): {"dispatcher", "supervisor", "inspector", "co_manager", "officer", "squad_leader"},
    ("checked", "rework"): {"dispatcher", "supervisor"},
    ("checked", "close"): {"dispatcher", "supervisor"},
    ("filed", "park"): {"supervisor"},
    ("filed", "cancel"): {"dispatcher", "supervisor"},
    ("in_progress", "reject_extension"): {"supervisor"},
    (None, "report"): {"dispatcher", "supervisor", "inspector", "squad_leader", "officer", "co_manager"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("state", "action"), sorted(EXPECTED, key=str))
def test_role_action_matrix(role: str, state: str | None, action: str) -> None:
    who = Actor(city_code=CITY, role=role, label=role)
    if role == "admin" or role in EXPECTED[(state, action)]:
        assert authorize(None, who, state, action).action == action
    else:
        with pytest.raises(Forbidden):
            authorize(None, who, state, action)


def test_every_action_of_the_table_is_known() -> None:
    assert set(ACTIONS) >= {"report", "verify", "file", "dispatch", "accept", "handle", "check", "close", "rework",
                            "request_extension", "approve_extension", "return", "redispatch", "park", "resume",
                            "escalate", "cancel", "reopen", "reject_extension"}


def test_actors_outside_their_zone_get_not_found(db, demo_city, caplog) -> None:
    """RELIABILITY 13/16: a squad only in its township, a department only on cases routed to it; each
    attempt is logged."""
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher")
    with caplog.at_level("WARNING", logger="gridlink.workflow"), pytest.raises(NotFound):
        step(db, case, "accept", "330781104-officer1")  # 诸葛镇's squad
    assert f"refused case {case.id}" in caplog.text and "officer" in caplog.text
    step(db, case, "redispatch", "dispatcher", department="bureau")
    with pytest.raises(NotFound):
        step(db, case, "accept", "department")  # sanitation: no longer routed to it
    step(db, case, "accept", "squad_leader")  # 游埠镇's squad works the bureau's cases in its township
    assert case.status == "in_progress"


def test_a_case_dispatched_to_a_department_is_its_to_handle_not_the_squads(db, demo_city, caplog) -> None:
    """One accountable owner: the township's squad sees the department's case but cannot accept, handle or
    return it for the department (nor ask for its extension); the bureau's own cases are the squad's."""
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    for action, payload in (("accept", {}), ("return", {"reason": "不归我们"}),
                            ("handle", {"note": "已清理", "after_photo": "after.jpg"})):
        with caplog.at_level("WARNING", logger="gridlink.workflow"), \
                pytest.raises(Forbidden, match="dispatched to 环境卫生管理处") as refused:
            step(db, case, action, "officer", **payload)
        assert refused.value.code == "not_the_owner"
    with pytest.raises(Forbidden, match="dispatched to 环境卫生管理处"):
        step(db, case, "request_extension", "officer", duration="1d", reason="人手不够")
    with pytest.raises(Invalid) as nothing:
        step(db, case, "close", "officer")
    assert nothing.value.details["allowed"] == []  # nothing is the squad's to do on it: no false offers
    assert "refused accept by officer" in caplog.text and case.status == "dispatched"
    step(db, case, "accept", "department")
    step(db, case, "redispatch", "dispatcher", department="bureau")
    step(db, case, "handle", "officer", note="已清理", after_photo="after.jpg")
    assert case.status == "handled"


def test_the_squad_that_worked_a_case_does_not_check_it(db, demo_city, caplog) -> None:
    """监管分离: the bureau's case handled by 游埠's squad is checked by an inspector, never by the squad itself
    (not offered to it either); the same squad may check a department's work in its township."""
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="bureau")
    step(db, case, "handle", "officer", note="已清理", after_photo="after.jpg")
    for login in ("officer", "squad_leader", "co_manager"):
        for action, payload in (("check", {}), ("rework", {"reason": "仍有残留"})):  # neither pass nor fail it
            with caplog.at_level("WARNING", logger="gridlink.workflow"), pytest.raises(Forbidden) as refused:
                step(db, case, action, login, **payload)
            assert refused.value.code == "own_work"
    assert "their squad's own work" in caplog.text and case.status == "handled"
    with pytest.raises(Invalid) as nothing:
        step(db, case, "close", "officer")
    assert "check" not in nothing.value.details["allowed"]
    step(db, case, "check", "inspector")
    other = new_case(db)
    step(db, other, "file", "dispatcher")
    step(db, other, "dispatch", "dispatcher", department="sanitation")
    step(db, other, "handle", "department", note="已清理", after_photo="after.jpg")
    step(db, other, "check", "co_manager")
    assert (case.status, other.status) == ("checked", "checked")


def test_a_stale_version_gets_conflict(db, demo_city) -> None:
    case = new_case(db)
    with pytest.raises(Conflict, match="case changed, reload"):
        act(db, case.id, "file", actor(db, "dispatcher"), case.version + 1)


def test_return_and_redispatch(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    with pytest.raises(Invalid, match="reason"):
        step(db, case, "return", "department")
    step(db, case, "return", "department", reason="不属于环卫")
    assert case.status == "filed" and case.department_id is None and case.owner_type == "centre"
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    assert case.owner_type == "department"
    step(db, case, "redispatch", "dispatcher", department="landscape")
    routed = case.routing_reason.split("; ")
    assert routed[-3:] == ["returned to the centre by 环境卫生管理处 环卫",
                           "dispatched by the centre to department 环境卫生管理处 环卫",
                           "dispatched by the centre to department 园林绿化中心 园林"]  # why it is where it is
    version, deadline = case.version, case.deadline_at
    with pytest.raises(Invalid, match="with 园林绿化中心 园林 already") as same:  # it would only restart the clock
        step(db, case, "redispatch", "dispatcher", department="landscape")
    assert same.value.code == "same_department" and (case.version, case.deadline_at) == (version, deadline)
    assert case.routing_reason.split("; ") == routed
    assert case.routing_steps[-1] == ["centre_dispatch", {"name": "园林绿化中心 园林"}]


def test_a_returned_case_dispatched_without_a_department_goes_to_the_squad_and_it_is_told(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    with pytest.raises(Invalid, match="reason") as blank:  # a reason of spaces is no reason
        step(db, case, "return", "department", reason=" \t ")
    assert blank.value.code == "missing_fields"
    step(db, case, "return", "department", reason="不属于环卫")
    step(db, case, "dispatch", "dispatcher")
    assert (case.status, case.owner_type, case.department_id) == ("dispatched", "squad", None)
    assert case.routing_reason.endswith(f"dispatched by the centre to {case.squad.name}: no department has the case")
    told = db.scalars(select(OutboxMessage.recipient).where(OutboxMessage.incident_id == case.id,
                                                            OutboxMessage.kind == "dispatch")
                      .order_by(OutboxMessage.id)).all()
    assert told[-1] == f"squad:{case.squad_id}"


def test_a_case_with_no_one_to_answer_locally_is_not_dispatched_to_no_one(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    db.execute(update(Incident).where(Incident.id == case.id)
               .values(department_id=None, squad_id=None, township_id=None, owner_type="centre"))
    db.refresh(case)
    with pytest.raises(Invalid, match="name the department") as refused:
        step(db, case, "dispatch", "dispatcher")
    assert refused.value.details == ["department"] and case.status == "filed"


def test_extensions_need_approval_and_the_second_one_a_higher_one(db, demo_city) -> None:
    case = new_case(db)
    for action in ("file", "dispatch"):
        step(db, case, action, "dispatcher")
    due = case.deadline_at
    step(db, case, "request_extension", "department", duration="1d", reason="需调用机械")
    with pytest.raises(Conflict):
        step(db, case, "request_extension", "department", duration="1d", reason="需调用机械")
    step(db, case, "approve_extension", "supervisor")
    assert case.deadline_at > due and case.extensions == 1 and case.extension_request is None
    with pytest.raises(Invalid, match="no extension is waiting"):  # not "needs admin": nothing waits
        step(db, case, "approve_extension", "supervisor")
    step(db, case, "request_extension", "department", duration="4h", reason="需调用机械")
    with pytest.raises(Forbidden, match="admin"):
        step(db, case, "approve_extension", "supervisor")
    step(db, case, "approve_extension", "admin")
    assert case.extensions == 2


def test_an_extension_granted_to_a_late_case_counts_from_its_approval(db, demo_city) -> None:
    """Added to a deadline 49 days past, one working day left the case overdue, and the sweep escalated it again."""
    case = new_case(db)
    for action in ("file", "dispatch"):
        step(db, case, action, "dispatcher")
    now = db.scalar(select(func.now()))
    db.execute(update(Incident).where(Incident.id == case.id).values(deadline_at=now - timedelta(days=49)))
    db.refresh(case)
    step(db, case, "request_extension", "department", duration="1d", reason="需调用机械")
    step(db, case, "approve_extension", "supervisor")
    assert case.deadline_at > now and case.overdue_at is None
    assert case.id not in escalate_overdue(db, now=now)
    judged_by = datetime.fromisoformat(case.due_times["handle"]["due"])  # what the evaluation reads
    assert judged_by < now  # the lateness stays on record: 49 days late plus one day granted


@pytest.mark.parametrize("duration", ["0m", "29m", "31d", "999d", "abc", "1w", "1.5h", "-1h"])
def test_an_extension_of_no_time_or_of_months_is_refused(db, demo_city, duration) -> None:
    """Half an hour to 30 working days: 0m would be a request for nothing, 999d a case parked by another name."""
    case = new_case(db)
    for action in ("file", "dispatch"):
        step(db, case, action, "dispatcher")
    with pytest.raises(Invalid, match="30m to 30d") as refused:
        step(db, case, "request_extension", "department", duration=duration, reason="需调用机械")
    assert refused.value.code == "bad_extension" and case.extension_request is None
    step(db, case, "request_extension", "department", duration="30d", reason="需调用机械")


def test_an_extension_is_refused_with_a_reason_and_may_be_asked_again(db, demo_city) -> None:
    case = new_case(db)
    for action in ("file", "dispatch"):
        step(db, case, action, "dispatcher")
    due = case.deadline_at
    with pytest.raises(Invalid, match="no extension is waiting"):
        step(db, case, "reject_extension", "supervisor", reason="工作量不大")
    step(db, case, "request_extension", "department", duration="2d", reason="需调用机械")
    with pytest.raises(Invalid, match="reason"):
        step(db, case, "reject_extension", "supervisor")
    step(db, case, "reject_extension", "supervisor", reason="工作量不大，按期完成")
    assert case.extension_request is None and case.deadline_at == due and case.extensions == 0
    assert [(m.kind, m.recipient) for m in db.scalars(select(OutboxMessage).where(
        OutboxMessage.incident_id == case.id, OutboxMessage.kind.like("%extension")))] == [
        ("request_extension", "role:supervisor"), ("reject_extension", f"department:{case.department_id}")]
    step(db, case, "request_extension", "department", duration="1d", reason="需调用机械")
    assert case.extension_request == "1d"


def test_a_waiting_extension_request_ends_when_the_handler_reports_done_or_loses_the_case(db, demo_city) -> None:
    for ending, who, extra in (("handle", "department", {"note": "已清理", "after_photo": "after.jpg"}),
                               ("redispatch", "dispatcher", {"department": "landscape"})):
        case = new_case(db)
        for action in ("file", "dispatch"):
            step(db, case, action, "dispatcher")
        step(db, case, "request_extension", "department", duration="1d", reason="需调用机械")
        step(db, case, ending, who, **extra)
        assert case.extension_request is None, ending


def test_park_resume_cancel_and_reopen(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "park", "supervisor", reason="冬季无法施工")
    assert case.status == "parked" and case.deadline_at is None
    step(db, case, "resume", "supervisor")
    assert case.deadline_at is not None
    with pytest.raises(Invalid, match="duplicate, invalid"):
        step(db, case, "cancel", "dispatcher", reason="boring")
    step(db, case, "cancel", "dispatcher", reason="invalid")
    assert case.status == "cancelled"


def test_the_sweeper_escalates_each_overdue_case_exactly_once(db, demo_city) -> None:
    """RELIABILITY 15: deadlines live in rows; a second (restarted) sweep finds nothing new."""
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher")
    later = db.scalar(select(func.now())) + timedelta(days=30)
    assert case.id in escalate_overdue(db, later)
    assert case.id not in escalate_overdue(db, later)
    db.refresh(case)
    escalations = [e for e in events_of(db, case.id) if e.action == "escalate"]
    assert len(escalations) == 1 and escalations[0].actor_role == "system" and case.overdue_at is not None
    assert replay(events_of(db, case.id)) == "dispatched"


@pytest.fixture()
def committed_case(fresh_city_url: str) -> tuple[str, int]:
    engine = create_engine(fresh_city_url)
    with Session(engine) as session, session.begin():
        case = new_case(session)
        case_id = case.id
    engine.dispose()
    return fresh_city_url, case_id


@pytest.fixture()
def fresh_city_url(empty_database_url: str) -> str:
    """Concurrency needs committed rows on two connections: a database of its own, dropped afterwards."""
    from grids.demo import load_demo
    from grids.migrate import upgrade

    upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    with Session(engine) as session, session.begin():
        load_demo(session, grid_townships=())
    engine.dispose()
    return empty_database_url


def test_two_dispatchers_at_once_one_wins_the_other_gets_conflict(committed_case) -> None:
    """RELIABILITY 11: the loser waits on the row lock, then finds the version moved on; one event."""
    url, case_id = committed_case
    engine = create_engine(url)
    first, second = Session(engine), Session(engine)
    outcome: dict[str, object] = {}
    act(first, case_id, "file", actor(first, "dispatcher"), 1)

    def race() -> None:
        try:
            act(second, case_id, "cancel", actor(second, "supervisor"), 1, reason="duplicate")
            outcome["second"] = "won"
        except Conflict as exc:
            outcome["second"], outcome["details"] = exc.message, exc.details

    thread = threading.Thread(target=race)
    thread.start()
    thread.join(timeout=1)  # blocked on the first transaction's row lock
    first.commit()
    thread.join(timeout=10)
    second.rollback()
    with Session(engine) as check:
        incident = check.get(Incident, case_id)
        events = check.scalars(select(CaseEvent).where(CaseEvent.incident_id == case_id)).all()
        assert outcome["second"] == "case changed, reload" and outcome["details"] == {"version": 2}  # to reload
        assert incident.status == "filed" and incident.version == 2 and len(events) == 2
    first.close()
    second.close()
    engine.dispose()


def test_two_reports_of_one_hotline_case_number_at_once_store_one_case_and_name_it(fresh_city_url) -> None:
    """The second passed the duplicate check before the first committed: its INSERT hit the unique index (500)."""
    engine = create_engine(fresh_city_url)
    first, second = Session(engine), Session(engine)
    outcome: dict[str, object] = {}
    x, y = first.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == YOUBU)).one()
    stored = report(first, actor(first, "dispatcher"), "E0101", x, y, source="api", description="a",
                    external_id="12345-2026-0042")

    def race() -> None:
        try:
            report(second, actor(second, "dispatcher"), "E0101", x, y, source="api", description="b",
                   external_id="12345-2026-0042")
            outcome["second"] = "stored"
        except Conflict as exc:
            outcome["second"] = (exc.code, exc.details)

    thread = threading.Thread(target=race)
    thread.start()
    thread.join(timeout=1)  # its INSERT waits on the first report's uncommitted case number
    first.commit()
    thread.join(timeout=10)
    second.rollback()
    assert outcome["second"] == ("duplicate_external_id", {"id": stored.id})
    first.close()
    second.close()
    engine.dispose()


def test_two_dispatchers_linking_two_reports_to_each_other_get_one_link_and_one_conflict(fresh_city_url) -> None:
    """A -> B and B -> A at once locked one row each and waited for the other's: a deadlock, answered 503."""
    from grids.duplicates import link_duplicate

    engine = create_engine(fresh_city_url)
    with Session(engine) as session, session.begin():
        a, b = new_case(session).id, new_case(session).id
    first, second = Session(engine), Session(engine)
    outcome: dict[str, object] = {}
    first.execute(select(Incident.id).where(Incident.id == a).with_for_update())  # the first link is under way

    def race() -> None:
        try:
            link_duplicate(second, b, a, actor(second, "supervisor"), 1)
            outcome["second"] = "linked"
        except (Conflict, Invalid) as exc:
            outcome["second"] = exc.code

    thread = threading.Thread(target=race)
    thread.start()
    thread.join(timeout=1)  # waits for A without holding B (it used to hold B: the first link then deadlocked)
    link_duplicate(first, a, b, actor(first, "dispatcher"), 1)
    first.commit()
    thread.join(timeout=10)
    second.rollback()
    with Session(engine) as check:
        assert outcome["second"] == "bad_original"  # A is a duplicate now
        assert (check.get(Incident, a).duplicate_of_id, check.get(Incident, b).duplicate_of_id) == (b, None)
    first.close()
    second.close()
    engine.dispose()


@pytest.mark.parametrize(("role", "township", "department", "expected"), [
    ("squad_leader", 7, None, Zone(township_id=7)),
    ("co_manager", None, None, Zone(township_id=0)),  # unbound squad member: nothing, never the whole city
    ("department", None, None, Zone(department_id=0)),  # unbound department account: nothing
    ("department", None, 3, Zone(department_id=3)),
    ("inspector", None, None, Zone()),  # the centre's inspector works city-wide
    ("inspector", 7, None, Zone(township_id=7)),
    ("dispatcher", 7, None, Zone()),
    ("admin", 7, 3, Zone()),
])
def test_one_rule_says_which_cases_each_role_sees(role, township, department, expected) -> None:
    who = Actor(city_code=CITY, role=role, township_id=township, department_id=department)
    assert zone_of(who) == expected


def test_a_catalog_that_does_not_mention_worked_by_squads_keeps_the_bureaus_squads_on_its_cases(db, demo_city) -> None:
    from grids.catalog import import_catalog

    doc = json.loads(resources.files("grids").joinpath("data/lanxi_catalog.json").read_text("utf-8"))
    for department in doc["departments"]:
        department.pop("worked_by_squads", None)  # an older catalog file, re-imported
    import_catalog(db, doc)
    assert db.scalar(select(Department.worked_by_squads).where(Department.code == "bureau")) is True


def test_an_inspector_who_finds_the_work_unfinished_sends_it_back_for_rework(db, demo_city) -> None:
    """核查不通过: the handler gets the case back with what is still wrong, on a new handling clock."""
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    step(db, case, "handle", "department", note="已清理", after_photo="after.jpg")
    assert case.deadline_at.isoformat() == case.due_times["check"]["due"]  # the inspector's clock runs
    with pytest.raises(Invalid) as unsaid:
        step(db, case, "rework", "inspector")
    assert unsaid.value.details == ["reason"]
    step(db, case, "rework", "inspector", reason="桥下仍有两袋垃圾")
    assert case.status == "in_progress" and case.department.code == "sanitation"
    assert case.deadline_at.isoformat() == case.due_times["handle"]["due"]  # the handler's again
    event = db.scalar(select(CaseEvent).where(CaseEvent.incident_id == case.id).order_by(CaseEvent.seq.desc()))
    assert (event.action, event.actor_role, event.note) == ("rework", "inspector", "桥下仍有两袋垃圾")
    with pytest.raises(Invalid):
        step(db, case, "rework", "inspector", reason="again")  # in progress: the handler's turn, not a check


def test_a_report_found_not_as_reported_waits_on_the_centre_to_cancel_or_file_it(db, demo_city) -> None:
    """核实不属实 says what was seen on site; the case then waits on the centre (its filing clock runs on), who
    cancels it as invalid or files it after all. Nobody refutes their own report, nor staff's first-hand one."""
    field_report = new_case(db)  # the inspector's own
    with pytest.raises(Forbidden) as own:
        step(db, field_report, "refute", "inspector", reason="现场无垃圾")
    assert own.value.code == "own_report"
    with pytest.raises(Forbidden) as first_hand:
        step(db, field_report, "verify", "co_manager")
    assert first_hand.value.code == "first_hand"
    case = new_case(db, by="dispatcher")  # a hotline call
    with pytest.raises(Invalid) as unsaid:
        step(db, case, "refute", "co_manager")
    assert unsaid.value.details == ["reason"]
    filing_due = case.deadline_at
    step(db, case, "refute", "co_manager", reason="现场无垃圾")
    assert (case.status, case.deadline_at) == ("unfounded", filing_due)
    with pytest.raises(Invalid):
        step(db, case, "dispatch", "dispatcher")  # not filed
    x, y = db.execute(select(func.ST_X(Incident.location), func.ST_Y(Incident.location))
                      .where(Incident.id == case.id)).one()
    # a new report of that problem there is not folded into a case waiting to be cancelled as untrue
    assert case.id not in [c["id"] for c in nearby_open_cases(db, CITY, case.category_id, x, y)]
    step(db, case, "relocate", "dispatcher", lon=x + 0.0005, lat=y)  # reported at the wrong place: moved
    step(db, case, "cancel", "dispatcher", reason="invalid")
    assert case.status == "cancelled" and replay(events_of(db, case.id)) == "cancelled"
