"""Report forms over HTTP: per-field 422 messages, photo checks and EXIF stripping, zone-checked photos,
and a double submit that makes one case."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import func, select

from grids.apikeys import create_key
from grids.demo import DAMAGED_COMPONENT
from grids.incidents import Actor
from grids.models import CasePhoto, Division, Incident, User
from grids.photos import MAX_BYTES
from grids.workflow import act, report
from tests.conftest import csrf_token, login

YOUBU = "330781102"
GPS_IFD = 0x8825
ORIENTATION = 0x0112
EXIF_IFD, DATE_TIME_ORIGINAL = 0x8769, 0x9003


@pytest.fixture()
def app(connection, demo_city, tmp_path: Path):
    from webapp import create_app

    return create_app({"DB_BIND": connection, "GRIDLINK_MODE": "test", "SECRET_KEY": "test-secret",
                       "GRIDLINK_CITY": "330781", "GRIDLINK_UPLOAD_DIR": str(tmp_path)})


def inner(db, code: str = YOUBU) -> tuple[float, float]:
    return db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                             func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == code)).one()


def jpeg(size: tuple[int, int] = (640, 480), *, gps: bool = False, taken: str | None = None) -> bytes:
    """A phone photo; `taken` is its EXIF DateTimeOriginal ("2026:11:28 09:15:02", local time, no offset)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (29.0, 12.0, 30.0), 3: "E", 4: (119.0, 28.0, 0.0)}
    if taken:
        exif.get_ifd(EXIF_IFD)[DATE_TIME_ORIGINAL] = taken
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def post(client, path: str, data: dict, photos=(), key: str | None = "form-token-1"):
    headers = {"X-CSRFToken": csrf_token(client, "/dispatch" if path.startswith("/dispatch") else "/township"),
               "Accept": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    files = [(io.BytesIO(content), name) for name, content in photos]
    return client.post(path, data={**data, "photos": files}, headers=headers, content_type="multipart/form-data")


def form(db, **extra) -> dict:
    lon, lat = inner(db)
    return {"category": "E0101 暴露垃圾", "lon": f"{lon:.6f}", "lat": f"{lat:.6f}", "crs": "wgs84",
            "description": "垃圾桶满溢", "address": "游埠老街", "reporter_contact": "138 0000 0000", **extra}


def test_the_dispatcher_form_creates_a_routed_case_with_its_photo(client, db) -> None:
    login(client, "dispatcher")
    created = post(client, "/dispatch/cases", form(db), photos=[("a.jpg", jpeg())])
    assert created.status_code == 201, created.json
    case = db.get(Incident, created.json["id"])
    assert case.source == "dispatcher" and case.category.code == "E0101" and case.reporter_contact == "138 0000 0000"
    assert created.json["case"]["township"].startswith("游埠镇") and created.json["url"].endswith(f"#case-{case.id}")
    photos = db.scalars(select(CasePhoto).where(CasePhoto.incident_id == case.id)).all()
    assert [p.kind for p in photos] == ["before"]
    drawer = client.get(f"/dispatch/cases/{case.id}").json
    assert drawer["photos"][0]["thumb"].endswith("/thumb") and drawer["suggestion"]["name"]
    assert drawer["suggestion"]["heading"] == "建议派遣对象"  # not dispatched yet: the rules' suggestion


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"category": ""}, "category", "请选择类别"),
    ({"category": "X9999"}, "category", "没有这个类别"),
    ({"lon": "", "lat": ""}, "point", "在地图上点选位置"),
    ({"lon": "east"}, "point", "须为数字"),
    ({"lon": "116.4", "lat": "39.9"}, "point", "该点在兰溪市边界之外（全市的外接范围为经度 119.224–119.895"),
    ({"crs": "utm"}, "point", "坐标系"),
    ({"description": ""}, "description", "请描述问题"),
    ({"address": "路" * 301}, "address", "最多 300 个字"),
])
def test_bad_fields_get_a_message_next_to_the_field(client, db, change: dict, field: str, words: str) -> None:
    login(client, "dispatcher")
    answer = post(client, "/dispatch/cases", form(db, **change))
    assert answer.status_code == 422
    assert field in answer.json["errors"] and words in answer.json["errors"][field]


