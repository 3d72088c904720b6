"""The report form shared by the dispatcher's 新建案件 panel and the phone's 上报 page.

Both pages post multipart (fields and photos) from script and get JSON back: 201 with the new case, or
422 with one actionable message per field (`{"errors": {field: message}}`) that the page shows next to
that field. Both go through the same use case as POST /api/v1/incidents (grids.workflow.report, via
grids.photos), and both send a per-form token as `Idempotency-Key`, so a double click creates one case
(RELIABILITY 12): the second request waits for the first and gets its answer back.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict

from grids.errors import Conflict, DomainError, Invalid
from grids.incidents import TEXT_LIMITS, Actor, to_city_point
from grids.models import Category, Incident
from grids.photos import Picture, prepare_all, report_with_photos
from grids.workflow import OPEN_STATES, category_by_code
from webapp import db
from webapp.api.idempotency import once
from webapp.auth import current_user
from webapp.errors import error_text
from webapp.labels import status_label
from webapp.pages import summaries
from webapp.photos import upload_root, uploads

#: Coordinate systems a person can pick; map clicks and phone GPS are WGS84, the documented default.
CRS_CHOICES = (("wgs84", _l("WGS84（GPS、本系统地图）")), ("gcj02", _l("GCJ-02（高德、腾讯地图）")),
               ("bd09", _l("BD-09（百度地图）")), ("cgcs2000", _l("CGCS2000（国家大地坐标系、测绘成果）")))
DEFAULT_CRS = "wgs84"
#: What both report forms say when a submit got no answer at all (the phone in a dead spot): nothing is lost.
OFFLINE_TEXT = _l("网络不通，未能提交：填写的内容和照片都还在，有网络后再点一次。")
FORM_TEXTS = ("description", "address", "reporter_contact", "external_id")  # the phone's form sends no 工单号
#: Where a domain error belongs on the form, and the words a person reads there (the domain's own
#: message follows in brackets: it names the file or the coordinates to fix).
FIELD_OF_CODE = {"bad_coordinates": "point", "outside_city": "point", "swapped_coordinates": "point",
                 "unknown_crs": "crs", "unknown_category": "category", "not_an_image": "photos",
                 "photo_too_large": "photos", "photo_too_many_pixels": "photos", "heic_photo": "photos",
                 "empty_photo": "photos", "too_many_photos": "photos", "after_photo_required": "photos",
                 "unknown_component": "component_code", "component_far": "component_code",
                 "duplicate_external_id": "external_id"}


def quick_categories() -> list[Category]:
    """The phone page's big buttons: grids/data/quick_report.json's minor classes, in the file's order.

    Why a data file: which classes are "most common" differs by city and season; operators edit the list.
    """
    codes = json.loads(resources.files("grids").joinpath("data/quick_report.json").read_text("utf-8"))["categories"]
    rows = db().scalars(select(Category).where(Category.city_code == current_app.config["GRIDLINK_CITY"],
                                               Category.code.in_(codes), Category.parent_id.is_not(None)))
    return sorted(rows, key=lambda c: codes.index(c.code))


def nearby_config(case_url: str) -> dict[str, Any]:
    """What the 附近已有同类案件 list needs: the API, where a listed case opens (`case_url` ends in id 0),
    and the words and status names the script writes itself, translated here like every other label.

    Why both report forms show it: a second report of the same rubbish pile is a duplicate the dispatcher
    would otherwise file and dispatch twice (issue 4, item 6).
    """
    return {"url": url_for("api_v1.nearby_incidents"), "caseUrl": case_url, "locateUrl": url_for("api_v1.locate_point"),
            "statuses": {code: status_label(code) for code in OPEN_STATES},
            "labels": {"metres": _("%(m)s 米"), "minutes": _("%(n)s 分钟前"), "hours": _("%(n)s 小时前"),
                       "days": _("%(n)s 天前"), "same": _("是同一问题，不再上报")}}


def new_token() -> str:
    """The per-form idempotency token a page renders into its hidden field."""
    return secrets.token_urlsafe(18)


def field_errors(exc: DomainError) -> dict[str, str] | None:
    """{field: message} for a domain error that belongs to a form field; None for any other error."""
    name = FIELD_OF_CODE.get(exc.code)
    if name is None:
        return None
    return {name: error_text(exc.code, exc.details) or exc.message}


def pictures_or_errors(files: MultiDict[str, FileStorage]) -> tuple[list[Picture], dict[str, str]]:
    try:
        return prepare_all(uploads(files)), {}
    except Invalid as exc:
        return [], field_errors(exc) or {"photos": exc.message}


@dataclass
class ReportForm:
    """The fields of a report as posted, checked for what a person can fix before the domain looks."""

    category: str = ""
    lon: float | None = math.nan
    lat: float | None = math.nan
    # A component's 16-digit code (部件编码, on its plate): the case goes to its maintainer, and the point
    # may be left out (the register knows where the component stands).
    component_code: str | None = None
    # The channel the form names (the dispatcher's 热线来电 or 群众来访), None for the page's own source.
    channel: str | None = None
    crs: str = DEFAULT_CRS
    texts: dict[str, str | None] = field(default_factory=dict)
    pictures: list[Picture] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, form: MultiDict[str, str], files: MultiDict[str, FileStorage], *,
              require_description: bool, no_point: str | None = None, channels: tuple[str, ...] = ()) -> ReportForm:
        # "E0101 暴露垃圾" from the picker, or a bare code or a name (Chinese or English) typed by hand:
        # grids.workflow finds the class by any of them
        parsed = cls(category=form.get("category", "").strip(), crs=form.get("crs") or DEFAULT_CRS,
                     component_code=form.get("component_code", "").strip() or None,
                     channel=form.get("source", "").strip() or None)
        if parsed.channel is not None and parsed.channel not in channels:
            parsed.errors["source"] = str(_l("请选择来源渠道。"))
        if not parsed.category:
            parsed.errors["category"] = str(_l("请选择类别。"))
        if parsed.crs not in dict(CRS_CHOICES):
            parsed.errors["point"] = str(_l("请选择坐标系。"))
        parsed._point(form, no_point or str(_l("请在地图上点选位置，或填写经度和纬度。")))
        parsed._texts(form, require_description)
        parsed.pictures, photo_errors = pictures_or_errors(files)
        parsed.errors.update(photo_errors)
        return parsed

    def _point(self, form: MultiDict[str, str], no_point: str) -> None:
        raw = (form.get("lon", "").strip(), form.get("lat", "").strip())
        if not any(raw) and self.component_code:
            self.lon = self.lat = None
            return
        if not all(raw):
            self.errors["point"] = no_point
            return
        try:
            self.lon, self.lat = float(raw[0]), float(raw[1])
        except ValueError:
            self.errors["point"] = str(_l("经度和纬度须为数字（度），例如 119.46 和 29.21。"))

    def _texts(self, form: MultiDict[str, str], require_description: bool) -> None:
        for name in FORM_TEXTS:
            value, limit = form.get(name, "").strip(), TEXT_LIMITS[name]
            self.texts[name] = value or None
            if len(value) > limit:
                self.errors[name] = str(_l("最多 %(n)d 个字。", n=limit))
        if require_description and not self.texts["description"]:
            self.errors["description"] = str(_l("请描述问题。"))

    def fingerprint(self) -> dict[str, Any]:
        """What makes two submissions "the same report" for the Idempotency-Key check."""
        return {"channel": self.channel, "category": self.category, "lon": self.lon, "lat": self.lat,
                "crs": self.crs, "component_code": self.component_code, **self.texts,
                "photos": [p.digest for p in self.pictures]}


def _say_with_the_rest(errors: dict[str, str], check: Callable[..., Any], *args: Any) -> None:
    """Adds what `check` would refuse (in its field's words) to the form's other errors."""
    try:
        check(*args)
    except Invalid as exc:
        errors.update(field_errors(exc) or {})


def submit_report(source: str, case_url: Callable[[int], str], *, require_description: bool,
                  no_point: str | None = None, channels: tuple[str, ...] = ()) -> Any:
    """Handle a posted report form: 201 {id, case, url}, or 422 {errors}; replays answer like the first.
    `no_point`: what a form without coordinate fields (the phone's) says when the point is missing;
    `channels`: the sources its `source` field may name instead of `source` (a form without one is `source`)."""
    user = current_user()
    form = ReportForm.parse(request.form, request.files, require_description=require_description,
                            no_point=no_point, channels=channels)
    if form.errors:  # a category the list lacks, a point outside the city: said with the rest, not after
        if "category" not in form.errors:
            _say_with_the_rest(form.errors, category_by_code, db(), user.city_code, form.category)
        if "point" not in form.errors and form.lon is not None:
            _say_with_the_rest(form.errors, to_city_point, db(), user.city_code, form.lon, form.lat, form.crs)
    if form.errors:
        return jsonify({"errors": form.errors}), 422

    def produce() -> tuple[dict[str, Any], int]:
        incident = report_with_photos(
            db(), upload_root(), Actor.of_user(user), form.category, form.lon, form.lat, crs=form.crs,
            source=form.channel or source, pictures=form.pictures, description=form.texts["description"] or "",
            address=form.texts["address"], reporter_contact=form.texts["reporter_contact"],
            external_id=form.texts["external_id"], component_code=form.component_code)
        return {"id": incident.id}, 201

    try:
        answer, status, _replayed = once(f"user:{user.id}", request.headers.get("Idempotency-Key"),
                                         form.fingerprint(), produce)
    except (Invalid, Conflict) as exc:  # a 工单号 stored already is a 409, said at its field
        errors = field_errors(exc)
        if errors is None:
            raise
        return jsonify({"errors": errors}), exc.status
    incident = db().get(Incident, answer["id"])
    return jsonify({"id": incident.id, "case": summaries([incident])[0], "url": case_url(incident.id)}), status
