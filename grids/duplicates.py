"""Duplicate reports (重复上报): find open cases of the same category near a new report, and link one to
its original.

Why these numbers: the issue asks for the same category within 50 m in the last 7 days; they are module
constants (NEARBY_RADIUS_M, NEARBY_DAYS) that callers may override per call, not per-city settings yet.

The search uses the GiST index on incidents.location (a bounding-box `&&` in degrees, wide enough at the
point's latitude) and then the exact metric distance on the geography type.

Linking cancels the duplicate as 'duplicate' through the workflow (its history says so), points it at
the original, and moves its photos: the CasePhoto rows are re-pointed to the original rather than copied,
so one file keeps one row and is served under the original's zone. The original gets an
`absorb_duplicate` event carrying the duplicate's reporter contact, description and moved photo ids, so
"the original keeps both reporters and photos" holds in its own history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from geoalchemy2 import Geography
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, cast, func, select, update
from sqlalchemy.orm import Session

from grids.errors import Invalid
from grids.incidents import Actor
from grids.models import CasePhoto, Incident
from grids.workflow import ABSORB_DUPLICATE, JOINABLE_STATES, act, visible_case

NEARBY_RADIUS_M = 50.0
NEARBY_DAYS = 7
NEARBY_LIMIT = 20
METRES_PER_DEGREE = 111_320.0


def _degrees(radius_m: float, lat: float) -> float:
    """A box half-width in degrees that covers radius_m at this latitude on both axes (longitude is widest)."""
    return radius_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01)) * 1.01


def nearby_open_cases(session: Session, city_code: str, category_id: int, lon: float, lat: float,
                      radius_m: float = NEARBY_RADIUS_M, days: int = NEARBY_DAYS, *,
                      where: Sequence[ColumnElement[bool]] = ()) -> list[dict[str, Any]]:
    """Open cases of the category within radius_m of the WGS84 point, reported in the last `days`, nearest first.

    `where` narrows further (the caller's zone), so suggestions never reveal cases the caller cannot see.
    """
    point = from_shape(Point(lon, lat), srid=4326)
    distance = func.ST_Distance(cast(Incident.location, Geography), cast(point, Geography))
    age = func.extract("epoch", func.now() - Incident.reported_at)
    rows = session.execute(
        select(Incident.id, Incident.status, Incident.description, Incident.address, Incident.reported_at,
               Incident.version, distance.label("distance_m"), age.label("age_s"))
        .where(Incident.city_code == city_code, Incident.category_id == category_id,
               Incident.status.in_(JOINABLE_STATES), Incident.duplicate_of_id.is_(None),
               Incident.location.op("&&")(func.ST_Expand(point, _degrees(radius_m, lat))),
               func.ST_DWithin(cast(Incident.location, Geography), cast(point, Geography), radius_m),
               Incident.reported_at > func.now() - func.make_interval(0, 0, 0, days), *where)
        .order_by(distance, Incident.id).limit(NEARBY_LIMIT))
    return [{"id": r.id, "status": r.status, "description": r.description, "address": r.address,
             "reported_at": r.reported_at.isoformat(), "version": r.version,
             "distance_m": round(float(r.distance_m), 1), "age_hours": round(float(r.age_s) / 3600, 1)} for r in rows]


def link_duplicate(session: Session, case_id: int, original_id: int, actor: Actor,
                   expected_version: int) -> Incident:
    """Cancel case_id as a duplicate of original_id and hand its reporter and photos to the original.

    Conflict if the duplicate's version is stale (or the original changes meanwhile); the caller commits.
    Both rows are locked first, in id order: two dispatchers linking A to B and B to A at once would otherwise
    each hold one row and wait for the other's (a deadlock); now the second waits, then finds that its original
    is a duplicate itself (bad_original) or that its case changed (stale_version).
    """
    session.execute(select(Incident.id).where(Incident.id.in_((case_id, original_id))).order_by(Incident.id)
                    .with_for_update())
    original = visible_case(session, actor, original_id)
    if original.id == case_id or original.duplicate_of_id or original.status not in JOINABLE_STATES:
        raise Invalid(f"case {original_id} cannot be the original: it must be another open case that is not "
                      "itself a duplicate nor found not as reported (unfounded)", code="bad_original")
    duplicate = act(session, case_id, "cancel", actor, expected_version, reason="duplicate",
                    original=original.id)
    photo_ids = _move_photos(session, duplicate.id, original.id)
    duplicate.duplicate_of_id = original.id
    act(session, original.id, ABSORB_DUPLICATE, actor, original.version, duplicate=duplicate.id,
        note=duplicate.description or None, reporter_contact=duplicate.reporter_contact, photos=photo_ids)
    session.flush()
    return duplicate


def _move_photos(session: Session, from_id: int, to_id: int) -> list[int]:
    """Re-point the duplicate's photo rows to the original; returns the moved ids for the history."""
    moved = session.execute(update(CasePhoto).where(CasePhoto.incident_id == from_id).values(incident_id=to_id)
                            .returning(CasePhoto.id).execution_options(synchronize_session=False))
    return sorted(moved.scalars())