def test_a_component_code_on_the_form_places_the_case_and_routes_it_to_the_maintainer(client, db) -> None:
    login(client, "dispatcher")
    created = post(client, "/dispatch/cases", form(db, category="C0102", lon="", lat="",
                                                 component_code=DAMAGED_COMPONENT))
    assert created.status_code == 201, created.json
    case = db.get(Incident, created.json["id"])
    assert case.location is not None and case.department_id is not None
    assert f"maintainer of component {DAMAGED_COMPONENT}" in case.routing_reason
    unknown = post(client, "/dispatch/cases", form(db, category="C0102", lon="", lat="",
                                                 component_code="3307810102999999"), key="form-token-2")
    assert unknown.status_code == 422 and "部件台账中没有这个编码" in unknown.json["errors"]["component_code"]


def test_swapped_coordinates_say_how_to_fix_them(client, db) -> None:
    login(client, "dispatcher")
    lon, lat = inner(db)
    lon, lat = float(f"{lon:.6f}"), float(f"{lat:.6f}")  # as the form's fields carry them
    answer = post(client, "/dispatch/cases", form(db, lon=str(lat), lat=str(lon)))
    assert answer.status_code == 422
    assert answer.json["errors"]["point"] == f"经度和纬度似乎填反了：应为经度 {lon}、纬度 {lat}。"


def test_a_point_outside_the_city_is_said_with_the_forms_other_mistakes(client, db) -> None:
    """It was checked only once the rest was right, so the form was refused a second time for the point."""
    login(client, "dispatcher")
    answer = post(client, "/dispatch/cases", form(db, lon="116.4", lat="39.9", description=""))
    assert set(answer.json["errors"]) == {"point", "description"}
    assert "边界之外" in answer.json["errors"]["point"]
    comma = post(client, "/dispatch/cases", form(db, lon="119,72", lat="29.29", description=""))
    assert set(comma.json["errors"]) == {"point", "description"} and "须为数字" in comma.json["errors"]["point"]


def test_a_report_without_a_point_says_what_each_form_offers(client, db) -> None:
    """The dispatcher can type coordinates; the phone has only its GPS and the map."""
    login(client, "dispatcher")
    desk = post(client, "/dispatch/cases", form(db, lon="", lat=""))
    assert desk.json["errors"]["point"] == "请在地图上点选位置，或填写经度和纬度。"
    vague = post(client, "/dispatch/cases", form(db, lon="", lat="", category="垃圾"))  # no such class: said at once
    assert set(vague.json["errors"]) == {"point", "category"}
    assert vague.json["errors"]["category"] == "没有这个类别，请从列表中选择。"
    login(client, "officer")
    phone = post(client, "/township/report", form(db, lon="", lat=""))
    assert phone.json["errors"]["point"] == "还没有位置：请等待定位、点“重新定位”，或在地图上点选问题位置。"


def test_a_hotline_call_is_recorded_as_one_and_waits_for_an_inspector_to_verify_it(client, db) -> None:
    """The channel picked on the dispatcher's form is the case's source (the export's 来源, the filters'), the
    hotline's 工单号 its external id (a call entered twice is refused, naming the first case); a channel the
    form does not offer (the phone's own 巡查上报) is refused with the other fields' errors."""
    login(client, "dispatcher")
    page = client.get("/dispatch").get_data(as_text=True)
    assert '<option value="hotline">热线来电（12345/12319）</option>' in page
    created = post(client, "/dispatch/cases", form(db, source="hotline", external_id=" 12345-20261129-0007 "))
    case = db.get(Incident, created.json["id"])
    assert created.status_code == 201 and case.source == "hotline" and case.status == "reported"
    drawer = client.get(f"/dispatch/cases/{case.id}").json
    assert (drawer["source"], drawer["external_id"]) == ("热线来电（12345/12319）", "12345-20261129-0007")
    again = post(client, "/dispatch/cases", form(db, source="hotline", external_id="12345-20261129-0007"),
                 key="form-token-3")  # the same call entered twice: the first case is named
    assert again.status_code == 409
    assert again.json["errors"] == {"external_id": f"工单号已登记为案件 #{case.id}：请打开该案件，不要重复录入。"}
    refused = post(client, "/dispatch/cases", form(db, source="field", description=""), key="form-token-2")
    assert refused.status_code == 422
    assert refused.json["errors"] == {"source": "请选择来源渠道。", "description": "请描述问题。"}
    login(client, "inspector")
    assert f"#{case.id} " in client.get("/township").get_data(as_text=True)  # on the inspector's 核实 list


