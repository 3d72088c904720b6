"""Township squads (乡镇中队) on their phones: their zone's map, "my tasks" by deadline, and a case page
with the way there. Only the user's township exists here: another township's case is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, url_for
from sqlalchemy import or_, select

from grids.models import Division, Incident, Squad
from webapp import db
from webapp.auth import current_user, require_roles
from webapp.pages import (
    TOWNSHIP_ROLES,
    case_history,
    case_in_zone,
    open_cases,
    summaries,
    surface_map,
    zone_conditions,
    zone_of,
)

bp = Blueprint("township", __name__, url_prefix="/township")


@bp.route("")
@require_roles(*TOWNSHIP_ROLES)
def home() -> Any:
    user = current_user()
    zone = zone_of(user)
    township = db().get(Division, zone.township_id) if zone.township_id else None
    squad = db().scalar(select(Squad).where(Squad.township_id == township.id)) if township else None
    cases = open_cases(*zone_conditions(zone))
    mine_filter = or_(Incident.assignee_id == user.id,
                      (Incident.squad_id == user.squad_id) & Incident.status.in_(("dispatched", "in_progress")))
    mine = set(db().scalars(select(Incident.id).where(Incident.id.in_([c.id for c in cases]), mine_filter)))
    rows = summaries(cases)
    parts, names, bounds = surface_map(zone)
    data = {"cases": rows, "map": names, "bounds": bounds,
            "caseUrl": url_for("township.case", case_id=0)}
    return render_template("township.html", zone=township, squad=squad, map_parts=parts, data=data,
                           tasks=[c for c in rows if c["id"] in mine],
                           others=[c for c in rows if c["id"] not in mine])


@bp.route("/cases/<int:case_id>")
@require_roles(*TOWNSHIP_ROLES)
def case(case_id: int) -> Any:
    incident = case_in_zone(case_id, zone_of(current_user()))
    return render_template("township_case.html", case=summaries([incident])[0], incident=incident,
                           history=case_history(incident))
