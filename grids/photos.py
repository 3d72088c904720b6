"""Case photos: check that an upload is a picture, re-encode it without EXIF, store it, list a case's photos.

Why re-encode: a phone photo carries the GPS position, the time and the device in its EXIF, and a file
that merely claims to be a JPEG could be anything. Decoding and encoding again with Pillow keeps only the
pixels and the orientation tag (so the picture stays upright). The time the photo was taken (EXIF
DateTimeOriginal, with its OffsetTimeOriginal when the camera wrote one, else on the city's clock) is kept
in the row instead: it is evidence, so an after-photo taken before the case was reported can be told.
Files go to <root>/<yyyy>/<mm>/<uuid>.jpg with a small <uuid>_t.jpg thumbnail beside them; the database row
ties the file to its case, so serving it checks the viewer's zone like every other view of the case.

A file written for a transaction that later rolls back stays on disk unreferenced; nothing serves it.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grids.cluster import PROJECT_ROOT
from grids.divisions import known_city
from grids.errors import Invalid, NotFound
from grids.incidents import Actor
from grids.models import CasePhoto, Incident
from grids.workflow import act, report

DEFAULT_ROOT = PROJECT_ROOT / "var" / "uploads"
MAX_BYTES = 8 * 1024 * 1024
MAX_SIDE = 4096
THUMB_SIDE = 320
MAX_PHOTOS = 6
#: Refused before decoding: a small file can claim a huge canvas (decompression bomb).
MAX_PIXELS = 50_000_000
FORMATS = ("JPEG", "PNG", "WEBP")
#: The ISO base media brands of HEIF/HEIC, an iPhone camera's default: Pillow cannot read them, and a phone
#: user needs to hear which setting sends JPEG (相机 > 格式 > 兼容性最佳), not that the file is no picture.
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
ORIENTATION = 0x0112
EXIF_IFD, TAKEN, TAKEN_OFFSET = 0x8769, 0x9003, 0x9011  # the Exif sub-IFD; DateTimeOriginal, OffsetTimeOriginal
QUALITY = 85


@dataclass(frozen=True)
class Picture:
    """An upload that passed the checks, re-encoded as JPEG, with its thumbnail and the input's digest."""

    full: bytes
    thumb: bytes
    digest: str
    #: EXIF DateTimeOriginal: aware when the camera wrote its offset, else naive (the city's clock, see store).
    taken: datetime | None = None


def _taken(exif: Image.Exif) -> datetime | None:
    """When the camera took the photo, or None when it did not say (or wrote zeros or nonsense)."""
    tags = exif.get_ifd(EXIF_IFD)
    value, offset = str(tags.get(TAKEN, "")).strip("\x00 "), str(tags.get(TAKEN_OFFSET, "")).strip("\x00 ")
    try:
        moment = datetime.strptime(value, "%Y:%m:%d %H:%M:%S")
        return moment.replace(tzinfo=datetime.strptime(offset, "%z").tzinfo) if offset else moment
    except ValueError:
        return None


def _jpeg(image: Image.Image, orientation: int | None) -> bytes:
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY, optimize=True, exif=exif.tobytes())
    return out.getvalue()