def test_a_non_image_and_an_oversized_photo_are_refused_with_a_message(client, db) -> None:
    login(client, "dispatcher")
    fake = post(client, "/dispatch/cases", form(db), photos=[("notes.jpg", b"%PDF-1.4 not a picture")])
    assert fake.status_code == 422 and "不是图片" in fake.json["errors"]["photos"]
    assert fake.json["errors"]["photos"] == "notes.jpg 不是图片：请上传 JPEG、PNG 或 WebP 照片。"  # no English
    big = post(client, "/dispatch/cases", form(db), photos=[("big.jpg", jpeg() + b"\0" * MAX_BYTES)])
    assert big.status_code == 422
    assert big.json["errors"]["photos"] == f"big.jpg 太大：每张照片最多 {MAX_BYTES // 1048576} MB。"
    assert db.scalar(select(func.count()).select_from(Incident).where(Incident.source == "dispatcher")) == 0


def test_an_iphone_heic_and_a_huge_canvas_are_told_apart_from_non_pictures(client, db) -> None:
    """What the phone user must change: the camera's format, or the picture's size (both were 不是图片)."""
    login(client, "dispatcher")
    heic = post(client, "/dispatch/cases", form(db), photos=[("IMG_0001.HEIC", b"\0\0\0\x18ftypheic" + b"\0" * 64)])
    assert heic.status_code == 422 and heic.json["errors"]["photos"].startswith("IMG_0001.HEIC 是 HEIC 格式")
    assert "兼容性最佳" in heic.json["errors"]["photos"]
    canvas = io.BytesIO()
    Image.new("1", (8000, 7000)).save(canvas, "PNG")  # 56 megapixels in a few kB
    huge = post(client, "/dispatch/cases", form(db), photos=[("scan.png", canvas.getvalue())])
    assert huge.json["errors"]["photos"] == "scan.png 有 56 百万像素：每张照片最多 50 百万像素，请缩小再传。"
    just_over = io.BytesIO()
    Image.new("1", (7100, 7085)).save(just_over, "PNG")
    over = post(client, "/dispatch/cases", form(db), photos=[("over.png", just_over.getvalue())])
    assert over.json["errors"]["photos"].startswith("over.png 有 50.3 百万像素：每张照片最多 50 百万像素")
    bomb = post(client, "/dispatch/cases", form(db), photos=[("bomb.png", png_header(20_000, 20_000))])
    assert bomb.json["errors"]["photos"] == "bomb.png 有 400 百万像素：每张照片最多 50 百万像素，请缩小再传。"


