"""Grid planning (网格规划): divisions and layouts, the draft editor, publishing, assignment and export.

The editor page is rendered once; every edit is a JSON call under /plan/api/ that quotes the layout
revision the planner is looking at, so a save based on an outdated draft gets 409 and the page reloads
instead of overwriting a colleague's work. Use cases live in grids/ (editing, layouts, divisions); this
module only parses requests and shapes answers for the page script, which renders them with textContent.
"""

from __future__ import annotations

import io
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from geoalchemy2.shape import to_shape
from shapely.geometry import LineString, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from gis.validate import GeometryProblem, parse_geojson_geometry
from grids.divisions import import_divisions, list_divisions
from grids.editing import copy_layout_as_draft, fill_gap, merge_grids, move_shared_edge, split_grid
from grids.errors import Conflict, Invalid, NotFound
from grids.frontage import set_manual_area
from grids.layouts import (
    EXPORT_DRIVERS,
    assign_by_codes,
    assignable,
    check_layout,
    city_date,
    export_layout,
    generate_layout,
    publish_impact,
    publish_layout,
    read_roads,
)
from grids.models import DIVISION_LEVELS, Division, FrontageUnit, Grid, GridLayout, Squad, User
from grids.org import city_departments
from grids.responsibility import create_by_codes, list_responsibility_grids
from webapp import db
from webapp.auth import require_roles
from webapp.intake import CRS_CHOICES
from webapp.maps import add_plugins, add_vector_grid, render_map_parts
from webapp.pages import safe_json, tiled_map

bp = Blueprint("plan", __name__, url_prefix="/plan")
UPLOAD_SUFFIXES = (".geojson", ".json", ".zip", ".gpkg")
BOX_SELECT_LIMIT = 500
EDIT_GRID_STYLE = {"color": "#1f5fa8", "weight": 1, "opacity": 0.9, "fill": True, "fillColor": "#1f5fa8",
                   "fillOpacity": 0.06}
LAYOUT_STATUS = {"draft": _l("草稿"), "published": _l("已发布"), "retired": _l("已停用")}
DRAW_OPTIONS = {"polyline": {"shapeOptions": {"color": "#c0392b", "weight": 3}},
                "polygon": {"allowIntersection": False, "shapeOptions": {"color": "#8e44ad"}},
                "rectangle": {"shapeOptions": {"color": "#1f5fa8", "dashArray": "4"}},
                "circle": False, "marker": False, "circlemarker": False}
NO_EDITING = {"edit": False, "remove": False}  # shapes are drawn to be sent, then cleared: never edited in place
# Outlines of duty areas; the page script recolours them by kind with RESPONSIBILITY_COLOURS.
RESPONSIBILITY_STYLE = {"color": "#16a085", "weight": 3, "opacity": 0.9, "fill": False, "dashArray": "6 4"}
RESPONSIBILITY_COLOURS = {"squad": "#16a085", "co_manager": "#d35400", "department": "#8e44ad"}
RESPONSIBILITY_KIND_LABELS = {"squad": _l("中队"), "co_manager": _l("协管员"), "department": _l("部门")}


def _city() -> str:
    return current_app.config["GRIDLINK_CITY"]


def _layout(layout_id: int) -> GridLayout:
    """A layout of this city; another city's id is answered as not found, like a missing one."""
    layout = db().get(GridLayout, layout_id)
    if layout is None or layout.city_code != _city():
        raise NotFound(_("没有这个网格方案。"), code="unknown_layout")
    return layout


# --- the overview page ---------------------------------------------------------------------------
def _layouts_by_division() -> dict[int, list[dict[str, Any]]]:
    rows = db().execute(
        select(GridLayout, func.count(Grid.id)).outerjoin(Grid, Grid.layout_id == GridLayout.id)
        .where(GridLayout.city_code == _city()).group_by(GridLayout.id).order_by(GridLayout.id.desc())).all()
    grouped: dict[int, list[dict[str, Any]]] = {}
    for layout, count in rows:
        grouped.setdefault(layout.division_id, []).append({"layout": layout, "count": count})
    return grouped


