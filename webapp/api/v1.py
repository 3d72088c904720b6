"""JSON API /api/v1: take in cases (idempotent), list and read them within the caller's zone, act on them,
and locate a point. Coordinates default to WGS84 (GPS); send `crs` for gcj02 (Amap/Tencent) or bd09 (Baidu)."""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from collections.abc import Collection
from typing import Any
from urllib.parse import urljoin, urlsplit

from flask import Blueprint, jsonify, request, send_file, url_for
from flask_babel import get_locale
from sqlalchemy import func, select

from grids.duplicates import link_duplicate, nearby_open_cases
from grids.errors import Invalid
from grids.incident_io import ONLY, CaseFilter, export_cases
from grids.incidents import TEXT_LIMITS, check_component, locate, to_city_point
from grids.layouts import city_date
from grids.models import CaseEvent, Incident
from grids.photos import Picture, handle_with_photos, prepare_all
from grids.workflow import (
    ABSORB_DUPLICATE,
    ACTIONS,
    act,
    action_fields,
    category_by_code,
    events_of,
    report,
    visible_case,
    zone_conditions,
)
from webapp import db
from webapp.api.idempotency import once
from webapp.api.principal import city, principal
from webapp.api.serialize import event_json, incident_json, incidents_json
from webapp.labels import OWNER_WORDS, routing_text, source_label, status_label
from webapp.photos import photo_links, upload_root, uploads

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

MAX_DESCRIPTION = TEXT_LIMITS["description"]  # an action's note or reason
MAX_PER_PAGE = 100
MAX_ID = 2**63 - 1  # ids are bigints: a longer number is no id
MAX_PAGE = 1_000_000  # 100 million cases deep: a larger page is a mistake (and an offset past a bigint)
ACTION_FIELDS = ("note", "reason", "department", "duration", "after_photo", "crs")
POINT_FIELDS = ("lon", "lat")  # relocate: numbers, not text
#: The workflow's actions another call takes, and which.
ELSEWHERE = {"report": "POST /api/v1/incidents reports a case", "import": "gridlink incidents import takes old cases",
             ABSORB_DUPLICATE: "POST /api/v1/incidents/<id>/duplicate-of links a duplicate to its original"}
NEARBY_PARAMETERS = ("lon", "lat", "crs", "category")  # GET /incidents/nearby; /locate also takes a component
EXPORT_TYPES = {"csv": "text/csv", "geojson": "application/geo+json",  # Flask adds the charset to text types
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
EXPORT_SPOOL_BYTES = 8 * 1024 * 1024  # larger exports spill to a temporary file, never to memory


def number(value: Any, name: str) -> float:
    """A finite-or-not float from JSON or a query string; range checks happen in grids (one message)."""
    if isinstance(value, bool) or value is None or value == "":
        raise Invalid(f"{name} is required and must be a number of degrees", code="bad_coordinates")
    try:
        if isinstance(value, str) and "_" in value:  # Python's float reads 2_9.29 as 29.29: no one means that
            raise ValueError(value)
        return float(value)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"{name} must be a number of degrees, got {value!r}", code="bad_coordinates") from exc


def point_or_component(values: Any, lon: str, lat: str, component: str | None) -> tuple[float | None, float | None]:
    """The coordinates sent as `lon` and `lat`; both may be left out when a component code names the place.
    Neither a point nor a component is missing_location, saying both ways to give one."""
    if values.get(lon) in (None, "") and values.get(lat) in (None, ""):
        if component:
            return None, None
        raise Invalid(f"send {lon} and {lat}, or the 16-digit code of a component (部件)", code="missing_location")
    return number(values.get(lon), lon), number(values.get(lat), lat)


def web_link(value: str | None) -> bool:
    """Whether a link to a photo the calling system keeps (after_photo, Open311 media_url) is one a browser opens:
    http(s) with a host and no spaces, not javascript: or file: (a strict client reads it as a URI)."""
    parts = urlsplit(value or "")
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value or "")