def png_header(width: int, height: int) -> bytes:
    """A PNG's header chunk and an empty data chunk: what Pillow reads before refusing a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"")


def test_exif_gps_is_stripped_orientation_kept_and_size_capped(client, db, tmp_path: Path) -> None:
    login(client, "dispatcher")
    created = post(client, "/dispatch/cases", form(db), photos=[("gps.jpg", jpeg((5000, 300), gps=True))])
    assert created.status_code == 201, created.json
    photo = db.scalar(select(CasePhoto).where(CasePhoto.incident_id == created.json["id"]))
    assert photo.path.endswith(".jpg") and (tmp_path / photo.path).is_file()
    served = client.get(f"/photos/{photo.id}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(served.data)) as image:
        exif = image.getexif()
        assert exif.get_ifd(GPS_IFD) == {} and 0x010F not in exif and exif[ORIENTATION] == 6
        assert max(image.size) == 4096
    assert client.get(f"/photos/{photo.id}/thumb").status_code == 200


def test_a_huge_jpeg_is_decoded_at_a_fraction_of_its_size(client, db) -> None:
    """49 MP in 750 KB cost a worker ~3 s and 150 MB decoded whole: the JPEG decoder scales it down as it reads."""
    login(client, "dispatcher")
    created = post(client, "/dispatch/cases", form(db), photos=[("huge.jpg", jpeg((7000, 7000)))])
    assert created.status_code == 201, created.json
    photo = db.scalar(select(CasePhoto).where(CasePhoto.incident_id == created.json["id"]))
    with Image.open(io.BytesIO(client.get(f"/photos/{photo.id}").data)) as image:
        assert image.size == (3500, 3500)


def test_a_small_photo_is_its_own_thumbnail_never_enlarged(client, db) -> None:
    login(client, "dispatcher")
    created = post(client, "/dispatch/cases", form(db), photos=[("small.jpg", jpeg((300, 200)))])
    photo = db.scalar(select(CasePhoto).where(CasePhoto.incident_id == created.json["id"]))
    with Image.open(io.BytesIO(client.get(f"/photos/{photo.id}/thumb").data)) as image:
        assert image.size == (300, 200)


def test_photos_are_404_outside_the_viewers_zone(client, db) -> None:
    login(client, "dispatcher")
    zhuge = inner(db, "330781104")
    created = post(client, "/dispatch/cases", form(db, lon=str(zhuge[0]), lat=str(zhuge[1])),
                   photos=[("a.jpg", jpeg())])
    photo_id = db.scalar(select(CasePhoto.id).where(CasePhoto.incident_id == created.json["id"]))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dispatch")})
    login(client, "squad_leader")
    assert client.get(f"/photos/{photo_id}").status_code == 404
    assert client.get(f"/photos/{photo_id}/thumb").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/township")})
    assert client.get(f"/photos/{photo_id}").status_code == 302  # to the login page


def test_an_api_client_reads_a_cases_photos_with_its_key(client, db) -> None:
    """A citizen app shows the before and after photos: the case's JSON links them, the same key fetches them."""
    login(client, "dispatcher")
    created = post(client, "/dispatch/cases", form(db), photos=[("a.jpg", jpeg())])
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dispatch")})
    key = {"Authorization": f"Bearer {create_key(db, '330781', 'citizen-app', 'viewer')[1]}"}
    case = client.get(f"/api/v1/incidents/{created.json['id']}", headers=key).json
    [photo] = case["photos"]
    assert photo["kind"] == "before" and photo["url"].startswith("http://localhost/photos/")
    served = client.get(photo["url"], headers=key)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert client.get(photo["thumb"], headers=key).status_code == 200
    assert client.get(photo["url"], headers={"Authorization": "Bearer glk_wrong"}).status_code == 401


def test_a_double_submit_with_one_form_token_makes_one_case(client, db) -> None:
    login(client, "dispatcher")
    first = post(client, "/dispatch/cases", form(db), photos=[("a.jpg", jpeg())], key="double-click")
    again = post(client, "/dispatch/cases", form(db), photos=[("a.jpg", jpeg())], key="double-click")
    assert first.status_code == again.status_code == 201 and first.json["id"] == again.json["id"]
    assert db.scalar(select(func.count()).select_from(Incident).where(Incident.source == "dispatcher")) == 1
    assert db.scalar(select(func.count()).select_from(CasePhoto).where(CasePhoto.incident_id == first.json["id"])) == 1
    changed = post(client, "/dispatch/cases", form(db, description="另一件事"), key="double-click")
    assert changed.status_code == 409


@pytest.fixture()
def dispatched_in_youbu(db) -> Incident:
    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    lon, lat = inner(db)
    case = report(db, dispatcher, "E0101", lon, lat, source="test", description="待处置")
    act(db, case.id, "file", dispatcher, case.version)
    act(db, case.id, "dispatch", dispatcher, case.version, department="bureau")  # the squad's own work
    db.flush()
    return case