def _home(status: int = 200, **context: Any) -> Any:
    divisions = list_divisions(db(), _city())
    ids = dict(db().execute(select(Division.code, Division.id).where(Division.city_code == _city())).all())
    return render_template("plan/home.html", divisions=divisions, division_ids=ids,
                           layouts=_layouts_by_division(), levels=DIVISION_LEVELS, crs_choices=CRS_CHOICES,
                           formats=EXPORT_DRIVERS, layout_status=LAYOUT_STATUS,
                           form=request.form, **context), status


@bp.route("")
@require_roles("planner")
def home() -> Any:
    return _home()


def _saved_upload(upload: FileStorage | None, folder: str) -> Path:
    """The uploaded file in a temporary folder under a fixed name (never the client's path)."""
    suffix = Path(upload.filename or "").suffix.lower() if upload else ""
    if not upload or suffix not in UPLOAD_SUFFIXES:
        raise Invalid(_("请选择 GeoJSON、压缩的 Shapefile（.zip）或 GeoPackage 文件。"), code="bad_file")
    path = Path(folder) / f"upload{suffix}"
    upload.save(path)
    return path


@bp.route("/divisions/import", methods=["POST"])
@require_roles("planner")
def import_upload() -> Any:
    """The CLI's `divisions import` behind a form; on refusal nothing is stored and every problem listed."""
    form = request.form
    try:
        with tempfile.TemporaryDirectory() as folder:
            result = import_divisions(
                db(), _city(), _saved_upload(request.files.get("file"), folder), level=form.get("level", ""),
                crs=form.get("crs", ""), code_field=form.get("code_field", "").strip(),
                name_field=form.get("name_field", "").strip(), parent_code=form.get("parent") or None,
                invalid=form.get("invalid", "refuse"), clip_overlaps=form.get("clip_overlaps") == "1")
    except (Invalid, NotFound) as exc:
        return _home(exc.status, import_error=exc)
    return _home(imported=result)


@bp.route("/layouts/generate", methods=["POST"])
@require_roles("planner")
def generate() -> Any:
    form = request.form
    try:
        with tempfile.TemporaryDirectory() as folder:
            roads = (read_roads(_saved_upload(request.files.get("roads"), folder), form.get("roads_crs", "wgs84"))
                     if form.get("method") == "roads" else None)
            layout = generate_layout(db(), _city(), form.get("division", ""),
                                     target_area=form.get("target_area", 10_000, type=float),
                                     method=form.get("method", "square"), roads=roads)
    except (Invalid, NotFound) as exc:
        return _home(exc.status, generate_error=exc)
    return redirect(url_for("plan.editor", layout_id=layout.id))


@bp.route("/layouts/<int:layout_id>/copy", methods=["POST"])
@require_roles("planner")
def copy(layout_id: int) -> Any:
    draft = copy_layout_as_draft(db(), _layout(layout_id).id)
    return redirect(url_for("plan.editor", layout_id=draft.id))


@bp.route("/layouts/<int:layout_id>/export")
@require_roles("planner")
def export(layout_id: int) -> Any:
    """Download the layout; a Shapefile comes as the usual zipped bundle."""
    layout = _layout(layout_id)
    fmt = request.args.get("format", "geojson")
    suffix = {"geojson": ".geojson", "gpkg": ".gpkg", "shp": ".zip"}.get(fmt, "")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(export_layout(db(), layout.id, fmt, Path(folder) / f"layout-{layout.id}{suffix}")["path"])
        content = io.BytesIO(path.read_bytes())
    return send_file(content, as_attachment=True, download_name=path.name)


# --- the editor ----------------------------------------------------------------------------------
def _bounds(layout: GridLayout) -> list[list[float]]:
    west, south, east, north = to_shape(db().get(Division, layout.division_id).geom).bounds
    return [[south, west], [north, east]]


