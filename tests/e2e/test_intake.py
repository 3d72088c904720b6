"""Intake in a real Chromium: the dispatcher's 新建案件 panel on the map, a co-manager's three-tap 上报 on a
360 px phone with GPS, and the dispatch board's keyboard shortcuts; offline, hostile text stays text."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.orm import Session

from grids.models import CaseEvent, CasePhoto, Division, Incident
from tests.e2e.conftest import browser_login, screenshot

pytestmark = pytest.mark.e2e
HOSTILE = "<img src=x onerror=alert(1)> 井盖松动"
YOUBU = "330781102"


@pytest.fixture()
def youbu_point(database_url: str) -> Iterator[tuple[float, float]]:
    """(lat, lon) inside 游埠镇, off the demo cases' pins; the test's new cases are removed after.

    The history trigger forbids deleting case events, so the clean-up disables triggers for its own
    transaction (the test database's owner is a superuser).
    """
    engine = create_engine(database_url)
    with Session(engine) as session:
        lon, lat = session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                          func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                                   .where(Division.code == YOUBU)).one()
        before = session.scalar(select(func.max(Incident.id))) or 0
    yield lat - 0.003, lon - 0.003  # beside the demo case that sits on the inner point itself
    with Session(engine) as session, session.begin():
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(delete(CaseEvent).where(CaseEvent.incident_id > before))
        session.execute(delete(Incident).where(Incident.id > before))
    engine.dispose()


def watch(page: Page, base: str) -> Page:
    """Record requests leaving the server's origin, console errors and dialogs: an alert or a prompt (it would
    be XSS) in `dialogs`, dismissed; a confirmation the page asks in `confirms`, accepted."""
    page.foreign_requests = []  # type: ignore[attr-defined]
    page.console_errors = []  # type: ignore[attr-defined]
    page.dialogs = []  # type: ignore[attr-defined]
    page.confirms = []  # type: ignore[attr-defined]
    page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:"))
            else page.foreign_requests.append(r.url))  # type: ignore[attr-defined]
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)  # type: ignore
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))  # type: ignore
    page.on("dialog", lambda d: (page.confirms.append(d.message), d.accept()) if d.type == "confirm"  # type: ignore
            else (page.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    return page


def phone_report_page(browser: Browser, base: str, lat: float, lon: float, accuracy: float,
                      username: str = "co_manager") -> Page:
    """A co-manager's (or `username`'s) 上报 page on a 360 px phone whose GPS reads (lat, lon), once it has
    taken the position (tap 1: the 上报 button). Close it with `page.context.close()`."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN", has_touch=True,
                                  geolocation={"latitude": lat, "longitude": lon, "accuracy": accuracy},
                                  permissions=["geolocation"])
    page = watch(context.new_page(), base)
    browser_login(page, base, username)
    page.click("[data-report]")
    page.wait_for_selector("[data-gps].located")
    return page


def click_map_at(page: Page, lat: float, lon: float) -> None:
    x, y = page.evaluate("""([lat, lon]) => {
        const data = JSON.parse(document.getElementById('page-data').textContent);
        const map = window[data.map.map];
        map.setView([lat, lon], 15, {animate: false});
        const p = map.latLngToContainerPoint([lat, lon]);
        const box = map.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y];
    }""", [lat, lon])
    page.wait_for_timeout(300)
    page.mouse.click(x, y)