def test_a_squad_reports_handling_with_an_after_photo(client, db, dispatched_in_youbu) -> None:
    case = dispatched_in_youbu
    login(client, "squad_leader")
    page = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert f'name="version" value="{case.version}"' in page
    assert "<dt>结案条件</dt><dd data-closing>全部清理 fully cleared</dd>" in page  # what counts as done (E0101)
    handle_form = page.split("data-handle")[1].split("</form>")[0]  # camera or album: capture would force the camera
    assert "可拍摄或从相册选择" in handle_form and "capture=" not in handle_form
    token = csrf_token(client, f"/township/cases/{case.id}")
    no_photo = client.post(f"/township/cases/{case.id}/handle", data={"csrf_token": token, "version": case.version,
                                                                      "note": "已清理"})
    assert no_photo.status_code == 422 and "处置后照片" in no_photo.get_data(as_text=True)
    kept = re.findall(r'<textarea name="note"[^>]*>([^<]*)</textarea>', no_photo.get_data(as_text=True))
    assert kept == ["", "已清理"]  # back in 处置反馈 only: 现场确认 would file it under 接单
    stale = client.post(f"/township/cases/{case.id}/handle", content_type="multipart/form-data",
                        data={"csrf_token": token, "version": case.version - 1, "note": "已清理",
                              "photos": [(io.BytesIO(jpeg()), "after.jpg")]})
    assert stale.status_code == 409 and "已被他人更改" in stale.get_data(as_text=True)
    done = client.post(f"/township/cases/{case.id}/handle", content_type="multipart/form-data",
                       data={"csrf_token": token, "version": case.version, "note": "已清理",
                             "photos": [(io.BytesIO(jpeg()), "after.jpg")]})
    assert done.status_code == 302
    db.refresh(case)
    assert case.status == "handled"
    assert [p.kind for p in db.scalars(select(CasePhoto).where(CasePhoto.incident_id == case.id))] == ["after"]
    shown = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    # when it was taken: a round of after-photos a failed 核查 sent back reads 处置后照片 too
    assert "thumb-after" in shown and re.search(r'<span class="thumb-at">发送 \d\d-\d\d \d\d:\d\d</span>', shown)


def test_when_a_photo_was_taken_is_kept_and_an_old_after_photo_is_flagged(client, db, dispatched_in_youbu) -> None:
    """An after-photo is evidence of the work: one the camera took years before the case was reported showed
    only when it was sent. The time comes from the EXIF the stored copy no longer has (read in the city's time
    when the camera wrote no offset); a photo that says nothing has none, and is not flagged."""
    case = dispatched_in_youbu
    fresh = (case.reported_at + timedelta(minutes=5)).astimezone(ZoneInfo("Asia/Shanghai"))
    login(client, "squad_leader")
    token = csrf_token(client, f"/township/cases/{case.id}")
    done = client.post(f"/township/cases/{case.id}/handle", content_type="multipart/form-data",
                       data={"csrf_token": token, "version": case.version, "note": "已清理", "photos": [
                           (io.BytesIO(jpeg(taken="2020:05:01 10:00:00")), "old.jpg"),
                           (io.BytesIO(jpeg(taken=fresh.strftime("%Y:%m:%d %H:%M:%S"))), "new.jpg"),
                           (io.BytesIO(jpeg()), "screenshot.jpg")]})
    assert done.status_code == 302
    taken = db.scalars(select(CasePhoto.taken_at).where(CasePhoto.incident_id == case.id).order_by(CasePhoto.id))
    assert list(taken) == [datetime(2020, 5, 1, 2, tzinfo=UTC), fresh.replace(microsecond=0), None]
    shown = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert shown.count('class="thumb-stale"') == 1
    assert '<span class="thumb-at">拍摄 2020-05-01 10:00</span><span class="thumb-stale">拍于上报之前</span>' in shown
    api = client.get(f"/api/v1/incidents/{case.id}").json["photos"]
    assert [(p["taken_at"], p["stale"]) for p in api] == [
        ("2020-05-01T02:00:00+00:00", True), (fresh.replace(microsecond=0).astimezone(UTC).isoformat(), False),
        (None, False)]


def test_a_squad_requests_an_extension_with_duration_and_reason(client, db, dispatched_in_youbu) -> None:
    case = dispatched_in_youbu
    login(client, "squad_leader")
    token = csrf_token(client, f"/township/cases/{case.id}")
    url = f"/township/cases/{case.id}/extension"
    bad = client.post(url, data={"csrf_token": token, "version": case.version, "amount": "0", "unit": "d"})
    assert bad.status_code == 422
    assert "1 到 99" in bad.get_data(as_text=True) and "延期理由" in bad.get_data(as_text=True)
    done = client.post(url, data={"csrf_token": token, "version": case.version, "amount": "2", "unit": "d",
                                  "reason": "需要挖掘机"})
    assert done.status_code == 302
    db.refresh(case)
    assert case.extension_request == "2d"
    assert client.get(f"/township/cases/{case.id}").get_data(as_text=True).count("等待审批") == 1  # it said so twice
    assert "已申请延期 2 个工作日，等待审批" in client.get(f"/township/cases/{case.id}").get_data(as_text=True)


