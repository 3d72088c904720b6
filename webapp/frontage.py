"""门前三包 pages: the township list (scores, red and black lists, downloads), a unit's page and the phone
inspection form.

Everything is scoped to the user's zone (township staff: their township; the centre: the city), and a
unit outside it is a 404, as for cases: a 403 would tell that it exists. Scoring, the cases a violation
opens and who may see personal data are decided in grids.frontage; this module asks and shows.
"""

from __future__ import annotations

import codecs
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict

from grids.errors import Invalid, NotFound
from grids.frontage import (
    EXPORT_FORMATS,
    black_list,
    export_units,
    inspect_unit,
    load_score_sheet,
    red_list,
    score_deductions,
    unit_history,
    unit_rows,
    unit_view,
)
from grids.layouts import city_date
from grids.models import Division, FrontageInspection, FrontageUnit, Incident, User
from grids.photos import MAX_BYTES, MAX_PHOTOS, Picture, place, prepare_all, write
from grids.workflow import CENTRE_ROLES, TOWNSHIP_ROLES, Zone, case_conditions, zone_of
from webapp import db
from webapp.auth import current_user, require_roles
from webapp.errors import error_text
from webapp.labels import city_time
from webapp.maps import (
    MAX_ZOOM,
    MapParts,
    add_geojson_layer,
    add_vector_grid,
    render_map_parts,
)
from webapp.pages import GRID_STYLE, app_map, summaries, tiled_map, zone_bounds
from webapp.photos import send_photo, sent_words, upload_root

bp = Blueprint("frontage", __name__, url_prefix="/frontage")

VIEW_ROLES = (*TOWNSHIP_ROLES, "dispatcher", "supervisor", "planner")
INSPECT_ROLES = ("co_manager", "officer", "inspector")
#: Score bands of the map, the list and the live total, best first: (band, lowest score, colour).
BANDS = (("good", 900, "#2e7d32"), ("fair", 750, "#e09b00"), ("poor", 0, "#c62828"))
UNSCORED = ("none", "#8d96a0")  # never inspected
COLOURS = {name: colour for name, _low, colour in BANDS} | {UNSCORED[0]: UNSCORED[1]}
BAND_LABELS = {"good": _l("900 分及以上"), "fair": _l("750–899 分"), "poor": _l("750 分以下"),
               "none": _l("尚未检查")}
UNIT_TYPE_LABELS = {"shop": _l("商铺"), "office": _l("机关企事业单位"), "market": _l("市场"),
                    "construction_site": _l("建筑工地"), "compound": _l("小区/大院"), "household": _l("住户")}
SORTS = ("name", "score_desc", "score_asc")
TABS = ("all", "red", "black")
EXPORT_TYPES = {"csv": "text/csv", "geojson": "application/geo+json"}
MAX_COUNT = 20  # times one item is found in one inspection; more is a slip of the thumb
MAX_NOTE = 2000
CASE_LIMIT = 50


def _city() -> str:
    return current_app.config["GRIDLINK_CITY"]


def band_of(score: int | None) -> str:
    if score is None:
        return UNSCORED[0]
    return next(name for name, low, _colour in BANDS if score >= low)


def colour_of(score: int | None) -> str:
    return COLOURS[band_of(score)]


def legend() -> list[dict[str, str]]:
    return [{"band": name, "colour": colour, "label": str(BAND_LABELS[name])} for name, colour in COLOURS.items()]


def sheet_word(key: str, stored: str) -> str:
    """A score sheet name in the reader's language: a section or item by its code, a duty by its Chinese
    name; the sheet's name_en (duty_names_en) in English, else `stored` (what the record kept)."""
    if "sheet_words" not in g:
        sheet, english = load_score_sheet(), str(get_locale()) == "en"
        entries = [*sheet["sections"], *(item for section in sheet["sections"] for item in section["items"])]
        g.sheet_words = {e["code"]: e["name_en"] for e in entries if english and e.get("name_en")}
        g.sheet_words.update(sheet.get("duty_names_en", {}) if english else {})
    return g.sheet_words.get(key, stored)


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"colour_of": colour_of, "sheet_word": sheet_word}