def small_jpeg(taken: str | None = None) -> bytes:
    """A photo small enough to go as it is; `taken` is its EXIF DateTimeOriginal ("2026:11:20 08:30:00")."""
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (90, 140, 60)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_dispatcher_creates_a_case_by_clicking_the_map(page, live_server, youbu_point) -> None:
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.click("[data-open-intake]")
    form = page.locator("#intake-form")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-error-for=point]:not([hidden])")
    assert "在地图上点选位置" in form.locator("[data-error-for=point]").inner_text()
    assert "请选择类别" in form.locator("[data-error-for=category]").inner_text()

    click_map_at(page, *youbu_point)
    assert form.locator("input[name=lon]").input_value().startswith("119.")
    page.wait_for_selector(".intake-pin")
    form.locator("input[name=category]").fill("E0101 暴露垃圾")
    expect(form.locator("[data-error-for=category]")).to_be_hidden()  # answered: its message goes
    expect(form.locator("[data-error-for=description]")).to_be_visible()  # not yet
    form.locator("textarea[name=description]").fill(HOSTILE)
    expect(form.locator("[data-error-for=description]")).to_be_hidden()
    form.locator("input[name=address]").fill("游埠老街 12 号")
    form.locator("select[name=source]").select_option("visit")
    screenshot(page, "dispatch-intake-form")
    form.locator("button[type=submit]").dblclick()

    row = page.locator("#queue tr[data-case]", has_text="井盖松动")
    row.wait_for()
    assert row.count() == 1 and HOSTILE in row.inner_text()
    page.wait_for_selector("#drawer:not([hidden]) [data-history] li")
    assert page.locator("#drawer [data-field=description]").inner_text() == HOSTILE
    assert page.locator("#drawer [data-field=source]").inner_text() == "群众来访"
    assert page.locator("#drawer [data-field=suggestion_name]").inner_text() not in ("", "—")
    case_id = page.locator("#drawer [data-field=title]").inner_text().split()[0].lstrip("#")
    # .last: a redrawn pin's old tooltip fades out for 200 ms before it leaves the page
    tip = page.locator(".leaflet-tooltip").filter(has_text=re.compile(rf"^#{case_id} ")).last
    tip.wait_for()  # the new case's pin (under its tooltip's middle) lies between the intake panel and the drawer
    box, drawer = tip.bounding_box(), page.locator("#drawer").bounding_box()
    pin = box["x"] + box["width"] / 2
    if page.locator("#intake").is_visible():
        panel = page.locator("#intake").bounding_box()
        assert pin > panel["x"] + panel["width"]
    assert pin < drawer["x"]
    screenshot(page, "dispatch-intake-created")
    with page.expect_response(lambda r: "/feed" in r.url and "after=" in r.url):
        pass  # the board's next poll brings the new case back: its pin is redrawn, its name stays open
    page.wait_for_timeout(300)
    assert tip.is_visible()
    assert page.locator("img[src=x]").count() == 0
    unexpected = [e for e in page.console_errors if "status of 422" not in e]  # the empty form's answer
    assert page.dialogs == [] and page.foreign_requests == [] and unexpected == []


def test_a_report_kept_over_a_reload_is_sent_and_shown_on_the_map(page, live_server, database_url,
                                                                   youbu_point) -> None:
    """The form typed, the page reloaded (筛选 reloads it), the kept report sent among other cases: the new case
    opens with its pin named on the map. Its pin was redrawn while the cluster still moved, and the page threw."""
    from grids.incidents import open_case
    from grids.models import Category

    lat, lon = youbu_point
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():  # a street of earlier reports, removed with the new case
        category = session.scalar(select(Category).where(Category.code == "E0101"))
        for k in range(1, 9):
            open_case(session, "330781", category, lon + k * 0.0006, lat - k * 0.0004, source="test",
                      description=f"测试：旧案 {k}")
    engine.dispose()
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.keyboard.press("n")
    form = page.locator("#intake-form")
    form.locator("input[name=lon]").fill(f"{lon + 0.0021:.6f}")
    form.locator("input[name=lat]").fill(f"{lat - 0.0009:.6f}")
    form.locator("input[name=category]").fill("E0506")
    page.wait_for_timeout(1500)
    form.locator("textarea[name=description]").fill("测试：重载后提交")
    form.locator("select[name=source]").select_option("visit")
    page.reload()
    page.wait_for_timeout(2500)
    expect(form.locator("textarea[name=description]")).to_have_value("测试：重载后提交")
    expect(form.locator("select[name=source]")).to_have_value("visit")  # not back on the first channel
    form.locator("button[type=submit]").click()
    page.locator("#queue tr[data-case]", has_text="测试：重载后提交").wait_for()
    page.wait_for_selector("#drawer:not([hidden]) [data-history] li")
    case_id = page.locator("#drawer [data-field=title]").inner_text().split()[0].lstrip("#")
    page.locator(".leaflet-tooltip").filter(has_text=re.compile(rf"^#{case_id} ")).last.wait_for()
    expect(page.locator("#drawer [data-field=source]")).to_have_text("群众来访")
    page.wait_for_timeout(500)  # the cluster's animation ends
    assert page.console_errors == [] and page.foreign_requests == []