def on_the_spot(client, case: Incident, action: str, *, version: int | None = None, **fields):
    """现场确认's one tap, with the case's version as the page holds it (or a stale one)."""
    token = csrf_token(client, f"/township/cases/{case.id}")
    return client.post(f"/township/cases/{case.id}/act", data={
        "csrf_token": token, "version": case.version if version is None else version, "action": action, **fields})


def squad_handles(db, case: Incident) -> None:
    act(db, case.id, "handle", Actor.of_user(db.scalar(select(User).where(User.username == "squad_leader"))),
        case.version, note="已清运", after_photo="after.jpg")
    db.flush()


def test_on_the_spot_a_squad_accepts_and_an_inspector_checks_with_one_tap(client, db, dispatched_in_youbu) -> None:
    case = dispatched_in_youbu
    login(client, "squad_leader")
    page = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert 'value="accept"' in page and 'value="check"' not in page
    assert on_the_spot(client, case, "accept").status_code == 302
    db.refresh(case)
    assert case.status == "in_progress"
    stale = on_the_spot(client, case, "accept", version=case.version - 1)
    assert stale.status_code == 409 and "已被他人更改" in stale.get_data(as_text=True)
    squad_handles(db, case)
    login(client, "inspector")
    assert 'value="check"' in client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert on_the_spot(client, case, "check", note="现场已清理干净").status_code == 302
    db.refresh(case)
    assert case.status == "checked"
    history = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert "现场已清理干净" in history and "核查" in history
    assert on_the_spot(client, case, "close").status_code == 422


def test_the_phone_page_and_the_department_inbox_show_the_deadline_itself(client, db, dispatched_in_youbu) -> None:
    """Only a wall-clock countdown was shown: "剩余 2 天" on Saturday for a case due Monday 14:00."""
    case = dispatched_in_youbu
    due = case.deadline_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")
    login(client, "squad_leader")
    assert f"{due} 到期" in client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert f"{due} 到期" in client.get("/township").get_data(as_text=True)
    assert f"due {due}" in client.get(f"/township/cases/{case.id}?lang=en").get_data(as_text=True)


def test_a_squad_given_a_case_not_its_own_returns_it_from_the_phone_with_its_reason(client, db,
                                                                                    dispatched_in_youbu) -> None:
    """The workflow let the squad return a case; the phone page offered only 接单, 处置反馈 and 申请延期."""
    case = dispatched_in_youbu
    login(client, "squad_leader")
    page = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert 'value="return"' in page and "退回指挥中心时必填" in page
    unsaid = on_the_spot(client, case, "return", note="   ")
    assert unsaid.status_code == 422 and "请写明退回原因" in unsaid.get_data(as_text=True)
    assert on_the_spot(client, case, "return", note="在诸葛镇界内，不属本中队").status_code == 302
    db.refresh(case)
    assert (case.status, case.owner_type) == ("filed", "centre")
    assert case.routing_reason.endswith(f"returned to the centre by {case.squad.name}")  # not the bureau's name
    assert "不属本中队" in client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    login(client, "dispatcher")  # the squad said "not ours": sending it back to the squad is not the default
    dispatch = next(a for a in client.get(f"/dispatch/cases/{case.id}").json["actions"] if a["action"] == "dispatch")
    assert [o.get("selected") for o in dispatch["choice"]["options"] if o.get("local")] == [None]


def test_an_inspector_fails_the_check_with_what_is_still_wrong(client, db, dispatched_in_youbu) -> None:
    case = dispatched_in_youbu
    squad_handles(db, case)
    login(client, "inspector")
    page = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert 'value="check"' in page and 'value="rework"' in page and "核查不通过时必填" in page
    assert 'value="return"' not in page  # the inspector does not hold the case
    unsaid = on_the_spot(client, case, "rework")
    assert unsaid.status_code == 422 and "请写明现场还有什么问题" in unsaid.get_data(as_text=True)
    # the page shown again names its own address, so a reload reads it instead of posting again
    assert f'<link rel="canonical" href="/township/cases/{case.id}" data-replace-url>' in unsaid.get_data(as_text=True)
    stale = on_the_spot(client, case, "rework", version=case.version - 1, note="地面仍有大量建筑垃圾")
    kept = stale.get_data(as_text=True).split("data-kept-note")[1]  # the note is not lost with the stale tab
    assert stale.status_code == 409 and "地面仍有大量建筑垃圾" in kept and "没有提交" in kept
    assert on_the_spot(client, case, "rework", note="墙角仍有垃圾").status_code == 302
    db.refresh(case)
    assert case.status == "in_progress"
    history = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert "墙角仍有垃圾" in history and "返工" in history