def text(body: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise Invalid(f"{name} is required", code="missing_fields", details=[name])
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text of at most {limit} characters", code="bad_field", details=[name])
    if len(value) > limit:
        raise Invalid(f"{name} must be text of at most {limit} characters", code="too_long",
                      details={"fields": [name], "limits": {name: limit}})
    return value


#: How many unknown names an error lists: a body of 60,000 made-up keys gets a line, not a 1.5 MB answer.
NAMES_SHOWN = 10


def known_fields(body: dict[str, Any], known: Collection[str], taker: str = "this call") -> None:
    """422 naming the fields the call does not take: a misspelt one (adress) is refused, not silently lost."""
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise Invalid(f"unknown fields: {_some(unknown)}; {taker} takes {', '.join(sorted(known))}",
                      code="bad_field", details=unknown[:NAMES_SHOWN])


def _some(names: list[str]) -> str:
    more = len(names) - NAMES_SHOWN
    return ", ".join(names[:NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")


def json_body() -> dict[str, Any]:
    """The request's JSON object, or bad_json saying what is wrong with the body and where."""
    if not request.is_json:
        raise Invalid("send a JSON object with Content-Type: application/json", code="bad_json")
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        refuse_repeated(_repeated_keys(request.get_data(cache=True)))
        return body
    raise Invalid(f"the body is {_json_problem(request.get_data(cache=True))}: send one JSON object in UTF-8",
                  code="bad_json")


def refuse_repeated(names: list[str]) -> None:
    """A field sent twice (lat=29.2&lat=29.3, or twice in one JSON object) is refused, naming it: taking either
    value would be a guess, and the case could land at a point the caller never meant."""
    if names:
        raise Invalid(f"each field is sent once; sent more than once: {_some(names)}", code="repeated_field",
                      details=names[:NAMES_SHOWN])


def _repeated_keys(data: bytes) -> list[str]:
    """The names given twice in one object of a JSON body ({"lat": 29.2, "lat": 29.3}), at any depth."""
    repeated: set[str] = set()

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        counted = Counter(name for name, _ in items)  # one pass: counting each name anew was quadratic
        repeated.update(name for name, times in counted.items() if times > 1)
        return dict(items)

    json.loads(data, object_pairs_hook=pairs)
    return sorted(repeated)


def _json_problem(data: bytes) -> str:
    """Why a JSON body is no object, in the words a caller can fix it by (only refused bodies get here)."""
    try:
        value = json.loads(data)  # bytes: UTF-8 (a BOM too) or UTF-16/32, as Flask reads them
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {exc.start}: {exc.reason}; GBK text, say)"
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    except RecursionError:
        return "nested too deeply"
    except ValueError as exc:  # a number past Python's digit limit, say
        return f"not readable ({exc})"
    kind = {list: "array", str: "string", bool: "true or false", type(None): "null"}.get(type(value), "number")
    return f"a JSON {kind}, not an object"


REPORT_FIELDS = frozenset(("category", "lon", "lat", "crs", "description", "address", "reporter_contact",
                           "external_id", "component_code"))


@bp.post("/incidents")
def create_incident() -> Any:
    actor, who = principal()
    body = json_body()
    known_fields(body, REPORT_FIELDS)

    def produce() -> tuple[dict[str, Any], int]:
        component = text(body, "component_code", 16)
        incident = report(
            db(), actor, text(body, "category", 32, required=True), *point_or_component(body, "lon", "lat", component),
            crs=text(body, "crs", 16) or "wgs84", source="api",
            description=text(body, "description", TEXT_LIMITS["description"]) or "", component_code=component,
            **{name: text(body, name, TEXT_LIMITS[name]) for name in ("address", "reporter_contact", "external_id")})
        return incident_json(db(), incident, actor), 201

    answer, status, replayed = once(who, request.headers.get("Idempotency-Key"), body, produce)
    response = jsonify(answer)
    response.status_code = status
    response.headers["Location"] = url_for("api_v1.get_incident", incident_id=answer["id"])
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


#: What a 只看 flag's value means, in any letter case: clients send 1, true, True, yes, on ...
FLAG_VALUES = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
               "off": False, "": False}


def _flag(args: Any, name: str) -> bool:
    """A 只看 flag, or bad_filter: a value read as "no" by mistake would answer every case instead."""
    value = args.get(name, "").strip().lower()
    if value not in FLAG_VALUES:
        raise Invalid(f"{name} is 1/true to keep only those cases, or 0/false; got {args[name]!r}",
                      code="bad_filter")
    return FLAG_VALUES[value]


FILTERS = ("status", "category", "township", "district", "since", "until", "source", "department", *ONLY)
LISTED = ("status", "category")  # comma lists, or the parameter repeated


def case_filter(args: Any, also: Collection[str] = ()) -> CaseFilter:
    """The export's filters from a query string (GET /incidents and its downloads take the same, with `also`).
    A parameter the call does not take is bad_filter naming it: a misspelt one (catgory=) answered every case."""
    checked_query(args, [*FILTERS, *also], LISTED)
    status, category = (",".join(args.getlist(name)) for name in LISTED)
    return CaseFilter.parse(status, category, args.get("township"), args.get("since"), args.get("until"),
                            args.get("source"), [name for name in ONLY if _flag(args, name)], args.get("department"),
                            args.get("district"))


def checked_query(args: Any, known: Collection[str], listed: Collection[str] = ()) -> None:
    """bad_filter naming a parameter the call does not take, repeated_field naming one sent twice that is no
    list: a misspelt catgory= answered without the category, and of crs=gcj02&crs=wgs84 either is a guess."""
    unknown = sorted(set(args) - {*known, "lang"})
    if unknown:
        raise Invalid(f"unknown parameters: {_some(unknown)}; this call takes {', '.join(known)}",
                      code="bad_filter", details=unknown[:NAMES_SHOWN])
    refuse_repeated(sorted(name for name in args if name not in listed and len(args.getlist(name)) > 1))


def _bbox(args: Any) -> list[Any]:
    if not args.get("bbox"):
        return []
    parts = args["bbox"].split(",")
    if len(parts) != 4:
        raise Invalid("bbox is west,south,east,north in WGS84 degrees", code="bad_bbox")
    try:
        west, south, east, north = box = [number(p, "bbox") for p in parts]
    except Invalid as exc:
        raise Invalid("bbox is four numbers: west,south,east,north in WGS84 degrees", code="bad_bbox") from exc
    if not all(map(math.isfinite, box)) or west > east or south > north:
        raise Invalid("bbox is west,south,east,north in WGS84 degrees: finite, west <= east, south <= north",
                      code="bad_bbox")
    return [func.ST_Intersects(Incident.location, func.ST_MakeEnvelope(west, south, east, north, 4326))]


def _page(args: Any) -> tuple[int, int]:
    try:
        if not all(str(args.get(name, 1)).isascii() for name in ("page", "per_page")):  # int() reads ٣ as 3
            raise ValueError("not ASCII digits")
        page, per_page = int(args.get("page", 1)), int(args.get("per_page", 50))
    except ValueError as exc:
        raise Invalid("page and per_page are whole numbers", code="bad_paging") from exc
    if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PER_PAGE:
        raise Invalid(f"page is 1..{MAX_PAGE} and per_page is 1..{MAX_PER_PAGE}", code="bad_paging")
    return page, per_page


@bp.get("/incidents")
def list_incidents() -> Any:
    actor, _ = principal()
    page, per_page = _page(request.args)
    last_event = _event_id(request.args, "through_event") or db().scalar(
        select(func.max(CaseEvent.id)).where(CaseEvent.city_code == city())) or 0
    where = [*zone_conditions(actor),
             *case_filter(request.args, ("bbox", "page", "per_page", "after_event", "through_event"))
             .where(db(), city()),
             *_bbox(request.args), *_changed_after(request.args, last_event)]
    total = db().scalar(select(func.count()).select_from(Incident).where(*where))
    rows = db().scalars(select(Incident).where(*where).order_by(Incident.id.desc())
                        .limit(per_page).offset((page - 1) * per_page)).all()
    return jsonify({"items": incidents_json(db(), rows, actor), "page": page, "per_page": per_page, "total": total,
                    "last_event": last_event})


def _changed_after(args: Any, last_event: int) -> list[Any]:
    """`after_event=N`: the cases with a step after event N (reported, dispatched, closed... by anyone), up to
    `last_event`, which the answer gives for the next call (and `through_event` holds for the next pages, so
    a step taken meanwhile cannot shift a case off them). A hotline system syncs by this cursor instead of
    update times, which a step written in the same second, or a clock that differs, would slip past."""
    after = _event_id(args, "after_event")
    if after is None:
        return []
    return [Incident.id.in_(select(CaseEvent.incident_id).where(
        CaseEvent.city_code == city(), CaseEvent.id > after, CaseEvent.id <= last_event))]


def _event_id(args: Any, name: str) -> int | None:
    """An event cursor of the query (a last_event an earlier answer gave), or bad_filter."""
    given = args.get(name)
    if given is None:
        return None
    if not (given.isascii() and given.isdigit()) or int(given) > MAX_ID:
        raise Invalid(f"{name} is the last_event of an earlier answer, a whole number; got {given!r}",
                      code="bad_filter", details=[name])
    return int(given)


@bp.get("/incidents/export.<any(csv, geojson, xlsx):fmt>")
def export_incidents(fmt: str) -> Any:
    """The caller's cases (zone as GET /incidents, filters as `gridlink incidents export`) as a download."""
    actor, _ = principal()
    filters = case_filter(request.args)
    spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES)
    language = "en" if str(get_locale()) == "en" else "zh"  # the workbook's headings read as the page does
    export_cases(db(), city(), fmt, spool, filters, actor, language,  # type: ignore[arg-type]
                 words=workbook_words if fmt == "xlsx" else None)
    spool.seek(0)
    day = city_date(db(), city()).isoformat()  # two downloads of different days do not overwrite each other
    return send_file(spool, mimetype=EXPORT_TYPES[fmt], as_attachment=True, download_name=f"incidents-{day}.{fmt}")