def test_keyboard_opens_and_closes_the_drawer_and_lists_the_shortcuts(page, live_server) -> None:
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.wait_for_selector(".case-pin, .case-cluster")
    drawer = page.locator("#drawer")
    page.keyboard.press("j")
    page.keyboard.press("j")
    selected = page.locator("#queue tr.selected").get_attribute("data-case")
    page.keyboard.press("Enter")
    drawer.wait_for(state="visible")
    page.wait_for_selector("#drawer [data-history] li")
    assert drawer.locator("[data-field=title]").inner_text().startswith(f"#{selected} ")
    page.keyboard.press("Escape")
    drawer.wait_for(state="hidden")
    page.keyboard.press("?")
    page.locator("#shortcuts").wait_for(state="visible")
    screenshot(page, "dispatch-shortcuts")
    page.keyboard.press("Escape")
    page.locator("#shortcuts").wait_for(state="hidden")
    page.click("[data-open-shortcuts]")  # opened by the mouse, it closes by the mouse too
    page.locator("#shortcuts [data-close-shortcuts]").click()
    page.locator("#shortcuts").wait_for(state="hidden")
    assert page.foreign_requests == [] and page.console_errors == []


def test_co_manager_reports_in_three_taps_on_a_phone(browser: Browser, live_server, youbu_point) -> None:
    lat, lon = youbu_point
    page = phone_report_page(browser, live_server, lat, lon, accuracy=12)  # tap 1
    assert "精度约 12 米" in page.locator("[data-gps]").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "township-report-phone")
    page.locator("[data-category]").first.click()  # tap 2
    page.locator("[data-photo-submit]").set_input_files(  # tap 3: taking the photo sends the report
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg()}])
    page.wait_for_url("**/township?reported=*")
    case_id = page.url.rsplit("=", 1)[1]
    assert page.locator(f"table#reported tr[data-case='{case_id}']").count() == 1  # 我上报的, followed till closed
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "township-reported-phone")
    page.goto(f"{live_server}/township/cases/{case_id}")
    thumb = page.locator(".thumbs img").first
    loaded_width = ("img => img.complete ? img.naturalWidth : new Promise(done => {"
                    " img.onload = () => done(img.naturalWidth); img.onerror = () => done(0); })")
    assert thumb.evaluate(loaded_width) > 0  # waits for a slow machine to finish loading the thumbnail
    screenshot(page, "township-case-photo-phone")
    assert page.foreign_requests == [] and page.console_errors == []
    page.context.close()


@pytest.mark.parametrize("username", ["co_manager", "inspector"])  # a township's map, the whole city's map
def test_the_gps_fix_zooms_the_map_to_the_street(browser: Browser, live_server, youbu_point, username) -> None:
    lat, lon = youbu_point
    page = phone_report_page(browser, live_server, lat, lon, accuracy=12, username=username)
    page.wait_for_timeout(1000)  # the first view's fit must not undo the fix's view
    zoom, centre = page.evaluate("""() => {
        const map = window[JSON.parse(document.getElementById('page-data').textContent).map.map];
        return [map.getZoom(), map.getCenter()];
    }""")
    assert zoom >= 16 and abs(centre["lat"] - lat) < 0.002 and abs(centre["lng"] - lon) < 0.002
    page.context.close()


def test_a_point_outside_the_city_is_flagged_when_placed_not_only_on_submit(page, live_server, youbu_point) -> None:
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.click("[data-open-intake]")
    form = page.locator("#intake-form")
    click_map_at(page, youbu_point[0], 119.95)  # east of 兰溪市's outline
    note = form.locator("[data-error-for=point]")
    expect(note).to_be_visible()
    words = note.inner_text()
    assert words.startswith("该点在兰溪市边界之外（全市的外接范围为经度 119.224–119.895") and "boundary" not in words
    screenshot(page, "dispatch-intake-outside")
    click_map_at(page, *youbu_point)
    expect(note).to_be_hidden()
    assert page.foreign_requests == []