def news_of(client, case: Incident) -> dict[str, str]:
    """The notices of the case page and the flags of its row in the squad's list, by kind."""
    page = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    row = client.get("/township").get_data(as_text=True).split(f'<tr data-case="{case.id}"')[1].split("</tr>")[0]
    return {**dict(re.findall(r'data-news="(\w+)">([^<]*)<', page)),
            **{f"flag:{kind}": why for kind, why in re.findall(r'data-flag="(\w+)" title="([^"]*)"', row)}}


def test_the_handler_hears_why_the_check_failed_until_handling_again(client, db, dispatched_in_youbu) -> None:
    """A failed 核查 left the squad's row a plain 处置中 and the reason at the foot of the history."""
    case = dispatched_in_youbu
    squad_handles(db, case)
    inspector = Actor.of_user(db.scalar(select(User).where(User.username == "inspector")))
    act(db, case.id, "rework", inspector, case.version, reason="墙角仍有垃圾")
    db.flush()
    login(client, "squad_leader")
    assert news_of(client, case) == {"rework": "核查未通过，需返工：墙角仍有垃圾", "flag:rework": "墙角仍有垃圾"}
    squad_handles(db, case)
    assert news_of(client, case) == {}  # handled again: the failed check is old news


def test_the_handler_hears_the_answer_to_an_extension_request(client, db, dispatched_in_youbu) -> None:
    """A refused 延期 vanished without a word (the form offered again), a granted one moved only the due time."""
    case = dispatched_in_youbu
    squad = Actor.of_user(db.scalar(select(User).where(User.username == "squad_leader")))
    supervisor = Actor.of_user(db.scalar(select(User).where(User.username == "supervisor")))
    act(db, case.id, "request_extension", squad, case.version, duration="1d", reason="需要吊车")
    act(db, case.id, "reject_extension", supervisor, case.version, reason="吊车当天可到")
    db.flush()
    login(client, "squad_leader")
    news = news_of(client, case)
    assert news["extension_rejected"].startswith("延期申请被驳回：吊车当天可到")
    assert news["flag:extension_rejected"] == "吊车当天可到"
    act(db, case.id, "request_extension", squad, case.version, duration="4h", reason="吊车故障")
    db.flush()
    # asked again: the refusal is old news, the request waits
    assert news_of(client, case) == {"flag:extension": "申请延期 4 个工作小时，等待审批"}
    act(db, case.id, "approve_extension", supervisor, case.version)
    db.flush()
    assert news_of(client, case) == {"extension_granted": "已批准延期 4 个工作小时：时限已顺延，见上方。"}


def test_verify_is_not_offered_on_a_report_staff_made_on_site(client, db) -> None:
    """The phone page offered 核实属实 on a squad leader's own patrol report (first-hand, no one's 核实 task)."""
    lon, lat = inner(db)
    leader = Actor.of_user(db.scalar(select(User).where(User.username == "squad_leader")))
    patrol = report(db, leader, "E0101", lon, lat, source="township", description="巡查发现")
    hotline = report(db, Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher"))), "E0101", lon,
                     lat, source="hotline", description="市民来电")
    db.flush()
    login(client, "officer")
    assert 'value="verify"' not in client.get(f"/township/cases/{patrol.id}").get_data(as_text=True)
    page = client.get(f"/township/cases/{hotline.id}").get_data(as_text=True)
    assert 'value="verify"' in page and 'value="refute"' in page


@pytest.mark.parametrize("typed", ["Exposed garbage", "暴露垃圾", "E0101", "E0101 暴露垃圾", "E0101 Exposed garbage"])
def test_a_category_is_found_by_its_code_or_its_chinese_or_english_name(client, db, typed: str) -> None:
    login(client, "dispatcher")
    created = post(client, "/dispatch/cases", form(db, category=typed))
    assert created.status_code == 201, created.json
    assert db.get(Incident, created.json["id"]).category.code == "E0101"