def _editor_map(layout: GridLayout, bounds: list[list[float]]) -> tuple[dict[str, str], dict[str, str]]:
    """The map parts and the JavaScript names of the map, its grid layer and the draw control."""
    m, tiles, _divisions = tiled_map(bounds, 12)
    grids = add_vector_grid(m, url_template=f"{tiles}?layout={layout.id}&v={layout.revision}",
                            layer_name="grids", style=EDIT_GRID_STYLE, name=_("单元网格"))
    duty = add_vector_grid(m, url_template=f"{tiles}?layout={layout.id}", layer_name="responsibility",
                           style=RESPONSIBILITY_STYLE, name=_("责任网格"))
    draw = add_plugins(m, draw=layout.status == "draft").draw
    names = {"map": m.get_name(), "grids": grids.get_name(), "responsibility": duty.get_name(),
             "dutyTiles": tiles.replace("{layer}", "responsibility") + f"?layout={layout.id}",
             "tiles": tiles.replace("{layer}", "grids") + f"?layout={layout.id}"}
    if draw is not None:
        draw.draw_options, draw.edit_options = DRAW_OPTIONS, NO_EDITING
        names["drawn"] = f"drawnItems_{draw.get_name()}"
    return render_map_parts(m, nonce=g.csp_nonce), names


def _people(layout: GridLayout) -> dict[str, Any]:
    """Squads and co-managers, keyed so the page can also name ids in the preview (an old grid's squad may be
    any); `here` marks those the planner may assign to this layout's grids (its township's)."""
    squads = db().scalars(select(Squad).where(Squad.city_code == _city()).order_by(Squad.code)).all()
    managers = db().scalars(select(User).where(User.city_code == _city(), User.role == "co_manager")
                            .order_by(User.username)).all()
    here_squads, here_managers = assignable(db(), layout)
    departments = city_departments(db(), _city())
    return {"squads": [{"id": s.id, "code": s.code, "name": s.name, "here": s in here_squads} for s in squads],
            "coManagers": [{"id": u.id, "username": u.username, "name": u.display_name or u.username,
                            "here": u in here_managers} for u in managers],
            "departments": [{"id": d.id, "code": d.code, "name": d.name} for d in departments]}


def _labels() -> dict[str, str]:
    """The words the page script writes itself, translated here like every other string."""
    return {"conflict": _("网格方案已被他人修改，请重新加载。"), "failed": _("操作失败，请重试。"),
            "selectTwo": _("画线前请选中一个网格（拆分）或两个相邻网格（移动公共边）。"),
            "noProblems": _("检查通过：无缝隙、无重叠、无越界。"), "gap": _("缝隙"), "overlap": _("重叠"),
            "outside": _("越出上级区划"), "crossing": _("跨越下级区划边界"), "invalid": _("无效几何"),
            "saved": _("已保存"),
            "selected": _("已选 %(n)s 个网格"), "none": "—",
            "cases": _("待办案件：仍按原网格办理，新方案下所在的网格仅供对照"),
            "saving": _("正在保存…"), "gridCount": _("%(n)s 个网格"), "savedWith": _("已保存：%(changes)s"),
            "listSep": _("；"),
            "frontage": _("门前三包单位"), "assignments": _("责任分配变化"),
            "moves": _("%(old)s → %(new)s"), "published": _("已发布"),
            "blocked": _("检查发现问题，修正后才能发布："), "assigned": _("已分配 %(n)s 个网格"),
            "responsibility": _("责任网格变化"), "dutyCreated": _("责任网格 %(code)s 已建立（%(n)s 个网格）"),
            "areaSaved": _("门前三包区域已保存"), "chooseUnit": _("请先在列表中选择一个单位。")}