def _band_data() -> dict[str, Any]:
    """The bands for the page script, so the live total and the map use the thresholds defined here."""
    return {"bands": [{"min": low, "colour": colour} for _name, low, colour in BANDS], "unscored": UNSCORED[1],
            "unscoredLabel": str(BAND_LABELS["none"])}


def _in_zone(query: Any, zone: Zone) -> Any:
    query = query.where(FrontageUnit.city_code == _city())
    return query.where(FrontageUnit.township_id == zone.township_id) if zone.township_id is not None else query


def unit_in_zone(unit_id: int, zone: Zone) -> FrontageUnit:
    """The unit, or 404 when it is outside the zone (a 403 would tell that it exists)."""
    unit = db().scalar(_in_zone(select(FrontageUnit).where(FrontageUnit.id == unit_id), zone))
    if unit is None:
        raise NotFound(_("没有这个门前三包单位，或它不在你的辖区内。"), code="unit_not_found")
    return unit


def _today() -> date:
    """The city's date (grids.layouts.city_date, not the server's), read once per request."""
    if "city_today" not in g:
        g.city_today = city_date(db(), _city())
    return g.city_today


def _expired(expires_on: date | None) -> bool:
    return expires_on is not None and expires_on < _today()


def case_href(case_id: int) -> str | None:
    """Where the user can open the case: township staff (and admin) have a case page, the dispatch centre its
    drawer on /dispatch; others see the id."""
    role = current_user().role
    if role in (*TOWNSHIP_ROLES, "admin"):
        return url_for("township.case", case_id=case_id)
    return url_for("dispatch.board") + f"#case-{case_id}" if role in CENTRE_ROLES else None


def _case_rows(cases: list[Incident]) -> list[dict[str, Any]]:
    return [{**row, "href": case_href(row["id"])} for row in summaries(cases)]


# --- maps ------------------------------------------------------------------------------------------
def _area_bounds(zone: Zone) -> list[list[float]]:
    """[[south, west], [north, east]] of the zone's frontage areas; the zone itself when it has none."""
    box = func.ST_Extent(FrontageUnit.area)
    row = db().execute(_in_zone(select(func.ST_YMin(box), func.ST_XMin(box), func.ST_YMax(box),
                                       func.ST_XMax(box)), zone)).one()
    return [[row[0], row[1]], [row[2], row[3]]] if row[0] is not None else zone_bounds(zone)


def _areas_map(zone: Zone) -> tuple[MapParts, dict[str, str]]:
    """Divisions and frontage areas as vector tiles; the page script colours the areas by score."""
    bounds = _area_bounds(zone)
    m, tiles, _divisions = tiled_map(bounds, 15)
    add_vector_grid(m, url_template=tiles, layer_name="grids", style=GRID_STYLE, name=_("单元网格"))  # context
    areas = add_vector_grid(m, url_template=tiles, layer_name="frontage", name=_("门前三包责任区"),
                            style={"fill": True, "fillColor": UNSCORED[1], "fillOpacity": 0.6, "weight": 1,
                                   "color": UNSCORED[1]})
    m.fit_bounds(bounds, padding=(12, 12))
    return render_map_parts(m, nonce=g.csp_nonce), {"map": m.get_name(), "areas": areas.get_name()}


