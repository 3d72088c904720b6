"""Cases: opening one at a place, and its append-only history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grids.divisions import division_at
from grids.models import CaseEvent, Category, Incident, Squad, User


def record_event(session: Session, incident: Incident, action: str, *, actor: User | None = None,
                 from_status: str | None = None, note: str | None = None,
                 data: dict[str, Any] | None = None) -> CaseEvent:
    """Append one history row; seq is per case so replaying the events gives the current state."""
    seq = (session.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.incident_id == incident.id)) or 0) + 1
    event = CaseEvent(city_code=incident.city_code, incident_id=incident.id, seq=seq, action=action,
                      actor_id=actor.id if actor else None, from_status=from_status, to_status=incident.status,
                      note=note, data=data)
    session.add(event)
    session.flush()
    return event


def open_case(session: Session, city_code: str, category: Category, lon: float, lat: float, *, source: str,
              description: str, address: str | None = None, reporter: User | None = None,
              external_id: str | None = None, reported_at: datetime | None = None) -> Incident:
    """Store a reported case at a WGS84 point, with its township and that township's stationed squad."""
    point = Point(lon, lat)
    township = division_at(session, city_code, point, "township")
    squad = session.scalar(select(Squad).where(Squad.township_id == township.id)) if township else None
    incident = Incident(city_code=city_code, source=source, category_id=category.id, status="reported",
                        description=description, address=address, location=from_shape(point, srid=4326),
                        input_crs="wgs84", input_x=lon, input_y=lat, external_id=external_id,
                        township_id=township.id if township else None, squad_id=squad.id if squad else None,
                        routing_reason=(f"township {township.name}: stationed squad" if squad else None))
    if reported_at:
        incident.reported_at = reported_at
    session.add(incident)
    session.flush()
    record_event(session, incident, "report", actor=reporter, note=description)
    return incident