@bp.route("/layouts/<int:layout_id>")
@require_roles("planner")
def editor(layout_id: int) -> Any:
    layout = _layout(layout_id)
    bounds = _bounds(layout)
    parts, names = _editor_map(layout, bounds)
    report = check_layout(db(), layout.id)
    data = {"layout": layout.id, "revision": layout.revision, "status": layout.status, "bounds": bounds,
            "map": names, "api": f"{url_for('plan.home')}/api/layouts/{layout.id}", "csrf": generate_csrf(),
            "labels": _labels(), "check": report, "problems": problem_features(report),
            "today": city_date(db(), _city()).isoformat(), "colours": RESPONSIBILITY_COLOURS, **_people(layout)}
    division = db().get(Division, layout.division_id)
    return render_template("plan/editor.html", layout=layout, division=division, data=data, map_parts=parts,
                           formats=EXPORT_DRIVERS, layout_status=LAYOUT_STATUS,
                           kinds=RESPONSIBILITY_KIND_LABELS,
                           duty_areas=[a for a in list_responsibility_grids(db(), _city()) if a["layout"] == layout.id])


# --- JSON API for the editor ---------------------------------------------------------------------
def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid(_("请求体必须是 JSON 对象。"), code="bad_json")
    return body


def _revision(body: dict[str, Any]) -> int:
    revision = body.get("revision")
    if not isinstance(revision, int):
        raise Invalid(_("缺少网格方案的版本号（revision）。"), code="no_revision")
    return revision


def _drawn(body: dict[str, Any], key: str, kind: type[BaseGeometry]) -> Any:
    """A drawn GeoJSON geometry of the expected kind (a Feature's geometry is accepted too)."""
    obj = body.get(key)
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    geom = parse_geojson_geometry(obj)
    if isinstance(geom, GeometryProblem) or not isinstance(geom, kind):
        raise Invalid(_("绘制的图形无法识别，请重画。"), code="bad_geometry")
    return geom


def _ids(body: dict[str, Any], count: int | None = None) -> list[int]:
    ids = body.get("grids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids) or (count and len(ids) != count):
        raise Invalid(_("请先在地图上选择网格。"), code="no_grids")
    return ids


def _edited(result: dict[str, Any]) -> Any:
    return safe_json({**result, "problems": problem_features(result["check"])})


def problem_features(report: dict[str, Any]) -> dict[str, Any]:
    """The check's problem places as GeoJSON points the page draws and lists."""
    items = ([("gap", "", g) for g in report.get("gaps", [])]
             + [("overlap", f"{o['a']} / {o['b']}", o) for o in report.get("overlaps", [])]
             + [("outside", o["code"], o) for o in report.get("outside", [])]
             + [("crossing", f"{c['code']} / {c['division']}", c) for c in report.get("crossing", [])])
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": item["location"]},
         "properties": {"kind": kind, "grids": grids, "area_m2": item["area_m2"]}}
        for kind, grids, item in items]}


def _grid_json(grid: Grid) -> dict[str, Any]:
    squad = db().get(Squad, grid.squad_id) if grid.squad_id else None
    manager = db().get(User, grid.co_manager_id) if grid.co_manager_id else None
    division = db().get(Division, grid.division_id)
    return {"id": grid.id, "code": grid.code, "area_m2": round(grid.area_m2, 1),
            "division": f"{division.code} {division.name}", "squad": squad.name if squad else None,
            "co_manager": (manager.display_name or manager.username) if manager else None,
            "geometry": mapping(to_shape(grid.geom))}


@bp.route("/api/layouts/<int:layout_id>/grids/<code>")
@require_roles("planner")
def api_grid(layout_id: int, code: str) -> Any:
    grid = db().scalar(select(Grid).where(Grid.layout_id == _layout(layout_id).id, Grid.code == code))
    if grid is None:
        raise NotFound(_("这个网格已不在方案中，请重新加载。"), code="unknown_grid")
    return safe_json(_grid_json(grid))