def _rgb(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: transparent parts of a PNG/WebP become white, not black."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _too_many_pixels(name: str, pixels: int) -> Invalid:
    megapixels = f"{pixels / 1_000_000:.1f}".removesuffix(".0")  # 56, or 50.3 (not "50 over 50")
    return Invalid(f"{name} has {megapixels} megapixels, over {MAX_PIXELS // 1_000_000}; send a smaller photo",
                   code="photo_too_many_pixels",
                   details={"file": name, "megapixels": megapixels, "max_mp": MAX_PIXELS // 1_000_000})


def _bomb_pixels(exc: Image.DecompressionBombError) -> int:
    """The size Pillow refused a header for ("Image size (N pixels) exceeds ..."), at least its limit."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or MAX_PIXELS)


def _check_canvas(image: Image.Image, name: str) -> None:
    """Format and size from the header, before any pixel is decoded."""
    if image.format not in FORMATS:
        raise Invalid(f"{name} is a {image.format}; send a JPEG, PNG or WebP photo", code="not_an_image",
                      details={"file": name})
    if image.width * image.height > MAX_PIXELS:
        raise _too_many_pixels(name, image.width * image.height)


def prepare(data: bytes, name: str = "photo") -> Picture:
    """The upload re-encoded (at most MAX_SIDE px, EXIF stripped but orientation), or Invalid saying why not."""
    if not data:
        raise Invalid(f"{name} is empty", code="empty_photo", details={"file": name})
    if len(data) > MAX_BYTES:
        raise Invalid(f"{name} is over {MAX_BYTES // 1048576} MB, the most a photo may be",  # (read stops past it)
                      code="photo_too_large", details={"file": name})
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        raise Invalid(f"{name} is a HEIC/HEIF photo; send JPEG (on an iPhone: Settings > Camera > Formats > Most "
                      "Compatible)", code="heic_photo", details={"file": name})
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_canvas(image, name)
            exif = image.getexif()
            orientation, taken = exif.get(ORIENTATION), _taken(exif)
            # A JPEG at least MAX_SIDE px on both sides is decoded at 1/2, 1/4 or 1/8 of its size (the decoder's
            # own scaling), both sides staying at least MAX_SIDE/2: decoded whole, a 49 MP photo of 750 KB cost
            # a worker ~3 s and 150 MB, so a few cheap uploads tied up the server.
            image.draft("RGB", (MAX_SIDE // 2, MAX_SIDE // 2))
            picture = _rgb(image)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(name, _bomb_pixels(exc)) from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise Invalid(f"{name} is not a picture; send a JPEG, PNG or WebP photo", code="not_an_image",
                      details={"file": name}) from exc
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    thumb = picture.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))  # a small photo is its own thumbnail, never enlarged
    return Picture(full=_jpeg(picture, orientation), thumb=_jpeg(thumb, orientation),
                   digest=hashlib.sha256(data).hexdigest(), taken=taken)


def prepare_all(files: Sequence[tuple[str, bytes]]) -> list[Picture]:
    """Every upload of a form, checked before anything is stored (one bad photo refuses the whole form)."""
    if len(files) > MAX_PHOTOS:
        raise Invalid(f"at most {MAX_PHOTOS} photos per report, got {len(files)}", code="too_many_photos",
                      details={"max": MAX_PHOTOS, "got": len(files)})
    return [prepare(data, name) for name, data in files]


def thumb_path(path: str) -> str:
    return path.removesuffix(".jpg") + "_t.jpg"


def place(session: Session, pictures: Sequence[Picture], folder: str = "") -> list[tuple[str, Picture]]:
    """Where each picture will live: [folder/]<yyyy>/<mm>/<uuid>.jpg (by the database clock), not yet written."""
    now = session.scalar(select(func.now()))
    prefix = f"{folder}/" if folder else ""
    return [(f"{prefix}{now:%Y}/{now:%m}/{uuid.uuid4().hex}.jpg", picture) for picture in pictures]


def write(root: Path, placed: Sequence[tuple[str, Picture]]) -> None:
    """Write each placed picture and its thumbnail under root."""
    for path, picture in placed:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(picture.full)
        (root / thumb_path(path)).write_bytes(picture.thumb)


def store(session: Session, root: Path, incident: Incident, pictures: Sequence[Picture], kind: str,
          uploaded_by: int | None) -> list[CasePhoto]:
    """Write each picture (and its thumbnail) under root/<yyyy>/<mm>/ and record it for the case, with the time
    it was taken (a camera without an offset keeps local time: the city's)."""
    placed = place(session, pictures)
    write(root, placed)
    zone = ZoneInfo(known_city(session, incident.city_code).timezone)
    rows = [CasePhoto(city_code=incident.city_code, incident_id=incident.id, kind=kind, path=path,
                      uploaded_by=uploaded_by, taken_at=_aware(picture.taken, zone)) for path, picture in placed]
    session.add_all(rows)
    session.flush()
    return rows


def _aware(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    return moment.replace(tzinfo=zone) if moment is not None and moment.tzinfo is None else moment


#: How long before its case was reported a photo of each kind may have been taken: a report's photo taken
#: days earlier may show a problem long gone; an after-photo taken before the report cannot show the work done.
TAKEN_BEFORE_REPORT = {"before": timedelta(hours=24), "after": timedelta(0)}


def photos_of(session: Session, incident_ids: Sequence[int]) -> dict[int, list[tuple[CasePhoto, bool]]]:
    """The photos of each case, oldest first, each with whether it is stale (taken longer before its case was
    reported than TAKEN_BEFORE_REPORT allows): one query for a whole list of cases (an inbox)."""
    found: dict[int, list[tuple[CasePhoto, bool]]] = {i: [] for i in incident_ids}
    for photo, reported_at in session.execute(
            select(CasePhoto, Incident.reported_at).join(Incident, Incident.id == CasePhoto.incident_id)
            .where(CasePhoto.incident_id.in_(incident_ids)).order_by(CasePhoto.id)):
        grace = TAKEN_BEFORE_REPORT.get(photo.kind)
        stale = photo.taken_at is not None and grace is not None and photo.taken_at < reported_at - grace
        found[photo.incident_id].append((photo, stale))
    return found


def photo_file(root: Path, photo: CasePhoto | str, *, thumb: bool = False) -> Path:
    """The file of a photo row (or a stored path: an inspection's photo); NotFound if it is missing or (a
    corrupted row) points outside root."""
    path = photo if isinstance(photo, str) else photo.path
    target = (root / (thumb_path(path) if thumb else path)).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        raise NotFound("the photo file is missing", code="photo_missing")
    return target


def report_with_photos(session: Session, root: Path, actor: Actor, category: str, x: float | None,
                       y: float | None, *, pictures: Sequence[Picture], **details: Any) -> Incident:
    """A report (grids.workflow.report) with its "before" photos, in the caller's transaction."""
    incident = report(session, actor, category, x, y, **details)
    store(session, root, incident, pictures, "before", actor.user_id)
    return incident


def handle_with_photos(session: Session, root: Path, incident_id: int, actor: Actor, version: int, note: str,
                       pictures: Sequence[Picture]) -> Incident:
    """处置反馈: the handle action plus its "after" photos; the event names the photos it stored."""
    if not pictures:
        raise Invalid("handling is reported with at least one after-photo", code="after_photo_required",
                      details=["photos"])
    incident = act(session, incident_id, "handle", actor, version, note=note,
                   after_photo=",".join(dict.fromkeys(p.digest[:12] for p in pictures)))  # the same file once
    store(session, root, incident, pictures, "after", actor.user_id)
    return incident