def test_the_category_error_goes_once_a_category_is_chosen(browser: Browser, live_server, youbu_point) -> None:
    page = phone_report_page(browser, live_server, *youbu_point, accuracy=8)
    form = page.locator("#report-form")
    form.get_by_role("button", name="不拍照，直接上报").click()
    error = form.locator("[data-error-for=category]")
    expect(error).to_be_visible()
    form.locator("[data-category]").first.click()
    expect(error).to_be_hidden()
    page.context.close()


def test_a_class_without_a_big_button_is_reported_from_other_categories(browser: Browser, live_server,
                                                                        youbu_point) -> None:
    page = phone_report_page(browser, live_server, *youbu_point, accuracy=8)
    buttons = {b.get_attribute("data-category") for b in page.locator("[data-category]").all()}
    more = page.locator("[data-more-categories]")
    codes = [o.get_attribute("value") for o in more.locator("option").all() if o.get_attribute("value")]
    assert codes and not buttons & set(codes)
    page.locator("[data-category]").first.click()
    more.select_option(codes[0])  # replaces the button's choice
    name = more.locator(f"option[value='{codes[0]}']").inner_text().split(" ", 1)[1]
    assert page.locator("[data-category][aria-pressed=true]").count() == 0
    page.locator("[data-photo-submit]").set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg()}])
    page.wait_for_url("**/township?reported=*")
    case_id = page.url.rsplit("=", 1)[1]
    page.goto(f"{live_server}/township/cases/{case_id}")
    assert name in page.locator("h1").inner_text()
    assert page.console_errors == [] and page.foreign_requests == []
    page.context.close()


#: When camera_jpeg's photo was taken, as its EXIF says (DateTimeOriginal, OffsetTimeOriginal).
CAMERA_TAKEN = ("2026:11:20 08:30:00", "+08:00")