def workbook_words(row: dict[str, Any]) -> dict[str, Any]:
    """A workbook row for people, in the page's language: status, channel, owner and routing reason in words
    (CSV and GeoJSON, for programs, keep the codes)."""
    return {**row, "status": status_label(row["status"]), "source": source_label(row["source"]),
            "owner_type": str(OWNER_WORDS.get(row["owner_type"], row["owner_type"] or "")),
            "routing_reason": routing_text(row["routing_steps"], row["routing_reason"])}


@bp.get("/incidents/nearby")
def nearby_incidents() -> Any:
    """附近已有同类案件: open cases of the category near the point, within the caller's zone, nearest first."""
    actor, _ = principal()
    args = request.args
    checked_query(args, NEARBY_PARAMETERS)
    category = category_by_code(db(), city(), text(args, "category", 32, required=True) or "")
    point = to_city_point(db(), city(), number(args.get("lon"), "lon"), number(args.get("lat"), "lat"),
                          args.get("crs") or "wgs84")
    items = nearby_open_cases(db(), city(), category.id, point.x, point.y, where=zone_conditions(actor))
    return jsonify({"items": items})


@bp.post("/incidents/<int:incident_id>/duplicate-of")
def mark_duplicate(incident_id: int) -> Any:
    """标记为重复: cancel this case as a duplicate of `original`, quoting this case's `version`."""
    actor, _ = principal()
    body = json_body()
    known_fields(body, ("original", "version"))
    original, version = body.get("original"), body.get("version")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (original, version)):
        raise Invalid("send original (the case id) and version (this case's version you saw) as integers",
                      code="missing_fields", details=["original", "version"])
    incident = link_duplicate(db(), incident_id, original, actor, version)
    return jsonify(incident_json(db(), incident, actor))


