"""The dispatcher sees whose move a case waits on and by when (当前环节), and the API lists every stage's clock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from grids.incidents import Actor
from grids.models import Division, User
from grids.workflow import act, report
from tests.conftest import login

YOUBU = "330781102"


def reported_case(db):
    x, y = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                             func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == YOUBU)).one()
    inspector = db.scalar(select(User).where(User.username == "inspector"))
    return report(db, Actor.of_user(inspector), "E0101", x, y, source="test", description="垃圾满溢")


def test_the_drawer_names_the_running_stage_and_its_due_time(client, db) -> None:
    case = reported_case(db)
    login(client, "dispatcher")
    drawer = client.get(f"/dispatch/cases/{case.id}").json
    assert drawer["stage_due"].startswith("立案，") and drawer["stage_due"].endswith(" 到期")
    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    act(db, case.id, "file", dispatcher, case.version)
    english = client.get(f"/dispatch/cases/{case.id}?lang=en").json
    assert english["stage_due"].startswith("Dispatch stage, due ")  # a stage, not the verb
    act(db, case.id, "park", Actor.of_user(db.scalar(select(User).where(User.username == "supervisor"))),
        case.version, reason="冬季无法施工")
    assert client.get(f"/dispatch/cases/{case.id}").json["stage_due"] is None


def test_the_api_case_lists_the_clock_of_every_stage_started(client, db) -> None:
    case = reported_case(db)
    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    act(db, case.id, "file", dispatcher, case.version)
    login(client, "dispatcher")
    body = client.get(f"/api/v1/incidents/{case.id}").json
    assert set(body["due_times"]) == {"file", "dispatch"}
    dispatch = body["due_times"]["dispatch"]
    assert dispatch["limit"] == "30m"
    assert datetime.fromisoformat(body["deadline_at"]) == datetime.fromisoformat(dispatch["due"])


def test_the_drawer_names_the_source_and_the_reporters_contact_for_contact_roles(client, db, monkeypatch) -> None:
    case = reported_case(db)
    case.reporter_contact = "王先生 13800138000"
    db.flush()
    login(client, "dispatcher")
    drawer = client.get(f"/dispatch/cases/{case.id}").json
    assert drawer["source"] == "test"  # a source without a label shows its code
    assert drawer["reporter_contact"] == "王先生 13800138000"
    case.source = "dispatcher"
    db.flush()
    assert client.get(f"/dispatch/cases/{case.id}").json["source"] == "指挥中心受理"
    monkeypatch.setattr("webapp.dispatch.CONTACT_ROLES", ("admin",))  # as the API: only roles shown contacts
    assert "reporter_contact" not in client.get(f"/dispatch/cases/{case.id}").json
