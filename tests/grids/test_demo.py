"""The demo city is real Lanxi, labelled illustrative where it is drawn, and loads idempotently."""

from collections import Counter

from sqlalchemy import func, select

from gis.crs import area_m2
from grids.demo import DEMO_HISTORY, HISTORY_PREFIX, PILOT_TOWNSHIPS, lanxi_outline, load_demo, load_history
from grids.models import CaseEvent, Category, Division, Incident, Squad, User
from grids.workflow import events_of, replay


def _counts(db) -> dict[str, int]:
    return {m.__name__: db.scalar(select(func.count()).select_from(m))
            for m in (Division, Category, Squad, User, Incident, CaseEvent)}


def test_loading_twice_creates_no_duplicates(db, demo_city) -> None:
    before = _counts(db)
    again = load_demo(db)
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
    scripts = Counter(script for _, _, _, script, _ in DEMO_HISTORY)
    assert Counter(case.status for case in cases) == {"closed": len(cases) - scripts["open"],
                                                       "in_progress": scripts["open"]}
    assert all(replay(events_of(db, case.id)) == case.status for case in cases)
    actions = Counter(e.action for case in cases for e in events_of(db, case.id))
    assert (actions["rework"], actions["approve_extension"], actions["return"]) == (
        scripts["reworked"], scripts["extended"], scripts["returned"])
    assert load_history(db) == 0
