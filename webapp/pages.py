"""The HTML pages of each user surface, the language switch and /healthz."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, redirect, render_template, request, url_for
from sqlalchemy import select, text

from grids.models import Category, Division, Incident, Squad
from webapp import LANGUAGES, db
from webapp.auth import current_user, home_url, require_roles

bp = Blueprint("pages", __name__)

OPEN_STATUSES = ("reported", "filed", "dispatched", "handled")


def _open_cases(*conditions: Any) -> list[Incident]:
    city = current_app.config["GRIDLINK_CITY"]
    query = (select(Incident).where(Incident.city_code == city, Incident.status.in_(OPEN_STATUSES), *conditions)
             .order_by(Incident.deadline_at.nulls_last(), Incident.reported_at))
    return list(db().scalars(query.limit(500)))


@bp.route("/")
def index() -> Any:
    user = current_user()
    return redirect(home_url(user) if user else url_for("auth.login"))


@bp.route("/dispatch")
@require_roles("dispatcher", "supervisor")
def dispatch() -> Any:
    return render_template("dispatch.html", cases=_open_cases())


@bp.route("/township")
@require_roles("inspector", "squad_leader", "officer", "co_manager")
def township() -> Any:
    user = current_user()
    zone = db().get(Division, user.township_id) if user.township_id else None
    cases = _open_cases(Incident.township_id == zone.id) if zone else _open_cases()
    squad = db().scalar(select(Squad).where(Squad.township_id == zone.id)) if zone else None
    return render_template("township.html", zone=zone, squad=squad, cases=cases)


@bp.route("/department")
@require_roles("department")
def department() -> Any:
    user = current_user()
    cases = _open_cases(Incident.department_id == user.department_id) if user.department_id else []
    return render_template("department.html", cases=cases)


@bp.route("/plan")
@require_roles("planner")
def plan() -> Any:
    city = current_app.config["GRIDLINK_CITY"]
    divisions = db().scalars(select(Division).where(Division.city_code == city).order_by(Division.code)).all()
    return render_template("plan.html", divisions=divisions)


@bp.route("/reports")
@require_roles("dispatcher", "supervisor", "squad_leader", "planner", "viewer")
def reports() -> Any:
    city = current_app.config["GRIDLINK_CITY"]
    categories = db().scalars(select(Category).where(Category.city_code == city, Category.parent_id.is_(None))
                              .order_by(Category.type.desc(), Category.code)).all()
    return render_template("reports.html", categories=categories)


@bp.route("/about")
def about() -> Any:
    return render_template("about.html")


@bp.route("/lang/<code>")
def switch_language(code: str) -> Any:
    response = make_response(redirect(request.referrer if request.referrer else url_for("pages.index")))
    if code in LANGUAGES:
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


@bp.route("/healthz")
def healthz() -> Any:
    """Liveness for load balancers and operators: database reachable and PostGIS version."""
    version = db().execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
    if not version:
        return jsonify({"status": "error", "database": "ok", "postgis": None,
                        "message": "PostGIS is not installed in this database: run `gridlink db upgrade`"}), 503
    return jsonify({"status": "ok", "database": "ok", "postgis": version})
