"""Cases as JSON for /api/v1 and as GeoReport v2 service requests for Open311."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import Session

from grids.incidents import Actor
from grids.models import CaseEvent, Category, Component, Department, Division, Grid, Incident, Squad
from grids.workflow import CLOSED_STATES, handle_due, latest_event
from webapp.labels import status_label

# Roles that may read the reporter's contact; machine clients and viewers may not.
CONTACT_ROLES = ("admin", "dispatcher", "supervisor", "inspector", "squad_leader", "officer")


def iso(moment: datetime | None) -> str | None:
    """Every time the API answers in UTC: a case just taken in holds its deadline in the city's zone (the
    calendar counted there), the same case read back holds it as the database gives it."""
    return moment.astimezone(UTC).isoformat() if moment else None


#: The rows a case's JSON names: label -> (model, the case's column pointing at it, whether its name shows too).
_LABEL_SOURCES: dict[str, tuple[Any, str, bool]] = {
    "category": (Category, "category_id", True), "grid": (Grid, "grid_id", False),
    "township": (Division, "township_id", True), "squad": (Squad, "squad_id", True),
    "department": (Department, "department_id", True), "component": (Component, "component_id", False),
}


def _labels_query() -> Select[Any]:
    """The codes (and names) of the rows cases point at, in one statement for any number of cases: looking
    each up with session.get cost five round trips per case, and loaded their geometries."""
    query = select(Incident.id).select_from(Incident)
    for label, (model, column, named) in _LABEL_SOURCES.items():
        query = query.add_columns(model.code.label(label)).outerjoin(model, model.id == getattr(Incident, column))
        if named:
            query = query.add_columns(model.name.label(f"{label}_name"))
    return query


_LABELS = _labels_query()


def _labels_in_memory(incident: Incident) -> SimpleNamespace | None:
    """A case's labels from the rows it holds already, without a statement: a case just taken in carries the
    rows it was located and routed to (grids.incidents.apply_location); bench/intake.py measured the labels
    statement at a tenth of a report. None when any row is not loaded (or no longer the one its id names)."""
    loaded, values = inspect(incident).dict, {"id": incident.id}
    for label, (_, column, named) in _LABEL_SOURCES.items():
        row_id, row = getattr(incident, column), loaded.get(label)
        if (row.id if row is not None else None) != row_id:
            return None
        values[label] = row.code if row else None
        if named:
            values[f"{label}_name"] = row.name if row else None
    return SimpleNamespace(**values)


def _labels(session: Session, incidents: Sequence[Incident]) -> dict[int, Any]:
    labels = {incident.id: known for incident in incidents
              if (known := _labels_in_memory(incident)) is not None}
    missing = [incident.id for incident in incidents if incident.id not in labels]
    if missing:
        labels.update((row.id, row) for row in session.execute(_LABELS.where(Incident.id.in_(missing))))
    return labels


def lonlat(incident: Incident) -> tuple[float | None, float | None]:
    if incident.location is None:
        return None, None
    point = to_shape(incident.location)
    return point.x, point.y


def _incident_body(incident: Incident, labels: Any, actor: Actor | None) -> dict[str, Any]:
    lon, lat = lonlat(incident)
    body = {
        "id": incident.id, "external_id": incident.external_id, "source": incident.source,
        "category": labels.category, "category_name": labels.category_name,
        "status": incident.status, "version": incident.version, "description": incident.description,
        "address": incident.address, "lon": lon, "lat": lat,
        "input": {"crs": incident.input_crs, "x": incident.input_x, "y": incident.input_y},
        "grid": labels.grid, "township": labels.township, "squad": labels.squad, "department": labels.department,
        "component": labels.component, "owner_type": incident.owner_type, "needs_triage": incident.needs_triage,
        "routing_reason": incident.routing_reason, "reported_at": iso(incident.reported_at),
        "deadline_at": iso(incident.deadline_at), "overdue_at": iso(incident.overdue_at),
        "due_times": incident.due_times,
        "closed_at": iso(incident.closed_at), "extensions": incident.extensions,
    }
    if actor is not None and actor.role in CONTACT_ROLES:
        body["reporter_contact"] = incident.reporter_contact
    return body


def incidents_json(session: Session, incidents: Sequence[Incident], actor: Actor | None = None) -> list[dict[str, Any]]:
    """Cases as /api/v1 JSON, in the given order, with one statement for all their codes."""
    labels = _labels(session, incidents)
    return [_incident_body(incident, labels[incident.id], actor) for incident in incidents]


def incident_json(session: Session, incident: Incident, actor: Actor | None = None) -> dict[str, Any]:
    return incidents_json(session, [incident], actor)[0]


def event_json(event: CaseEvent, actor: Actor) -> dict[str, Any]:
    """One history step; a merged duplicate's reporter contact (absorb_duplicate) only for CONTACT_ROLES, as
    the case's own contact."""
    data = event.data
    if data and "reporter_contact" in data and actor.role not in CONTACT_ROLES:
        data = {key: value for key, value in data.items() if key != "reporter_contact"}
    return {"seq": event.seq, "at": iso(event.at), "action": event.action, "actor_role": event.actor_role,
            "from": event.from_status, "to": event.to_status, "note": event.note, "data": data}


def _agency(incident: Incident, labels: Any) -> str | None:
    """The name of the case's one accountable owner (the centre has no agency row)."""
    names = {"department": labels.department_name, "squad": labels.squad_name, "township": labels.township_name}
    return names.get(incident.owner_type or "")


def service_requests(session: Session, incidents: Sequence[Incident]) -> list[dict[str, Any]]:
    """GeoReport v2 requests (validate against request.json), in the given order: status is only open or
    closed; updated_datetime is the latest step; media_url the link the report came with. Three statements
    for any number of requests."""
    if not incidents:
        return []
    labels = _labels(session, incidents)
    ids = [i.id for i in incidents]
    updated = dict(session.execute(latest_event(select(CaseEvent.incident_id, CaseEvent.at), ids)).all())
    media = dict(session.execute(select(CaseEvent.incident_id, CaseEvent.data["media_url"].astext).where(
        CaseEvent.incident_id.in_(ids), CaseEvent.action == "report", CaseEvent.data.has_key("media_url"))).all())
    return [_service_request(incident, labels[incident.id], updated.get(incident.id), media.get(incident.id))
            for incident in incidents]


def _service_request(incident: Incident, labels: Any, updated: datetime | None,
                     media_url: str | None) -> dict[str, Any]:
    lon, lat = lonlat(incident)
    return {
        "service_request_id": str(incident.id),
        "status": "closed" if incident.status in CLOSED_STATES else "open",
        "status_notes": status_label(incident.status), "service_name": labels.category_name,
        "service_code": labels.category,
        "description": incident.description, "agency_responsible": _agency(incident, labels),
        "service_notice": service_notice(incident), "requested_datetime": iso(incident.reported_at),
        "updated_datetime": iso(updated), "expected_datetime": iso(handle_due(incident)),
        "address": incident.address, "address_id": None, "zipcode": None, "lat": lat, "long": lon,
        "media_url": media_url,
    }


def service_notice(incident: Incident) -> str | None:
    """What the centre does next with a request it could not place in a grid: said when it is taken in and
    whenever it is read, until the centre has placed it (or closed it: needs_triage outlives a cancelled case)."""
    if not incident.needs_triage or incident.status in CLOSED_STATES:
        return None
    if incident.location is None:
        return "按地址定位，待指挥中心分拣 (triage: to be placed by its address)"
    return "在网格外，待指挥中心分拣 (triage: outside every grid)"


def now(session: Session) -> datetime:
    return session.scalar(select(func.now()))