def _numbers(name: str, count: int) -> list[float]:
    try:
        values = [float(v) for v in request.args.get(name, "").split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise Invalid(_("地图位置无效。"), code="bad_location")
    return values


@bp.route("/api/layouts/<int:layout_id>/grids")
@require_roles("planner")
def api_grids(layout_id: int) -> Any:
    """The grid at a clicked point (`at=lon,lat`, lowest code on an edge) or the grids meeting a box
    (`bbox=west,south,east,north`). The server picks, not the tile canvas: grid shapes are exact here."""
    if "at" in request.args:
        lon, lat = _numbers("at", 2)
        where, limit = func.ST_Covers(Grid.geom, func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)), 1
    else:
        where, limit = func.ST_Intersects(Grid.geom, func.ST_MakeEnvelope(*_numbers("bbox", 4), 4326)), BOX_SELECT_LIMIT
    grids = db().scalars(select(Grid).where(Grid.layout_id == _layout(layout_id).id, where)
                         .order_by(Grid.code).limit(limit)).all()
    return safe_json({"grids": [_grid_json(grid) for grid in grids]})


@bp.route("/api/layouts/<int:layout_id>/split", methods=["POST"])
@require_roles("planner")
def api_split(layout_id: int) -> Any:
    body = _body()
    grid_id = _ids(body, 1)[0]
    return _edited(split_grid(db(), _in_layout(layout_id, grid_id), _drawn(body, "line", LineString),
                                         _revision(body)))


@bp.route("/api/layouts/<int:layout_id>/merge", methods=["POST"])
@require_roles("planner")
def api_merge(layout_id: int) -> Any:
    body = _body()
    ids = [_in_layout(layout_id, i) for i in _ids(body)]
    return _edited(merge_grids(db(), ids, _revision(body)))


@bp.route("/api/layouts/<int:layout_id>/move-edge", methods=["POST"])
@require_roles("planner")
def api_move_edge(layout_id: int) -> Any:
    body = _body()
    a, b = (_in_layout(layout_id, i) for i in _ids(body, 2))
    return _edited(move_shared_edge(db(), a, b, _drawn(body, "line", LineString), _revision(body)))


@bp.route("/api/layouts/<int:layout_id>/fill", methods=["POST"])
@require_roles("planner")
def api_fill(layout_id: int) -> Any:
    body = _body()
    return _edited(fill_gap(db(), _layout(layout_id).id, _drawn(body, "polygon", Polygon),
                                       _revision(body)))


def _in_layout(layout_id: int, grid_id: int) -> int:
    """The grid id, if that grid is in this city's layout (the URL and the body must agree)."""
    if db().scalar(select(Grid.layout_id).where(Grid.id == grid_id)) != _layout(layout_id).id:
        raise NotFound(_("这个网格已不在方案中，请重新加载。"), code="unknown_grid")
    return grid_id


@bp.route("/api/layouts/<int:layout_id>/assign", methods=["POST"])
@require_roles("planner")
def api_assign(layout_id: int) -> Any:
    """Bulk assignment of the selected grids (by code) to a squad and/or a co-manager."""
    body = _body()
    codes = body.get("codes")
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        raise Invalid(_("请先在地图上选择网格。"), code="no_grids")
    squad, manager = body.get("squad") or None, body.get("co_manager") or None
    if squad is None and manager is None:
        raise Invalid(_("请选择责任中队或协管员。"), code="nothing_to_assign")
    return safe_json(assign_by_codes(db(), _city(), _layout(layout_id).id, codes, squad_code=squad,
                                     co_manager=manager))


@bp.route("/api/layouts/<int:layout_id>/impact")
@require_roles("planner")
def api_impact(layout_id: int) -> Any:
    """What publishing would change hands, and the check that decides whether it may be published."""
    layout = _layout(layout_id)
    report = check_layout(db(), layout.id)
    return safe_json({"revision": layout.revision, "check": report, "problems": problem_features(report),
                      "impact": publish_impact(db(), layout.id)})


@bp.route("/api/layouts/<int:layout_id>/publish", methods=["POST"])
@require_roles("planner")
def api_publish(layout_id: int) -> Any:
    """Publish the revision the planner previewed; a newer revision must be previewed again (409)."""
    body = _body()
    layout = _layout(layout_id)
    if layout.revision != _revision(body):
        raise Conflict(_("网格方案已被他人修改，请重新加载。"), code="stale_revision")
    try:
        effective = date.fromisoformat(body["effective"]) if body.get("effective") else None  # None: city's today
    except ValueError as exc:
        raise Invalid(_("生效日期格式应为 YYYY-MM-DD。"), code="bad_date") from exc
    return safe_json(publish_layout(db(), layout.id, effective))