@bp.get("/incidents/<int:incident_id>")
def get_incident(incident_id: int) -> Any:
    actor, _ = principal()
    incident = visible_case(db(), actor, incident_id, own_reports=True)
    photos = [{"id": link["id"], "kind": link["kind"], "url": urljoin(request.host_url, link["url"]),
               "thumb": urljoin(request.host_url, link["thumb"]),  # absolute: the same key fetches them
               "taken_at": link["taken_at"], "stale": link["stale"] is not None}
              for link in photo_links(incident.id)]
    return jsonify({**incident_json(db(), incident, actor), "photos": photos,
                    "events": [event_json(e, actor) for e in events_of(db(), incident.id)]})


def action_body() -> tuple[dict[str, Any], list[Picture]]:
    """An action's fields, and its photos: JSON, or multipart/form-data carrying files in `photos` (the
    after-photos of 处置反馈, stored like a report's). A form's version arrives as text."""
    if request.mimetype != "multipart/form-data":
        return json_body(), []
    body: dict[str, Any] = request.form.to_dict()
    if body.get("version", "").isascii() and body["version"].isdigit():
        body["version"] = int(body["version"])
    return body, prepare_all(uploads(request.files))


@bp.post("/incidents/<int:incident_id>/actions")
def act_on_incident(incident_id: int) -> Any:
    actor, _ = principal()
    body, pictures = action_body()
    action = text(body, "action", 32, required=True) or ""
    if action in ELSEWHERE:
        raise Invalid(f"{action} is not taken here: {ELSEWHERE[action]}", code="bad_action", details=[action])
    taken = action_fields(action) if action in ACTIONS else (*ACTION_FIELDS, *POINT_FIELDS)  # else: illegal_action
    known_fields(body, {"action", "version", *taken}, f"action {action}" if action in ACTIONS else "this call")
    version = body.get("version")
    if version is None:
        raise Invalid("version (the case's version you saw) is required", code="missing_fields", details=["version"])
    if not isinstance(version, int) or isinstance(version, bool):
        raise Invalid(f"version is the case's version you saw, a whole number such as 3, not {version!r}",
                      code="bad_field", details=["version"])
    payload = {name: text(body, name, MAX_DESCRIPTION) for name in taken if name not in POINT_FIELDS}
    payload.update({name: number(body[name], name) for name in POINT_FIELDS if body.get(name) is not None})
    if pictures and action != "handle":
        raise Invalid("photos go with handle (处置反馈) only", code="bad_field", details=["photos"])
    link = payload.get("after_photo")
    if link and not pictures and not web_link(link):
        raise Invalid("after_photo is a link to the photo (http:// or https://), or send the photo itself as a"
                      " multipart file named photos", code="bad_field", details=["after_photo"])
    if action == "handle" and (pictures or not link):  # the photos, stored with the case
        incident = handle_with_photos(db(), upload_root(), incident_id, actor, version, payload["note"] or "",
                                      pictures)
    else:
        incident = act(db(), incident_id, action, actor, version, **payload)
    return jsonify(incident_json(db(), incident, actor))


@bp.get("/locate")
def locate_point() -> Any:
    principal()
    args = request.args
    checked_query(args, (*NEARBY_PARAMETERS, "component"))
    category = category_by_code(db(), city(), args["category"]) if args.get("category") else None
    component = args.get("component") or None
    where = locate(db(), city(), *point_or_component(args, "lon", "lat", component), crs=args.get("crs") or "wgs84",
                   category=category, component_code=component)
    check_component(where, category)  # what a report would be refused for, said before it is sent
    return jsonify(where.to_dict())
