"""Cases as JSON for /api/v1 and as GeoReport v2 service requests for Open311."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grids.incidents import Actor
from grids.models import CaseEvent, Category, Department, Division, Grid, Incident, Squad
from grids.workflow import CLOSED_STATES

# Roles that may read the reporter's contact; machine clients and viewers may not.
CONTACT_ROLES = ("admin", "dispatcher", "supervisor", "inspector", "squad_leader", "officer")


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _code(session: Session, model: type, row_id: int | None) -> str | None:
    row = session.get(model, row_id) if row_id else None
    return row.code if row else None


def lonlat(incident: Incident) -> tuple[float | None, float | None]:
    if incident.location is None:
        return None, None
    point = to_shape(incident.location)
    return point.x, point.y


def incident_json(session: Session, incident: Incident, actor: Actor | None = None) -> dict[str, Any]:
    lon, lat = lonlat(incident)
    body = {
        "id": incident.id, "external_id": incident.external_id, "source": incident.source,
        "category": incident.category.code, "category_name": incident.category.name,
        "status": incident.status, "version": incident.version, "description": incident.description,
        "address": incident.address, "lon": lon, "lat": lat,
        "input": {"crs": incident.input_crs, "x": incident.input_x, "y": incident.input_y},
        "grid": _code(session, Grid, incident.grid_id), "township": _code(session, Division, incident.township_id),
        "squad": _code(session, Squad, incident.squad_id),
        "department": _code(session, Department, incident.department_id),
        "owner_type": incident.owner_type, "needs_triage": incident.needs_triage,
        "routing_reason": incident.routing_reason, "reported_at": iso(incident.reported_at),
        "deadline_at": iso(incident.deadline_at), "overdue_at": iso(incident.overdue_at),
        "due_times": incident.due_times,
        "closed_at": iso(incident.closed_at), "extensions": incident.extensions,
    }
    if actor is not None and actor.role in CONTACT_ROLES:
        body["reporter_contact"] = incident.reporter_contact
    return body


def event_json(event: CaseEvent) -> dict[str, Any]:
    return {"seq": event.seq, "at": iso(event.at), "action": event.action, "actor_role": event.actor_role,
            "from": event.from_status, "to": event.to_status, "note": event.note, "data": event.data}


def _agency(session: Session, incident: Incident) -> str | None:
    owner = {"department": (Department, incident.department_id), "squad": (Squad, incident.squad_id),
             "township": (Division, incident.township_id)}.get(incident.owner_type or "")
    row = session.get(*owner) if owner and owner[1] else None
    return row.name if row else None


def service_request(session: Session, incident: Incident) -> dict[str, Any]:
    """One GeoReport v2 request (validates against request.json): status is only open or closed."""
    lon, lat = lonlat(incident)
    last = session.execute(select(CaseEvent.at, CaseEvent.note).where(CaseEvent.incident_id == incident.id)
                           .order_by(CaseEvent.seq.desc()).limit(1)).first()
    category: Category = incident.category
    return {
        "service_request_id": str(incident.id),
        "status": "closed" if incident.status in CLOSED_STATES else "open",
        "status_notes": incident.status, "service_name": category.name, "service_code": category.code,
        "description": incident.description, "agency_responsible": _agency(session, incident),
        "service_notice": None, "requested_datetime": iso(incident.reported_at),
        "updated_datetime": iso(last.at if last else None), "expected_datetime": iso(incident.deadline_at),
        "address": incident.address, "address_id": None, "zipcode": None, "lat": lat, "long": lon,
        "media_url": None,
    }


def now(session: Session) -> datetime:
    return session.scalar(select(func.now()))
