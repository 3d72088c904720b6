"""The server's overdue sweep: two processes never sweep at once (advisory lock), and a restarted
sweeper escalates nothing twice."""

import threading

from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from grids.models import CaseEvent, Incident, OutboxMessage
from grids.workflow import act, sweep_if_free
from tests.grids.test_workflow import actor, committed_case, fresh_city_url  # noqa: F401 (fixtures)
from webapp.cli import start_sweeper


def overdue_case(url: str, case_id: int) -> None:
    """File and dispatch the case, then move its deadline into the past, committed."""
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        act(session, case_id, "file", actor(session, "dispatcher"), 1)
        act(session, case_id, "dispatch", actor(session, "dispatcher"), 2)
        session.execute(update(Incident).where(Incident.id == case_id)
                        .values(deadline_at=func.now() - func.make_interval(0, 0, 0, 1)))
    engine.dispose()


def escalations(session: Session, case_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CaseEvent)
                          .where(CaseEvent.incident_id == case_id, CaseEvent.action == "escalate"))


def test_of_two_concurrent_sweeps_one_sweeps_and_the_other_skips(committed_case) -> None:  # noqa: F811
    url, case_id = committed_case
    overdue_case(url, case_id)
    engine = create_engine(url)
    with Session(engine) as first, Session(engine) as second:
        assert sweep_if_free(first) == [case_id]  # holds the lock until it commits
        assert sweep_if_free(second) is None
        first.commit()
        second.rollback()
        assert sweep_if_free(second) == []  # restart-safe: the row says it was escalated
        second.commit()
    with Session(engine) as check:
        assert escalations(check, case_id) == 1
        assert check.scalar(select(func.count()).select_from(OutboxMessage)
                            .where(OutboxMessage.incident_id == case_id, OutboxMessage.kind == "escalate")) == 2
    engine.dispose()


def test_the_sweeper_thread_escalates_once_across_restarts(committed_case) -> None:  # noqa: F811
    from grids.db import session_factory

    url, case_id = committed_case
    overdue_case(url, case_id)
    engine = create_engine(url)
    for _run in range(2):  # a server restart starts a new thread
        stop = start_sweeper(session_factory(engine), 1)
        threading.Event().wait(2.5)
        stop.set()
    assert start_sweeper(session_factory(engine), 0) is None
    with Session(engine) as check:
        assert escalations(check, case_id) == 1
    engine.dispose()