@bp.route("/api/layouts/<int:layout_id>/responsibility", methods=["POST"])
@require_roles("planner")
def api_responsibility(layout_id: int) -> Any:
    """A duty area (责任网格) from the selected grids (by code) for a squad, co-manager or department."""
    body = _body()
    codes = body.get("codes")
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        raise Invalid(_("请先在地图上选择网格。"), code="no_grids")
    fields = [body.get(k) for k in ("code", "name", "kind", "party")]
    if not all(isinstance(f, str) and f.strip() for f in fields):
        raise Invalid(_("请填写责任网格的编码、名称、类型和责任方。"), code="missing_fields")
    code, name, kind, party = fields
    rgrid = create_by_codes(db(), _city(), _layout(layout_id).id, code, name, kind, codes, party)
    return safe_json({"id": rgrid.id, "code": rgrid.code, "grids": len(rgrid.grids)})


# --- 门前三包 area redraw ----------------------------------------------------------------------------
def _frontage_units(township: Division) -> dict[str, Any]:
    """The township's active units with their areas, as GeoJSON the page draws and lists."""
    units = db().scalars(select(FrontageUnit).where(FrontageUnit.city_code == _city(),
                                                    FrontageUnit.township_id == township.id,
                                                    FrontageUnit.status == "active").order_by(FrontageUnit.name))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": u.id,
         "geometry": mapping(to_shape(u.area if u.area is not None else u.location)),
         "properties": {"id": u.id, "name": u.name, "manual": u.area_manual}} for u in units]}


@bp.route("/frontage")
@require_roles("planner")
def frontage() -> Any:
    """Pick a township, a unit, draw its 门前三包 area by hand (kept when areas are regenerated)."""
    townships = db().scalars(select(Division).where(Division.city_code == _city(), Division.level == "township")
                             .order_by(Division.code)).all()
    chosen = next((t for t in townships if t.code == request.args.get("township")), None)
    units = dict(db().execute(select(FrontageUnit.township_id, func.count()).where(
        FrontageUnit.city_code == _city()).group_by(FrontageUnit.township_id)).all())
    # the list starts on a township with units: it started on the first by code, which had none to redraw
    first = chosen or next((t for t in townships if units.get(t.id)), None)
    parts, data = None, {}
    if chosen is not None:
        west, south, east, north = to_shape(chosen.geom).bounds
        m, tiles, _divisions = tiled_map([[south, west], [north, east]], 15)  # context: the township, its grids
        add_vector_grid(m, url_template=tiles, layer_name="grids", style=EDIT_GRID_STYLE, name=_("单元网格"))
        draw = add_plugins(m, draw=True).draw
        draw.draw_options = {**{k: False for k in DRAW_OPTIONS}, "polygon": DRAW_OPTIONS["polygon"]}
        draw.edit_options = NO_EDITING
        parts = render_map_parts(m, nonce=g.csp_nonce)
        data = {"map": {"map": m.get_name(), "drawn": f"drawnItems_{draw.get_name()}"},
                "units": _frontage_units(chosen), "bounds": [[south, west], [north, east]],
                "api": f"{url_for('plan.home')}/api/frontage/units",
                "csrf": generate_csrf(), "labels": _labels()}
    return render_template("plan/frontage.html", townships=townships, chosen=chosen, first=first, units=units,
                           map_parts=parts, data=data)


@bp.route("/api/frontage/units/<int:unit_id>/area", methods=["POST"])
@require_roles("planner")
def api_frontage_area(unit_id: int) -> Any:
    """Store a hand-drawn area; overlapping another unit's area is refused naming it (422)."""
    unit = db().get(FrontageUnit, unit_id)
    if unit is None or unit.city_code != _city():
        raise NotFound(_("没有这个门前三包单位。"), code="unknown_unit")
    return safe_json(set_manual_area(db(), unit.id, _drawn(_body(), "polygon", Polygon)))
