"""Case photos over HTTP: served only to users who may see the case, 404 to everyone else (RELIABILITY 16).

The files are re-encoded copies (grids.photos); the route looks the photo's case up through the same zone
rule as the API (grids.workflow.visible_case), so a squad never gets another township's photo, not even
a hint that it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage, MultiDict

from grids.errors import NotFound
from grids.models import CasePhoto
from grids.photos import DEFAULT_ROOT, MAX_BYTES, photo_file, photos_of
from grids.workflow import visible_case
from webapp import db
from webapp.api.principal import key_sent, principal
from webapp.auth import current_user
from webapp.labels import city_time

bp = Blueprint("photos", __name__, url_prefix="/photos")
#: Photos never change (a new photo is a new file); the browser may keep them, shared caches may not.
CACHE_SECONDS = 7 * 24 * 3600


def upload_root() -> Path:
    """GRIDLINK_UPLOAD_DIR (see webapp/config.py), else var/uploads of the checkout."""
    configured = current_app.config.get("GRIDLINK_UPLOAD_DIR")
    return Path(configured) if configured else DEFAULT_ROOT


def uploads(files: MultiDict[str, FileStorage], name: str = "photos") -> list[tuple[str, bytes]]:
    """(file name, bytes) of the non-empty file inputs; each read stops one byte past the limit."""
    return [(f.filename or "photo", f.read(MAX_BYTES + 1)) for f in files.getlist(name) if f.filename]


def photo_links(incident_id: int) -> list[dict[str, Any]]:
    """What a page needs to show a case's thumbnails linking to the full pictures."""
    return photo_links_of([incident_id])[incident_id]


#: What a thumbnail says of a stale photo (grids.photos.TAKEN_BEFORE_REPORT), by kind.
STALE_WORDS = {"before": _l("拍于一天多前"), "after": _l("拍于上报之前")}


def photo_links_of(incident_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """photo_links of many cases in one query. `sent` (when it was uploaded, on the city's clock: 11-29 16:27)
    tells a round of after-photos from the one a failed 核查 sent back: both read 处置后照片. `taken` (拍摄 and
    when the camera took it; None if it did not say) and `stale` (a warning when that was too long before the
    case was reported, else None) let whoever checks the work see an old photo sent as new."""
    return {case_id: [{"id": p.id, "kind": p.kind, "url": url_for("pages.photos.view", photo_id=p.id),
                       "thumb": url_for("pages.photos.view", photo_id=p.id, size="thumb"),
                       "sent": sent_words(p.created_at), "taken": _taken(p.taken_at),
                       "taken_at": p.taken_at.isoformat() if p.taken_at else None,
                       "stale": str(STALE_WORDS[p.kind]) if stale else None}
                      for p, stale in photos]
            for case_id, photos in photos_of(db(), incident_ids).items()}


def _short(moment: datetime) -> str:
    """11-29 16:27 this year, 2025-11-29 16:27 another, on the city's clock."""
    shown = city_time(moment)
    return shown[5:] if shown[:4] == city_time(datetime.now(UTC))[:4] else shown


def sent_words(moment: datetime) -> str:
    """发送 and when a photo was sent: beside 拍摄 a bare time did not say which of the two it was."""
    return _("发送 %(at)s", at=_short(moment))


def _taken(moment: datetime | None) -> str | None:
    """拍摄 and when the camera took it, or None when the photo did not say."""
    return _("拍摄 %(at)s", at=_short(moment)) if moment is not None else None


@bp.route("/<int:photo_id>", defaults={"size": "full"})
@bp.route("/<int:photo_id>/<any(thumb):size>")
def view(photo_id: int, size: str) -> Any:
    """A logged-in user's or an API key's (a citizen app showing the after-photo), if it may see the case; a
    browser whose session ended goes to the login page, as for any page."""
    if current_user() is None and not key_sent():
        return redirect(url_for("auth.login", next=request.path))
    actor, _ = principal()
    photo = db().get(CasePhoto, photo_id)
    if photo is None or photo.city_code != current_app.config["GRIDLINK_CITY"]:
        raise NotFound("no such photo", code="photo_not_found")
    visible_case(db(), actor, photo.incident_id, own_reports=True)
    return send_photo(photo, size)


def send_photo(photo: CasePhoto | str, size: str) -> Any:
    """A stored photo (a row, or an inspection's stored path) at full size or as its thumbnail, cached by the
    browser only: who may see it was checked by the caller, and a proxy must not hand it to someone else."""
    response = send_file(photo_file(upload_root(), photo, thumb=size == "thumb"), mimetype="image/jpeg",
                         max_age=CACHE_SECONDS)
    response.cache_control.private = True
    response.cache_control.public = False
    return response