def camera_jpeg() -> bytes:
    """A 12-megapixel phone photo of 10+ MB (noise does not compress): over the server's 8 MB a photo."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8769).update({0x9003: CAMERA_TAKEN[0], 0x9011: CAMERA_TAKEN[1]})
    out = io.BytesIO()
    Image.frombytes("RGB", (4000, 3000), os.urandom(4000 * 3000 * 3)).save(out, "JPEG", quality=90,
                                                                            exif=exif.tobytes())
    assert len(out.getvalue()) > 8 * 1024 * 1024
    return out.getvalue()


def test_a_photo_taken_first_is_kept_and_a_camera_sized_one_goes_through(browser: Browser, live_server,
                                                                          youbu_point, database_url) -> None:
    """Photo before category: the refusal names what is missing, the photo stays chosen and the send button
    sends it; the 10 MB picture is scaled down in the browser, not refused. The page says where the point
    lies first; a second report of the same problem there is offered 是同一问题 instead."""
    lat, lon = youbu_point
    page = phone_report_page(browser, live_server, lat, lon, accuracy=8)
    expect(page.locator("[data-where]")).to_contain_text(re.compile(r"^游埠镇.* · 网格 330781102\d+$"))
    page.locator("[data-photo-submit]").set_input_files(
        files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": camera_jpeg()}])
    expect(page.locator("[data-error-for=category]")).to_contain_text("请选择类别")
    expect(page.locator("[data-photo-chosen]")).to_contain_text("已选照片：IMG_0001.jpg")
    page.locator("[data-category]").first.click()
    send = page.locator("[data-no-photo]")
    expect(send).to_have_text("上报（含照片）")
    screenshot(page, "township-report-photo-kept")
    send.click()
    page.wait_for_url("**/township?reported=*")
    case_id = int(page.url.rsplit("=", 1)[1])
    engine = create_engine(database_url)
    with Session(engine) as session:  # the copy scaled down in the browser still says when it was taken
        [taken] = session.scalars(select(CasePhoto.taken_at).where(CasePhoto.incident_id == case_id)).all()
    engine.dispose()
    assert taken == datetime(2026, 11, 20, 0, 30, tzinfo=UTC)

    page.click("[data-report]")
    page.wait_for_selector("[data-gps].located")
    page.locator("[data-category]").first.click()
    page.locator("[data-photo-submit]").set_input_files(  # taken before seeing it is the same problem
        files=[{"name": "IMG_0002.jpg", "mimeType": "image/jpeg", "buffer": camera_jpeg()}])
    page.locator(f"[data-nearby-items] li:has(a:text('#{case_id}')) button.same-problem").click()
    page.wait_for_url(f"**/township?same={case_id}")
    assert page.confirms == ["不再上报，已选的照片也不会上传。确定？"]  # the photo was dropped without a word
    expect(page.locator("[data-same]")).to_contain_text(f"同一问题已是案件 #{case_id}（已上报）")
    page.locator("[data-same] a").click()
    page.wait_for_url(f"**/township/cases/{case_id}")
    taken_shown = page.locator(".thumb-before .thumb-at").nth(1)  # after when it was sent
    expect(taken_shown).to_have_text(re.compile(r"^拍摄 (2026-)?11-20 08:30$"))
    expect(page.locator(".thumb-before .thumb-stale")).to_have_text("拍于一天多前")
    screenshot(page, "township-case-photo-taken")
    unexpected = [e for e in page.console_errors if "status of 422" not in e]  # the refusal without a category
    assert page.foreign_requests == [] and unexpected == []
    page.context.close()


def test_a_refused_photo_is_let_go_a_dead_network_loses_nothing_and_a_slow_upload_shows_its_progress(
        browser: Browser, live_server, youbu_point) -> None:
    """The refused file stayed "chosen", so the next tap sent it again; no network said only 提交失败; a photo
    going up a slow link for 40 s showed a faded button and nothing else."""
    lat, lon = youbu_point
    page = phone_report_page(browser, live_server, lat, lon, accuracy=10)
    page.locator("[data-category]").first.click()
    page.locator("details.more summary").click()
    page.locator("textarea[name=description]").fill("测试：网络断了也不丢")
    page.locator("[data-photo-submit]").set_input_files(
        files=[{"name": "fake.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo at all"}])
    expect(page.locator("[data-error-for=photos]")).to_contain_text("fake.jpg 不是图片")
    expect(page.locator("[data-photo-chosen]")).to_be_hidden()
    expect(page.locator("[data-no-photo]")).to_have_text("不拍照，直接上报")
    page.route("**/township/report", lambda route: route.abort("internetdisconnected"))
    page.locator("[data-no-photo]").click()
    expect(page.locator("[data-form-error]")).to_contain_text("网络不通，未能提交：填写的内容和照片都还在")
    expect(page.locator("textarea[name=description]")).to_have_value("测试：网络断了也不丢")
    page.unroute("**/township/report")
    page.route("**/township/report", lambda route: None)  # a link so slow that nothing comes back
    page.locator("[data-photo-submit]").set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg()}])
    expect(page.locator("[data-progress]")).to_be_visible()
    expect(page.locator("[data-no-photo]")).to_have_text(re.compile(r"^正在上报… \d+%$"))
    screenshot(page, "township-report-uploading")
    unexpected = [e for e in page.console_errors if "status of 422" not in e and "INTERNET_DISCONNECTED" not in e]
    assert page.foreign_requests == [] and unexpected == []
    page.context.close()


def test_a_point_in_the_next_township_is_named_before_the_report_is_sent(browser: Browser, live_server,
                                                                         database_url) -> None:
    engine = create_engine(database_url)
    with Session(engine) as session:
        lon, lat = session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                          func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                                   .where(Division.code == "330781104")).one()
    page = phone_report_page(browser, live_server, lat, lon, accuracy=10, username="officer")
    where = page.locator("[data-where].warning")
    expect(where).to_contain_text(re.compile(r"^此处属于诸葛镇.*，不在本辖区：仍可上报"))
    screenshot(page, "township-report-next-township")
    with Session(engine) as session:  # back home: 重新定位 asks for a fresh fix, not the one taken on arrival
        lon, lat = session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                          func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                                   .where(Division.code == YOUBU)).one()
    engine.dispose()
    page.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
    page.click("[data-relocate]")
    expect(page.locator("[data-where]")).to_contain_text(re.compile(r"^游埠镇.* · 网格 330781102\d+$"))
    expect(page.locator("[data-where]")).not_to_have_class(re.compile("warning"))
    page.context.close()
