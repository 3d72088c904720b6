"""The notifications outbox: one row per recipient, written and rolled back with the action's event,
never twice for the same (event, recipient)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from grids.errors import NotFound
from grids.models import CaseEvent, OutboxMessage
from grids.outbox import (
    DISPATCH_CENTRE,
    INSPECTORS,
    SUPERVISORS,
    list_messages,
    mark_delivered,
    notify,
    owner_recipient,
    recipients,
)
from tests.grids.test_workflow import new_case, step


def messages(db, case_id: int) -> list[OutboxMessage]:
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.incident_id == case_id)
                           .order_by(OutboxMessage.id)))


def test_dispatch_writes_one_message_to_the_new_owner_and_rolls_back_with_it(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    assert messages(db, case.id) == []
    savepoint = db.begin_nested()
    step(db, case, "dispatch", "dispatcher", department="utilities")
    [message] = messages(db, case.id)
    assert message.recipient == f"department:{case.department_id}" and message.kind == "dispatch"
    assert message.event_id == db.scalar(select(func.max(CaseEvent.id)).where(CaseEvent.incident_id == case.id))
    savepoint.rollback()
    assert messages(db, case.id) == []


def test_a_message_keeps_the_deadline_its_event_set_when_the_case_moves_on(db, demo_city) -> None:
    """A relay sending late read the case's current deadline: another stage's, or none once closed."""
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    handling_due = case.deadline_at
    step(db, case, "accept", "department")
    step(db, case, "handle", "department", note="已清理", after_photo="after.jpg")
    step(db, case, "check", "inspector")
    assert case.deadline_at != handling_due  # the centre's 1 h to close
    [dispatched] = [m for m in list_messages(db)["messages"] if m["incident_id"] == case.id and m["kind"] == "dispatch"]
    assert dispatched["payload"]["deadline_at"] == handling_due.isoformat()
    assert dispatched["case"]["deadline_at"] == case.deadline_at.isoformat()


def test_return_and_handle_go_to_the_dispatch_centre(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    step(db, case, "return", "department", reason="不属于环卫")
    assert [m.recipient for m in messages(db, case.id)][-1] == DISPATCH_CENTRE
    assert recipients(case, "handle") == [DISPATCH_CENTRE] and recipients(case, "verify") == []


def test_the_sweeper_escalation_writes_one_message_per_recipient_and_a_replay_adds_none(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher")
    from grids.workflow import escalate_overdue

    later = db.scalar(select(func.now())) + timedelta(days=30)
    assert case.id in escalate_overdue(db, later)
    db.refresh(case)
    escalation = [m for m in messages(db, case.id) if m.kind == "escalate"]
    assert sorted(m.recipient for m in escalation) == sorted([owner_recipient(case), SUPERVISORS])
    event = db.get(CaseEvent, escalation[0].event_id)
    assert notify(db, case, event) == 0
    assert escalate_overdue(db, later) == []
    assert len(messages(db, case.id)) == 3  # dispatch + two escalation messages, nothing twice


def escalated_to(db, case) -> list[str]:
    """Who the sweep, run 30 days on, tells about the overdue case (sorted)."""
    from grids.workflow import escalate_overdue

    assert case.id in escalate_overdue(db, db.scalar(select(func.now())) + timedelta(days=30))
    return sorted(m.recipient for m in messages(db, case.id) if m.kind == "escalate")


def test_an_overdue_filing_is_escalated_to_the_dispatch_centre_not_the_future_department(db, demo_city) -> None:
    case = new_case(db)  # reported: the centre's to file, although routed to sanitation already
    assert case.department_id is not None
    assert escalated_to(db, case) == sorted([DISPATCH_CENTRE, SUPERVISORS])


def test_an_overdue_check_of_handled_work_is_escalated_to_the_inspectors_who_must_check_it(db, demo_city) -> None:
    case = new_case(db)
    for action in ("file", "dispatch"):
        step(db, case, action, "dispatcher")
    step(db, case, "handle", "department", note="已清理", after_photo="after.jpg")
    assert escalated_to(db, case) == sorted([f"{INSPECTORS}@township:{case.township_id}", SUPERVISORS])


def test_the_bureaus_case_is_announced_to_the_squad_that_does_the_work(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="bureau")
    assert [m.recipient for m in messages(db, case.id)] == [f"squad:{case.squad_id}"]


def test_a_relay_pages_through_the_outbox_and_is_told_what_it_has_not_seen(db, demo_city) -> None:
    """A page holds at most `limit` messages and says how many match and where the next page starts: a list
    cut at its limit without a word lost the newest messages."""
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    step(db, case, "return", "department", reason="不属于环卫")
    mine = [m.id for m in messages(db, case.id)]
    first = list_messages(db, after=mine[0] - 1, limit=1)
    assert [m["id"] for m in first["messages"]] == mine[:1] and first["next_after"] == mine[0]
    assert first["total"] >= len(mine) and "T" in first["messages"][0]["created_at"]  # ISO 8601, as the API
    assert first["messages"][0]["case"]["category_code"] == case.category.code  # a relay's SMS needs no lookup
    rest = list_messages(db, after=first["next_after"], limit=10_000)
    assert [m["id"] for m in rest["messages"]][:len(mine) - 1] == mine[1:]
    assert rest["next_after"] is None and rest["total"] == first["total"]  # the last page; every match counted
    assert first["total"] == db.scalar(select(func.count()).select_from(OutboxMessage))


def test_marking_an_unknown_message_marks_nothing_and_names_it(db, demo_city) -> None:
    case = new_case(db)
    step(db, case, "file", "dispatcher")
    step(db, case, "dispatch", "dispatcher", department="sanitation")
    [message] = messages(db, case.id)
    missing = message.id + 10_000
    with pytest.raises(NotFound, match=f"no outbox message {missing}: nothing marked"):
        mark_delivered(db, [message.id, missing])
    db.refresh(message)
    assert message.delivered_at is None
    assert mark_delivered(db, [message.id]) == [message.id] and mark_delivered(db, [message.id]) == []
