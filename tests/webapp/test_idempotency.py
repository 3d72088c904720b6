"""RELIABILITY 12: one Idempotency-Key -> one case, replays return the first answer, a new body -> 409."""

import threading

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from grids.apikeys import create_key
from grids.models import Division, Incident

PARALLEL = 50


def youbu(session) -> tuple[float, float]:
    return session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                  func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                           .where(Division.code == "330781102")).one()


def body(session, **extra) -> dict:
    lon, lat = youbu(session)
    return {"category": "E0101", "lon": lon, "lat": lat, "description": "垃圾满溢", **extra}


def test_a_retry_replays_the_first_answer_and_a_different_body_conflicts(client, db, app) -> None:
    headers = {"Authorization": f"Bearer {create_key(db, '330781', 'app', 'reporter')[1]}",
               "Idempotency-Key": "retry-1"}
    first = client.post("/api/v1/incidents", json=body(db), headers=headers)
    again = client.post("/api/v1/incidents", json=body(db), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    changed = client.post("/api/v1/incidents", json=body(db, description="另一件事"), headers=headers)
    assert changed.status_code == 409 and changed.json["error"]["code"] == "idempotency_key_reused"
    other_key = client.post("/api/v1/incidents", json=body(db), headers={**headers, "Idempotency-Key": "retry-2"})
    assert other_key.json["id"] != first.json["id"]


def test_a_failed_request_leaves_its_key_free_for_the_retry(client, db, app) -> None:
    headers = {"Authorization": f"Bearer {create_key(db, '330781', 'app', 'reporter')[1]}",
               "Idempotency-Key": "fix-and-retry"}
    assert client.post("/api/v1/incidents", json=body(db, lon=1.0), headers=headers).status_code == 422
    assert client.post("/api/v1/incidents", json=body(db), headers=headers).status_code == 201


@pytest.fixture()
def committed_city(empty_database_url: str) -> tuple[str, str]:
    """Parallel requests need committed rows on many connections: a database of this test's own."""
    from grids.demo import load_demo
    from grids.migrate import upgrade

    upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    with Session(engine) as session, session.begin():
        load_demo(session, grid_townships=())
        raw = create_key(session, "330781", "citizen-app", "reporter", rate_per_minute=1000)[1]
    engine.dispose()
    return empty_database_url, raw


def test_parallel_submissions_with_one_key_make_exactly_one_case(committed_city) -> None:
    from webapp import create_app

    url, raw = committed_city
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test-secret", "GRIDLINK_CITY": "330781",
                      "GRIDLINK_MODE": "test"})
    engine = create_engine(url)
    with Session(engine) as session:
        payload = body(session)
        before = session.scalar(select(func.count()).select_from(Incident))
    start = threading.Barrier(PARALLEL)
    answers: list[tuple[int, int | None]] = []

    def submit() -> None:
        client = app.test_client()
        start.wait()
        response = client.post("/api/v1/incidents", json=payload,
                               headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": "same-report"})
        answers.append((response.status_code, (response.json or {}).get("id")))

    threads = [threading.Thread(target=submit) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with Session(engine) as session:
        after = session.scalar(select(func.count()).select_from(Incident))
    engine.dispose()
    app.extensions["gridlink.sessions"].kw["bind"].dispose()
    assert len(answers) == PARALLEL and {status for status, _ in answers} == {201}
    assert len({case_id for _, case_id in answers}) == 1 and after - before == 1
