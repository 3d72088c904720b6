"""Vector tiles: `/tiles/{layer}/{z}/{x}/{y}.pbf` straight from PostGIS `ST_AsMVT`.

Why tiles: a city has 100,000+ grids; one GeoJSON of them is 20+ MB and freezes the browser, while a tile
holds only what one screen square needs. Every query filters with the GiST index (`geom && envelope`,
with the envelope transformed to the stored SRID 4326 once) and reprojects only the rows that survive.
Rows are filtered by the user's zone in the same query, so a squad's browser never receives another
township's grids or cases; properties are plain codes and names, never user-entered text.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased

from grids.errors import Forbidden, NotFound, Unauthorized
from grids.models import Incident
from grids.workflow import BEFORE_DISPATCH, DUE_SOON, Zone, zone_of
from webapp import read_one
from webapp.auth import cached_viewer
from webapp.pages import OPEN_STATUSES

bp = Blueprint("tiles", __name__)

EXTENT = 4096  # MVT units per tile side
BUFFER = 64  # units drawn beyond the edge so strokes and markers do not break at tile seams
MAX_ZOOM = 22
SIMPLIFY_BELOW = 12  # below this zoom polygons are simplified to one tile unit before reprojection
LAYOUT_MIN_ZOOM = 11  # one layout asked for by id (?layout=) is drawn from here
LAYOUT_ROLES = ("planner", "admin")  # who may ask for a layout by id, drafts included
CACHE_SECONDS = {"divisions": 300, "grids": 300, "cases": 10, "frontage": 30, "responsibility": 60}

_BOUNDS = f"""bounds AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS env,
           ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) AS env4326)"""


@dataclass(frozen=True)
class TileLayer:
    """One MVT layer: its rows (a SELECT with a `{geom}` placeholder), geometry column and lowest zoom."""

    rows_sql: str
    geom_column: str
    polygons: bool = True  # polygons are simplified at low zoom; points are not
    min_zoom: int = 0


#: The layout in force on the city's today (grids.layouts.layout_in_force and layout_not_ended in text): a layout
#: published to take effect next month is not on the map yet, and the one it replaces still is. The city's
#: today is grids.layouts.city_today, written out for these text statements.
_CITY_TODAY = "(SELECT CAST(timezone(c.timezone, now()) AS date) FROM cities c WHERE c.code = :city)"
_NOT_ENDED = f"l.status IN ('published', 'retired') AND (l.effective_to IS NULL OR l.effective_to > {_CITY_TODAY})"
_IN_FORCE_TODAY = f"{_NOT_ENDED} AND l.effective_from <= {_CITY_TODAY}"
_OPEN = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
_BEFORE_DISPATCH = ", ".join(f"'{s}'" for s in BEFORE_DISPATCH)  # a department's zone (grids.workflow.case_conditions)
#: Incident.due_at as SQL for the alias i: a pin is late when its row is (an imported case by its source's deadline).
_DUE_AT = aliased(Incident, name="i").due_at.compile(dialect=postgresql.dialect(),
                                                     compile_kwargs={"literal_binds": True})
LAYERS: dict[str, TileLayer] = {
    "divisions": TileLayer("""
        SELECT d.id, d.code, d.name, d.level, {geom} AS geom
        FROM divisions d, bounds
        WHERE d.city_code = :city AND d.level <> 'community' AND d.geom && bounds.env4326
          AND (:township IS NULL OR d.id = :township)""", "d.geom"),
    # Grids are about 100 m across: below zoom 13 they are under 6 px and would only flood the tile.
    # Planners ask for one layout (a draft they edit) with ?layout=ID; everyone else sees the one in force.
    "grids": TileLayer(f"""
        SELECT g.id, g.code, g.division_id, {{geom}} AS geom
        FROM grids g JOIN grid_layouts l ON l.id = g.layout_id
             AND (l.id = :layout OR (CAST(:layout AS integer) IS NULL AND {_IN_FORCE_TODAY})), bounds
        WHERE g.city_code = :city AND g.geom && bounds.env4326
          AND (:township IS NULL OR g.division_id IN (
               SELECT id FROM divisions WHERE id = :township OR parent_id = :township))""", "g.geom",
                       min_zoom=13),
    "cases": TileLayer(f"""
        SELECT i.id, i.status, c.code AS category,
               CASE WHEN d.due_at IS NULL THEN 'none'
                    WHEN d.due_at < now() THEN 'overdue'
                    WHEN d.due_at < now() + :due_soon THEN 'due_soon'
                    ELSE 'on_time' END AS deadline,
               {{geom}} AS geom
        FROM incidents i JOIN categories c ON c.id = i.category_id
             CROSS JOIN LATERAL (SELECT {_DUE_AT} AS due_at) d, bounds
        WHERE i.city_code = :city AND i.status IN ({_OPEN}) AND i.location && bounds.env4326
          AND (:township IS NULL OR i.township_id = :township)
          AND (:department IS NULL OR i.department_id = :department AND i.status NOT IN ({_BEFORE_DISPATCH})
               AND i.due_times ? 'handle')""",
                       "i.location", polygons=False),
    # 门前三包 areas with their latest score (NULL: never inspected); the page colours them by score.
    # `unit` repeats the id as a property: ST_AsMVT keeps the feature id out of the properties.
    # Areas are a few metres deep: below zoom 14 they are under a pixel. Departments have no such page.
    "frontage": TileLayer("""
        SELECT u.id, u.id AS unit, u.name, s.score, {geom} AS geom
        FROM frontage_units u
        LEFT JOIN LATERAL (SELECT f.score FROM frontage_inspections f WHERE f.unit_id = u.id
                           ORDER BY f.at DESC, f.id DESC LIMIT 1) s ON true, bounds
        WHERE u.city_code = :city AND u.status = 'active' AND u.area && bounds.env4326
          AND (:township IS NULL OR u.township_id = :township)
          AND CAST(:department AS integer) IS NULL""", "u.area", min_zoom=14),
    # 责任网格: one outline per duty area, the union of its member grids meeting the tile (grids beyond the
    # tile's margin cannot add an edge inside it). `kind` lets the page colour squad / co-manager /
    # department areas; a department account sees only its own department's areas. Publishing moves the
    # members onto the new layout's grids at once (grids.responsibility.carry_over), so a layout not ended
    # yet, in force or coming, holds them.
    "responsibility": TileLayer(f"""
        SELECT r.id, r.code, r.kind, {{geom}} AS geom FROM (
            SELECT r.id, r.code, r.kind, ST_Union(g.geom) AS geom
            FROM responsibility_grids r
            JOIN responsibility_grid_members m ON m.responsibility_grid_id = r.id
            JOIN grids g ON g.id = m.grid_id
            JOIN grid_layouts l ON l.id = g.layout_id
                 AND (l.id = :layout OR (CAST(:layout AS integer) IS NULL AND {_NOT_ENDED})), bounds
            WHERE r.city_code = :city AND g.geom && bounds.env4326
              AND (:township IS NULL OR g.division_id IN (
                   SELECT id FROM divisions WHERE id = :township OR parent_id = :township))
              AND (CAST(:department AS integer) IS NULL OR r.department_id = :department)
            GROUP BY r.id, r.code, r.kind) r, bounds""", "r.geom", min_zoom=13),
}


@functools.cache
def _statement(layer: str, simplified: bool) -> TextClause:
    """The layer's `ST_AsMVT` statement, parsed once per process (text() scans the SQL for parameters).

    Low zoom: polygons are simplified to about one tile unit in degrees before ST_Transform, so a
    100,000-vertex county outline is not reprojected point by point for a tile that shows 200 of them.
    """
    spec = LAYERS[layer]
    geom = f"ST_SimplifyPreserveTopology({spec.geom_column}, :tolerance)" if simplified else spec.geom_column
    mvt_geom = f"ST_AsMVTGeom(ST_Transform({geom}, 3857), bounds.env, {EXTENT}, {BUFFER}, true)"
    return text(f"WITH {_BOUNDS}, rows AS ({spec.rows_sql.format(geom=mvt_geom)}) "
                f"SELECT ST_AsMVT(rows, :layer, {EXTENT}, 'geom', 'id') FROM rows")


def tile_query(layer: str, z: int, x: int, y: int, *, city: str, zone: Zone,
               layout: int | None = None) -> tuple[TextClause, dict[str, Any]]:
    """The `ST_AsMVT` statement for one tile and its parameters, shared by the endpoint and bench/tiles.py."""
    statement = _statement(layer, LAYERS[layer].polygons and z < SIMPLIFY_BELOW)
    params = {"z": z, "x": x, "y": y, "city": city, "layer": layer, "township": zone.township_id,
              "department": zone.department_id, "tolerance": 360.0 / (2**z * EXTENT), "due_soon": DUE_SOON,
              "layout": layout}
    return statement, {k: v for k, v in params.items() if f":{k}" in statement.text}


def render_tile(layer: str, z: int, x: int, y: int, *, city: str, zone: Zone, layout: int | None = None) -> bytes:
    """The tile's bytes (empty when nothing is in it, or below the layer's minimum zoom).

    One chosen layout is drawn from LAYOUT_MIN_ZOOM: a planner sees a whole township's draft at once.
    """
    if layer not in LAYERS or not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound("no such tile", code="no_such_tile")
    if z < (LAYOUT_MIN_ZOOM if layout is not None else LAYERS[layer].min_zoom):
        return b""
    row = read_one(*tile_query(layer, z, x, y, city=city, zone=zone, layout=layout))
    return bytes(row[0] or b"") if row is not None else b""


@bp.route("/tiles/<layer>/<int:z>/<int:x>/<int:y>.pbf")
def tile(layer: str, z: int, x: int, y: int) -> Response:
    """One tile with an ETag of its bytes: an unchanged tile costs the browser a 304 and no body.

    Every role may ask for tiles; the zone filter inside the query decides what they hold. The user comes
    from auth.cached_viewer and the tile from one autocommit statement, so a tile costs one round trip.
    """
    viewer = cached_viewer()
    if viewer is None:
        raise Unauthorized("log in or send an API key")
    layout = request.args.get("layout", type=int)
    if layout is not None and viewer.role not in LAYOUT_ROLES:
        raise Forbidden("only planners see draft layouts", code="role_forbidden")
    data = render_tile(layer, z, x, y, city=current_app.config["GRIDLINK_CITY"], zone=zone_of(viewer),
                       layout=layout)
    response = Response(data, status=200 if data else 204, mimetype="application/vnd.mapbox-vector-tile")
    response.set_etag(hashlib.blake2b(data, digest_size=16).hexdigest())
    response.cache_control.private = True
    response.cache_control.max_age = CACHE_SECONDS[layer]
    response.vary.add("Cookie")
    return response.make_conditional(request)
