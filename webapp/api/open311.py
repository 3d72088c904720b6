"""Open311 GeoReport v2 under /open311/v2: services are the minor categories, requests are cases.

Answers are JSON or XML by the extension; errors use the spec's list of {code, description}.
Submissions (form-encoded, `api_key` required) may carry an Idempotency-Key header as on /api/v1,
which the spec lacks and a real deployment needs. Coordinates are WGS84, as the spec says.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_babel import get_locale
from sqlalchemy import func, select

from grids.apikeys import client_bucket
from grids.errors import Invalid, NotFound, Unauthorized
from grids.incidents import UNFIT_CHARACTERS
from grids.models import Category, City, Incident
from grids.photos import Picture, prepare_all, report_with_photos
from grids.workflow import case_filter
from webapp import db
from webapp.api.idempotency import once
from webapp.api.principal import city, key_sent, principal
from webapp.api.serialize import service_notice, service_requests
from webapp.api.v1 import MAX_ID, checked_query, point_or_component, refuse_repeated, web_link
from webapp.auth import current_user
from webapp.photos import upload_root, uploads

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")


@bp.after_request
def _readable_from_any_site(response: Response) -> Response:
    """A citizen app in a browser may read the answers: they hold public data, and a request acts only by
    its api_key, never by a cookie, so no other site gains anything it could not ask for itself."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "X-Total-Count, Idempotent-Replayed"
    if request.method == "OPTIONS":  # a preflight: a POST may carry its Idempotency-Key
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Idempotency-Key"
        response.headers["Access-Control-Max-Age"] = "86400"
    return response


@bp.before_request
def _limit_reads() -> None:
    """The spec's reads need no key, so they are limited per client address instead (the whole Open311 list
    is a few database statements away). A key sent with a read is checked and counted as on a POST: a
    citizen app's server should send one, since all its users share its address. A wrong key counts against
    the address, as a read without one; a browser's preflight (OPTIONS) reads nothing and is not counted."""
    if request.method not in ("GET", "HEAD"):
        return
    if key_sent():
        try:
            principal()
        except Unauthorized:
            _count_address()
            raise
    elif current_user() is None:
        _count_address()


def _count_address() -> None:
    current_app.extensions["gridlink.ratelimit"].hit(
        ("address", client_bucket(request.remote_addr)), current_app.config["GRIDLINK_ANONYMOUS_RATE"],
        advice=" (reads without an api_key are limited per address: send your api_key)")