def _unit_map(unit: FrontageUnit, score: int | None) -> MapParts:
    """The unit's frontage area coloured by its latest score, and the unit's own point."""
    point = to_shape(unit.location)
    shapes = [point] + ([to_shape(unit.area)] if unit.area is not None else [])
    props = {"name": unit.name, "score": score if score is not None else str(BAND_LABELS["none"])}
    data = {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": props, "geometry": mapping(s)} for s in shapes]}
    colour = colour_of(score)
    m = app_map((point.y, point.x), 18)
    add_geojson_layer(m, data, name=_("门前三包责任区"), tooltip_fields=["name", "score"],
                      labels=[_("单位"), _("最近得分")],
                      style={"color": colour, "weight": 2, "fillColor": colour, "fillOpacity": 0.45})
    if unit.area is not None:
        west, south, east, north = to_shape(unit.area).union(point).bounds
        m.fit_bounds([[south, west], [north, east]], padding=(30, 30), max_zoom=MAX_ZOOM)
    return render_map_parts(m, nonce=g.csp_nonce)


# --- the township list -----------------------------------------------------------------------------
def _list_row(row: dict[str, Any]) -> dict[str, Any]:
    unit = row["unit"]
    return {"id": unit.id, "name": unit.name, "type": str(UNIT_TYPE_LABELS.get(unit.unit_type, unit.unit_type)),
            "duties": list(unit.duties or []), "agreement_no": unit.agreement_no,
            "expires_on": unit.agreement_expires_on, "expired": _expired(unit.agreement_expires_on),
            "score": row["score"], "band": band_of(row["score"]), "violations": row["violations"]}


def _sorted(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """By name (the query's order), or by score either way with never-inspected units last."""
    if sort == "name":
        return rows
    scored = sorted((r for r in rows if r["score"] is not None), key=lambda r: r["score"],
                    reverse=sort == "score_desc")
    return scored + [r for r in rows if r["score"] is None]


def _township_lists(zone: Zone, tab: str) -> list[dict[str, Any]]:
    """The red or black list of each township in the zone that has units (lists are kept per township)."""
    if tab == "all":
        return []
    ids = _in_zone(select(FrontageUnit.township_id), zone)
    townships = db().scalars(select(Division).where(Division.id.in_(ids)).order_by(Division.code))
    make = red_list if tab == "red" else black_list
    return [{"township": t, "rows": make(db(), _city(), t.code)} for t in townships]


def _choice(name: str, choices: tuple[str, ...]) -> str:
    value = request.args.get(name)
    return value if value in choices else choices[0]


@bp.route("")
@require_roles(*VIEW_ROLES)
def index() -> Any:
    zone = zone_of(current_user())
    tab, sort = _choice("tab", TABS), _choice("sort", SORTS)
    rows = _sorted([_list_row(r) for r in unit_rows(db(), _city(), zone.township_id)], sort)
    parts, names = _areas_map(zone)
    data = {**_band_data(), "map": names, "unitUrl": url_for("frontage.unit", unit_id=0)}
    township = db().get(Division, zone.township_id) if zone.township_id else None
    return render_template("frontage/index.html", rows=rows, tab=tab, sort=sort, township=township,
                           lists=_township_lists(zone, tab), legend=legend(), map_parts=parts, data=data)


@bp.route("/export.<fmt>")
@require_roles(*VIEW_ROLES)
def export(fmt: str) -> Response:
    """The zone's units as a file (no personal data); CSV carries a BOM so spreadsheet programs read UTF-8."""
    if fmt not in EXPORT_FORMATS:
        raise NotFound(_("没有这种下载格式。"), code="unknown_format")
    zone = zone_of(current_user())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"frontage.{fmt}"
        export_units(db(), fmt, out, _city(), zone.township_id)
        body = out.read_bytes()
    if fmt == "csv":
        body = codecs.BOM_UTF8 + body
    name = f"frontage-{_today().isoformat()}.{fmt}"
    return Response(body, mimetype=EXPORT_TYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- a unit and its inspections --------------------------------------------------------------------
def _history(unit: FrontageUnit) -> list[dict[str, Any]]:
    inspections = unit_history(db(), unit.id)
    ids = {i.inspector_id for i in inspections if i.inspector_id}
    names = {uid: name for uid, name in db().execute(select(User.id, User.display_name).where(User.id.in_(ids)))}
    return [{"id": i.id, "at": city_time(i.at), "score": i.score,
             "band": band_of(i.score), "violations": i.violations, "inspector": names.get(i.inspector_id),
             "note": i.note, "deductions": i.deductions, "href": url_for("frontage.inspection", inspection_id=i.id),
             "photos": inspection_photos(i)}
            for i in inspections]


def _linked_cases(unit: FrontageUnit, zone: Zone) -> list[dict[str, Any]]:
    cases = db().scalars(select(Incident).where(Incident.frontage_unit_id == unit.id, *case_conditions(zone))
                         .order_by(Incident.reported_at.desc(), Incident.id.desc()).limit(CASE_LIMIT))
    return _case_rows(list(cases))


def may_inspect() -> bool:
    return current_user().role in (*INSPECT_ROLES, "admin")


@bp.route("/units/<int:unit_id>")
@require_roles(*VIEW_ROLES)
def unit(unit_id: int) -> Any:
    user = current_user()
    zone = zone_of(user)
    found = unit_in_zone(unit_id, zone)
    history = _history(found)
    score = history[0]["score"] if history else None
    return render_template("frontage/unit.html", unit=unit_view(found, user.role),
                           type_label=UNIT_TYPE_LABELS.get(found.unit_type, found.unit_type),
                           grids=[grid.code for grid in found.grids], expired=_expired(found.agreement_expires_on),
                           history=history, cases=_linked_cases(found, zone), score=score,
                           may_inspect=may_inspect(), map_parts=_unit_map(found, score))


@dataclass
class Submission:
    """An inspection form as sent: raw values kept to show them again next to their errors."""

    values: dict[str, str]
    note: str
    photos: list[Picture] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {code: int(v) for code, v in self.values.items() if code not in self.errors}


def _read_photos(files: list[FileStorage], errors: dict[str, str]) -> list[Picture]:
    """Each photo checked and re-encoded like a case photo (EXIF and its GPS stripped); one bad file refuses."""
    uploads = [(f.filename or "photo", f.read(MAX_BYTES + 1)) for f in files if f.filename]
    try:
        return prepare_all(uploads)
    except Invalid as exc:
        name = (exc.details or {}).get("file")
        message = _("照片须为 JPEG、PNG 或 WebP 图片，每张不超过 %(mb)d MB，最多 %(n)d 张。",
                    mb=MAX_BYTES // 1048576, n=MAX_PHOTOS)
        errors["photos"] = f"{message} ({name})" if name else message
        return []


def _count(value: str) -> int | None:
    try:
        count = int(value)
    except ValueError:
        return None
    return count if 0 <= count <= MAX_COUNT else None


def _read_submission(sheet: dict[str, Any], form: MultiDict[str, str], files: list[FileStorage]) -> Submission:
    codes = [item["code"] for section in sheet["sections"] for item in section["items"]]
    sub = Submission(values={c: (form.get(f"count-{c}") or "0").strip() for c in codes},
                     note=(form.get("note") or "").strip())
    for code, value in sub.values.items():
        if _count(value) is None:
            sub.errors[code] = _("请填写 0 到 %(max)d 之间的整数。", max=MAX_COUNT)
    if len(sub.note) > MAX_NOTE:
        sub.errors["note"] = _("备注不能超过 %(n)d 字。", n=MAX_NOTE)
    sub.photos = _read_photos(files, sub.errors)
    return sub


def _submit(unit: FrontageUnit, sub: Submission) -> FrontageInspection | None:
    """The stored inspection, or None with the reason in sub.errors."""
    placed = place(db(), sub.photos, "frontage")
    try:
        inspection = inspect_unit(db(), unit.id, current_user(), sub.counts(), [path for path, _p in placed],
                                  sub.note or None)
    except Invalid as exc:
        sub.errors["form"] = error_text(exc.code, exc.details) or exc.message
        return None
    write(upload_root(), placed)  # only once the inspection is stored: a refused form leaves no files
    return inspection


@bp.route("/units/<int:unit_id>/inspect", methods=["GET", "POST"])
@require_roles(*INSPECT_ROLES)
def inspect(unit_id: int) -> Any:
    """The phone score sheet; a valid submission is stored and answered with its result page."""
    found = unit_in_zone(unit_id, zone_of(current_user()))
    sheet = load_score_sheet()
    sub = Submission(values={}, note="")
    if request.method == "POST":
        sub = _read_submission(sheet, request.form, request.files.getlist("photos"))
        inspection = None if sub.errors else _submit(found, sub)
        if inspection is not None:
            return redirect(url_for("frontage.inspection", inspection_id=inspection.id))
    score = score_deductions(sheet, sub.counts())[0]
    return render_template("frontage/inspect.html", unit=found, sheet=sheet, sub=sub, score=score,
                           max_count=MAX_COUNT, data=_band_data(), max_photos=MAX_PHOTOS), 422 if sub.errors else 200


def _filed_before(inspection: FrontageInspection) -> set[int]:
    """The cases among an inspection's that it did not open: reported otherwise, or by an earlier inspection."""
    earlier = db().scalars(select(FrontageInspection.incident_ids).where(
        FrontageInspection.unit_id == inspection.unit_id, FrontageInspection.id < inspection.id))
    return {case_id for ids in earlier for case_id in ids or []} | set(db().scalars(select(Incident.id).where(
        Incident.id.in_(inspection.incident_ids or []), Incident.source != "frontage_inspection")))


def _inspection_in_zone(inspection_id: int) -> tuple[FrontageInspection, FrontageUnit]:
    """The inspection and its unit, if the unit is in the user's zone; NotFound otherwise."""
    found = db().scalar(select(FrontageInspection).where(FrontageInspection.id == inspection_id,
                                                         FrontageInspection.city_code == _city()))
    if found is None:
        raise NotFound(_("没有这次检查记录。"), code="inspection_not_found")
    return found, unit_in_zone(found.unit_id, zone_of(current_user()))


def inspection_photos(inspection: FrontageInspection) -> list[dict[str, Any]]:
    """The inspection's photos as the thumbnails show them (the evidence of an inspection that filed no case
    was stored where no page showed it)."""
    sent = sent_words(inspection.at)
    return [{"kind": "inspection", "sent": sent,
             "url": url_for("frontage.inspection_photo", inspection_id=inspection.id, number=n),
             "thumb": url_for("frontage.inspection_photo", inspection_id=inspection.id, number=n, size="thumb")}
            for n in range(len(inspection.photos or []))]


@bp.route("/inspections/<int:inspection_id>/photos/<int:number>", defaults={"size": "full"})
@bp.route("/inspections/<int:inspection_id>/photos/<int:number>/<any(thumb):size>")
@require_roles(*VIEW_ROLES)
def inspection_photo(inspection_id: int, number: int, size: str) -> Any:
    found, _unit = _inspection_in_zone(inspection_id)
    if number >= len(found.photos or []):
        raise NotFound(_("没有这张照片。"), code="photo_not_found")
    return send_photo(found.photos[number], size)


@bp.route("/inspections/<int:inspection_id>")
@require_roles(*VIEW_ROLES)
def inspection(inspection_id: int) -> Any:
    """One inspection's result: the score, what was deducted, its photos and the cases it opened."""
    found, unit_ = _inspection_in_zone(inspection_id)
    zone = zone_of(current_user())
    cases = list(db().scalars(select(Incident).where(Incident.id.in_(found.incident_ids or []),
                                                     *case_conditions(zone)).order_by(Incident.id)))
    before = _filed_before(found)
    ongoing = [c.id for c in cases if c.id in before]  # open before: the inspection filed no new one
    return render_template("frontage/inspection.html", inspection=found, unit=unit_, cases=_case_rows(cases),
                           photos=inspection_photos(found),
                           ongoing=ongoing, total=load_score_sheet()["total"], may_inspect=may_inspect())
