"""Duplicate reports: the same category within 50 m and 7 days is suggested; linking cancels the duplicate
through the workflow and hands its photos and reporter to the original."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from grids.duplicates import link_duplicate, nearby_open_cases
from grids.errors import Conflict
from grids.models import CasePhoto, Division, Incident
from grids.workflow import events_of, replay, report
from tests.grids.test_workflow import CITY, YOUBU, actor, step

METRE = 1 / 111_320  # degrees of latitude


@pytest.fixture()
def spot(db, demo_city) -> tuple[float, float]:
    """A point in 游埠镇 with no demo case within 200 m, so only each test's own cases are near it."""
    lon, lat = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                 func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == YOUBU)).one()
    for shift in range(0, 5000, 250):
        point = func.Geography(func.ST_Point(lon, lat - shift * METRE, 4326))
        if not db.scalar(select(func.count()).select_from(Incident)
                         .where(func.ST_DWithin(func.Geography(Incident.location), point, 200))):
            return lon, lat - shift * METRE
    raise AssertionError("no clear spot")


def case_at(db, spot, north_m: float = 0.0, category: str = "E0101", contact: str | None = None) -> Incident:
    lon, lat = spot
    return report(db, actor(db, "inspector"), category, lon, lat + north_m * METRE, source="test",
                  description="垃圾满溢", reporter_contact=contact)


def nearby_ids(db, spot, category_id: int) -> list[int]:
    return [c["id"] for c in nearby_open_cases(db, CITY, category_id, *spot)]


def test_same_category_within_radius_and_age_is_suggested_nearest_first(db, spot) -> None:
    near, edge, far = case_at(db, spot, 10), case_at(db, spot, 45), case_at(db, spot, 60)
    other = case_at(db, spot, 5, category="E0102")
    found = nearby_open_cases(db, CITY, near.category_id, *spot)
    ids = [c["id"] for c in found]
    assert ids[:2] == [near.id, edge.id] and far.id not in ids and other.id not in ids
    assert 9 < found[0]["distance_m"] < 11 and found[0]["age_hours"] < 1
    assert far.id in [c["id"] for c in nearby_open_cases(db, CITY, near.category_id, *spot, radius_m=70)]


def test_older_than_the_window_and_closed_cases_are_not_suggested(db, spot) -> None:
    recent, old, cancelled = case_at(db, spot, 1), case_at(db, spot, 2), case_at(db, spot, 3)
    db.execute(update(Incident).where(Incident.id == recent.id)
               .values(reported_at=func.now() - timedelta(days=6, hours=23)))
    db.execute(update(Incident).where(Incident.id == old.id)
               .values(reported_at=func.now() - timedelta(days=7, hours=1)))
    step(db, cancelled, "cancel", "dispatcher", reason="invalid")
    ids = nearby_ids(db, spot, recent.category_id)
    assert recent.id in ids and old.id not in ids and cancelled.id not in ids


def test_linking_cancels_the_duplicate_and_the_original_keeps_its_reporter_and_photos(db, spot) -> None:
    original, duplicate = case_at(db, spot, 0), case_at(db, spot, 20, contact="13800000000")
    photo = CasePhoto(city_code=CITY, incident_id=duplicate.id, kind="before", path="dup.jpg")
    db.add(photo)
    db.flush()
    link_duplicate(db, duplicate.id, original.id, actor(db, "dispatcher"), duplicate.version)
    db.refresh(photo)
    db.refresh(original)
    assert duplicate.status == "cancelled" and duplicate.duplicate_of_id == original.id
    assert photo.incident_id == original.id
    [cancel] = [e for e in events_of(db, duplicate.id) if e.action == "cancel"]
    assert cancel.data == {"reason": "duplicate", "original": original.id}
    absorbed = events_of(db, original.id)[-1]
    assert absorbed.action == "absorb_duplicate" and absorbed.data["reporter_contact"] == "13800000000"
    assert absorbed.data["photos"] == [photo.id] and absorbed.data["duplicate"] == duplicate.id
    assert replay(events_of(db, original.id)) == original.status == "reported"
    assert replay(events_of(db, duplicate.id)) == "cancelled"
    assert duplicate.id not in nearby_ids(db, spot, original.category_id)


def test_linking_with_a_stale_version_is_a_conflict_and_changes_nothing(db, spot) -> None:
    original, duplicate = case_at(db, spot, 0), case_at(db, spot, 20)
    with pytest.raises(Conflict):
        link_duplicate(db, duplicate.id, original.id, actor(db, "dispatcher"), duplicate.version + 1)
    assert duplicate.status == "reported" and duplicate.duplicate_of_id is None and len(events_of(db, original.id)) == 1