FORMATS = ("json", "xml")
COMPONENT_ATTRIBUTE = "component_code"  # sent as attribute[component_code]: the case goes to its maintainer
MAX_SPAN = timedelta(days=90)
MAX_REQUESTS = 1000
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
# The element name of one item inside each XML list answer.
XML_ITEMS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
             "values": "value", "endpoints": "endpoint", "formats": "format"}


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    child = ET.SubElement(parent, tag)
    if isinstance(value, list):
        for item in value:
            _xml_value(child, XML_ITEMS.get(tag, "item"), item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _xml_value(child, key, inner)
    elif value is not None:  # text stored before unfit characters were refused stays readable XML
        child.text = str(value).lower() if isinstance(value, bool) else UNFIT_CHARACTERS.sub("", str(value))


def render(data: Any, fmt: str, root: str, status: int = 200) -> Response:
    """JSON as is, or XML with `root` around a list (the spec's <services>, <service_requests>...)."""
    if fmt not in FORMATS:
        raise NotFound(f"unknown format .{fmt}; use .json or .xml", code="bad_format")
    if fmt == "json":
        response = jsonify(data)
    else:
        holder = ET.Element("holder")
        _xml_value(holder, root, data)
        body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(holder[0], encoding="utf-8")
        response = Response(body, mimetype="text/xml")
    response.status_code = status
    return response


#: The spec's own statuses: "404 - service_code or jurisdiction_id was not found", "403 for errors because of
#: wrong or missing api_key". Other refusals keep ours (422 for values a caller must fix, RELIABILITY 7).
SPEC_STATUS = {"unknown_category": 404, "unknown_service": 404, "unknown_jurisdiction": 404,
               "api_key_required": 403, "bad_api_key": 403, "key_of_another_city": 403, "unauthorized": 403}


def open311_error(status: int, code: str, message: str, display: str | None = None) -> Response:
    """GeoReport v2's error list, [{code, description}], as JSON or (for a .xml path) XML: Open311 clients
    parse this shape, whatever went wrong (a bad value, an unknown path, a wrong method). webapp.errors, the
    one error handler, answers every path under /open311/ with it. The spec means `description` to be shown
    to the user: in the client's language when it names one (Accept-Language, ?lang=), else our English."""
    fmt = "xml" if request.path.endswith(".xml") else "json"
    status = SPEC_STATUS.get(code, status)
    asked = (request.args.get("lang") or request.accept_languages.best_match(["zh", "en"]) or "")[:2]
    worded = display if display and asked and str(get_locale())[:2] == asked else message  # ?lang=fr: English
    response = render([{"code": status, "description": worded}], fmt, "errors", status)
    return _readable_from_any_site(response)  # an unknown path has no blueprint to add it


@bp.get("/discovery.<fmt>")
def discovery(fmt: str) -> Response:
    base = url_for("open311.services", fmt="json", _external=True).rsplit("/", 1)[0]
    return render({"changeset": "2026-11-26T00:00:00+08:00", "contact": "gridlink dispatch centre",
                   "key_service": "ask the dispatch centre for a key (gridlink apikeys create)",
                   "endpoints": [{"specification": SPEC_URL, "url": base, "changeset": "2026-11-26T00:00:00+08:00",
                                  "type": "production", "formats": ["application/json", "text/xml"]}]},
                  fmt, "discovery")


def _minor_categories() -> list[Category]:
    return list(db().scalars(select(Category).where(Category.city_code == city(), Category.parent_id.is_not(None))
                             .order_by(Category.code)))


def _service(category: Category, groups: dict[int, str]) -> dict[str, Any]:
    """A minor class as the spec's service: what a citizen app lists and searches (its words, not our codes)."""
    closing = f"结案标准：{category.closing_condition}" if category.closing_condition else None
    return {"service_code": category.code, "service_name": category.name,
            "description": "; ".join(filter(None, (category.name_en, closing))) or category.name,
            "metadata": category.type == "component", "type": "realtime",
            "keywords": ", ".join(filter(None, (category.name, category.name_en, groups.get(category.parent_id)))),
            "group": groups.get(category.parent_id)}


@bp.get("/services.<fmt>")
def services(fmt: str) -> Response:
    _jurisdiction()
    groups = dict(db().execute(select(Category.id, Category.name).where(Category.city_code == city(),
                                                                        Category.parent_id.is_(None))).all())
    return render([_service(c, groups) for c in _minor_categories()], fmt, "services")


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    _jurisdiction()
    category = next((c for c in _minor_categories() if c.code == code), None)
    if category is None:
        raise NotFound(f"no service {code!r}; list them at services.{fmt}", code="unknown_service")
    attributes = [{"variable": True, "code": COMPONENT_ATTRIBUTE, "datatype": "string", "required": False,
                   "datatype_description": "16 digits", "order": 1,
                   "description": "部件编码 (the code on the facility's plate): lat/long may then be left out"}]
    return render({"service_code": code, "attributes": attributes if category.type == "component" else []}, fmt,
                  "service_definition")


def _jurisdiction() -> None:
    given = request.values.get("jurisdiction_id")
    if given and given != city():
        raise Invalid(f"jurisdiction_id {given} is not served here; this endpoint serves {city()}",
                      code="unknown_jurisdiction")


CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")
MAX_CONTACT = 200  # the case's reporter_contact, as on /api/v1


def _contact(form: Any) -> str | None:
    """The reporter's name, email and phone as one contact line; refused when longer than it may be (cut
    short, the phone number at its end would be lost without anyone knowing)."""
    contact = " ".join(form.get(k) for k in CONTACT_FIELDS if form.get(k))
    if len(contact) > MAX_CONTACT:
        raise Invalid(f"first_name, last_name, email and phone together are limited to {MAX_CONTACT} characters",
                      code="bad_field", details=list(CONTACT_FIELDS))
    return contact or None


ANSWER_KEYS = ("service_request_id", "service_notice", "account_id")


def _checked_form() -> Any:
    """The POSTed form, refused up front for what no request can lack: a form body, its api_key (in the
    body, not the address), one value per field, a service_code and some place to put the case."""
    form = request.form
    if not form and request.content_length:  # a JSON (or other) body: the spec's POST is a form
        raise Invalid("send the fields form-encoded (application/x-www-form-urlencoded), as GeoReport v2 says",
                      code="form_required")
    if not form.get("api_key"):
        where = " in the form body, not in the address" if "api_key" in request.args else ""
        raise Unauthorized(f"api_key is required{where} to submit a service request", code="api_key_required")
    refuse_repeated(sorted(name for name, values in form.lists() if len(values) > 1))
    return form


def _check_content(form: Any) -> None:
    """What the request says must be usable: a service_code, a place (point, address or component), a link."""
    if not form.get("service_code"):
        raise Invalid("service_code is required: a service_code of services.json", code="missing_fields",
                      details=["service_code"])
    if not (form.get("lat") or form.get("long") or form.get("address_string")
            or form.get(f"attribute[{COMPONENT_ATTRIBUTE}]")):
        raise Invalid("send lat and long (WGS84), address_string or attribute[component_code] (address_id is not"
                      " used here)", code="missing_location")
    if form.get("media_url") and not web_link(form["media_url"]):
        raise Invalid("media_url is a link to the photo (http:// or https://)", code="bad_field",
                      details=["media_url"])


@bp.post("/requests.<fmt>")
def create_request(fmt: str) -> Response:
    form = _checked_form()
    actor, who = principal()
    _jurisdiction()
    _check_content(form)
    description, media_url = form.get("description", ""), form.get("media_url") or None
    has_point = form.get("lat") or form.get("long")
    component = form.get(f"attribute[{COMPONENT_ATTRIBUTE}]") or None
    files, pictures = _media()
    body = {k: v for k, v in form.items() if k != "api_key"} | (
        {"media": [hashlib.sha256(data).hexdigest() for _, data in files]} if files else {})

    def produce() -> tuple[list[dict[str, Any]], int]:
        x, y = point_or_component(form, "long", "lat", component) if has_point or component else (None, None)
        incident = report_with_photos(
            db(), upload_root(), actor, form["service_code"], x, y, pictures=pictures, crs=form.get("crs") or "wgs84",
            source="open311", description=description, address=form.get("address_string") or None,
            reporter_contact=_contact(form), component_code=component, media_url=media_url)
        return [{"service_request_id": str(incident.id), "service_notice": service_notice(incident),
                 "account_id": None}], 201

    answer, status, replayed = once(who, request.headers.get("Idempotency-Key"), body, produce)
    # the stored answer comes back with its keys re-sorted (jsonb): XML readers expect the spec's order
    answer = [{key: item.get(key) for key in ANSWER_KEYS} for item in answer]
    response = render(answer, fmt, "service_requests", status)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _media() -> tuple[list[tuple[str, bytes]], list[Picture]]:
    """Photos sent as files named `media` (multipart/form-data, as Open311 servers take them beside media_url),
    checked and re-encoded like every report's; a file under another name is refused, never dropped."""
    other = sorted(set(request.files) - {"media"})
    if other:
        raise Invalid(f"send photos as files named media, not {', '.join(other)}", code="bad_field", details=other)
    files = uploads(request.files, "media")
    return files, prepare_all(files)


def _date(name: str, *, whole_day: bool = False) -> datetime | None:
    """A W3C time; without an offset (a bare date) it is the city's local time. A + left unencoded in the
    query arrives as a space ("...T00:00:00 08:00"): read as the offset it was. A bare date given as the end
    (`whole_day`) is the end of that day: end_date=2026-11-28 holds the 28th, as /api/v1's until does."""
    value = request.args.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(re.sub(r" (\d\d:?\d\d)$", r"+\1", value).replace("Z", "+00:00"))
        if whole_day and _is_day(value):
            moment += timedelta(days=1, microseconds=-1)
    except (ValueError, OverflowError) as exc:
        raise Invalid(f"{name} must be ISO 8601 such as 2026-11-01T00:00:00+08:00", code="bad_date",
                      details=[name]) from exc
    if moment.tzinfo:
        return moment
    return moment.replace(tzinfo=ZoneInfo(db().scalar(select(City.timezone).where(City.code == city()))))


def _is_day(value: str | None) -> bool:
    return bool(value and re.fullmatch(r"\d{4}-?\d\d-?\d\d", value))


def _listed(name: str) -> list[str]:
    """A filter's values, comma-separated or the parameter repeated (the spec: status "can be declared
    multiple times"); a repeated one used to keep only its first value."""
    return [v.strip() for given in request.args.getlist(name) for v in given.split(",") if v.strip()]


def _window() -> tuple[datetime, datetime]:
    """start_date/end_date at most 90 days apart; by default the last 90 days (the spec's default)."""
    start, end = _date("start_date"), _date("end_date", whole_day=True)
    try:
        end = end or (start + MAX_SPAN if start else datetime.now(UTC))
        start = start or end - MAX_SPAN
    except OverflowError as exc:  # 90 days past 9999-12-31 or before year 1
        raise Invalid("start_date and end_date must lie between the years 1 and 9999 with 90 days to spare",
                      code="bad_date") from exc
    whole_day = timedelta(days=1) if _is_day(request.args.get("end_date")) else timedelta()  # 09-01..11-29: 90 days
    if end - start > MAX_SPAN + whole_day or end < start:
        raise Invalid("start_date and end_date must be in order and at most 90 days apart", code="bad_date_range")
    return start, end


#: GET requests.json's parameters (the spec's), those that may list several values, and the key a client may send.
LIST_PARAMETERS = ("service_request_id", "service_code", "start_date", "end_date", "status", "jurisdiction_id",
                   "api_key")
LISTED = ("service_request_id", "service_code", "status")


@bp.get("/requests.<fmt>")
def list_requests(fmt: str) -> Response:
    checked_query(request.args, LIST_PARAMETERS, LISTED)  # page=2 answered page 1 again: a client looped on it
    _jurisdiction()
    where = [Incident.city_code == city()]
    wanted = _listed("service_request_id")
    if wanted:
        if not all(i.isascii() and i.isdigit() and int(i) <= MAX_ID for i in wanted):  # not ² or ٣
            raise Invalid("service_request_id is a comma-separated list of ids", code="bad_id")
        where.append(Incident.id.in_([int(i) for i in wanted]))
    else:
        start, end = _window()
        where += [Incident.reported_at >= start, Incident.reported_at <= end]
        if _listed("service_code"):
            where.append(Incident.category_id.in_(_service_ids(_listed("service_code"))))
        statuses = set(_listed("status"))
        if not statuses <= {"open", "closed"}:
            raise Invalid("status is open, closed or both (open,closed)", code="bad_status")
        where.append(case_filter(statuses.pop() if len(statuses) == 1 else None))
    rows = db().scalars(select(Incident).where(*where)
                        .order_by(Incident.reported_at.desc()).limit(MAX_REQUESTS)).all()
    response = render(service_requests(db(), rows), fmt, "service_requests")
    # The list stops at MAX_REQUESTS, newest first: the header tells a client syncing by date that it should
    # narrow the window (the spec has no paging).
    response.headers["X-Total-Count"] = str(db().scalar(select(func.count()).select_from(Incident).where(*where)))
    return response


def _service_ids(codes: list[str]) -> list[int]:
    """The minor classes of the codes, in any letter case as a POST takes them; 404 naming an unknown one (a
    typo would answer an empty list, which reads as "no such requests")."""
    services = _minor_categories()
    exact, folded = {c.code: c.id for c in services}, {c.code.upper(): c.id for c in services}
    found = {code: exact.get(code) or folded.get(code.upper()) for code in codes}
    unknown = [code for code, service in found.items() if service is None]
    if unknown:
        raise NotFound(f"no service {', '.join(unknown)}; list them at services.json", code="unknown_service")
    return list(found.values())


@bp.get("/requests/<int:request_id>.<fmt>")
def get_request(request_id: int, fmt: str) -> Response:
    checked_query(request.args, ("jurisdiction_id", "api_key"))
    _jurisdiction()
    incident = db().scalar(select(Incident).where(Incident.id == request_id, Incident.city_code == city()))
    if incident is None:
        raise NotFound(f"no service request {request_id}", code="unknown_request")
    return render(service_requests(db(), [incident]), fmt, "service_requests")
