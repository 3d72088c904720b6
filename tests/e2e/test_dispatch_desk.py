"""The dispatcher's desk in a real Chromium, as a dispatcher's review found it: the open case follows what others do
to it, the keys do what the ? panel says, a dropped connection is named and cleared, one map click fills one form,
the reporter can be called back, and a half-typed report survives a reload."""
# ruff: noqa: F811  (the tests take the fixtures imported below as arguments of the same name)

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from gis.crs import from_wgs84
from grids.models import CasePhoto, Incident
from tests.e2e.conftest import browser_login, screenshot
from tests.e2e.test_dispatch_map import new_case  # noqa: F401
from tests.e2e.test_file_and_dispatch import unplaced_case, walk, youbu_case  # noqa: F401
from tests.e2e.test_intake import click_map_at, small_jpeg, watch, youbu_point  # noqa: F401

pytestmark = pytest.mark.e2e
FILE_ELSEWHERE = (("file", "supervisor", {}),)  # 立案 by another user, in another session
FEED = re.compile(r"/dispatch/feed\?")
CASE = re.compile(r"/dispatch/cases/\d+$")
#: How many drafts' photos the browser keeps (page.js's IndexedDB store), whatever tab put them there.
KEPT_PHOTOS = """() => new Promise(done => {
  const opening = indexedDB.open("gridlink-draft-photos", 1);
  opening.onupgradeneeded = () => opening.result.createObjectStore("photos");
  opening.onsuccess = () => {
    const count = opening.result.transaction("photos").objectStore("photos").count();
    count.onsuccess = () => { opening.result.close(); done(count.result); };
  };
})"""


def open_case_in_drawer(page: Page, base: str, case_id: int):
    """The dispatcher's board with case `case_id` open in the drawer, as a click on its row opens it."""
    watch(page, base)
    browser_login(page, base, "dispatcher")
    page.locator(f"#queue tr[data-case='{case_id}']").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=title]")).to_contain_text(f"#{case_id} ")
    return drawer


def test_the_open_case_follows_a_step_taken_elsewhere_and_keeps_the_note(page, live_server, youbu_case,
                                                                          database_url) -> None:
    drawer = open_case_in_drawer(page, live_server, youbu_case)
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已上报")
    drawer.locator("textarea.note").fill("已电话联系报告人")
    walk(database_url, youbu_case, FILE_ELSEWHERE)
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已立案", timeout=10_000)  # the next poll
    expect(drawer.locator(".drawer-error")).to_contain_text("演示 supervisor 刚更改了此案件（立案 → 已立案，")
    expect(drawer.locator("button.action-file")).to_have_count(0)  # no stale button left to press
    expect(drawer.locator("button.action-dispatch")).to_have_count(1)
    expect(drawer.locator("textarea.note")).to_have_value("已电话联系报告人")
    screenshot(page, "dispatch-desk-followed")
    assert page.console_errors == [] and page.foreign_requests == []


def quiet_feed(route: Route) -> None:
    """The board's poll answered "nothing new": the page learns of a change only from its own action."""
    after = int(parse_qs(urlsplit(route.request.url).query)["after"][0])
    route.fulfill(json={"cases": [], "gone": [], "lastEvent": after})


def test_an_action_on_a_case_changed_meanwhile_shows_who_changed_it(page, live_server, youbu_case,
                                                                     database_url) -> None:
    page.route(FEED, quiet_feed)
    drawer = open_case_in_drawer(page, live_server, youbu_case)
    drawer.locator("textarea.note").fill("群众来电催办")
    walk(database_url, youbu_case, FILE_ELSEWHERE)
    drawer.locator("button.action-file").click()  # quotes the version read before the other 立案: 409
    error = drawer.locator(".drawer-error")
    expect(error).to_contain_text("操作未执行：演示 supervisor 刚更改了此案件（立案 → 已立案，")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已立案")
    expect(page.locator(f"#queue tr[data-case='{youbu_case}'] .status")).to_have_text("已立案")
    expect(drawer.locator("textarea.note")).to_have_value("群众来电催办")
    drawer.locator("button.action-dispatch").click()  # the refreshed drawer's buttons work at once
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已派遣")
    expect(error).to_be_hidden()
    unexpected = [e for e in page.console_errors if "status of 409" not in e]
    assert unexpected == [] and page.foreign_requests == []


def test_the_d_key_dispatches_to_the_department_picked_in_the_drawer(page, live_server, youbu_case,
                                                                     database_url) -> None:
    drawer = open_case_in_drawer(page, live_server, youbu_case)
    page.keyboard.press("f")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已立案")
    drawer.locator("select.action-choice[aria-label='派遣']").select_option("bureau")
    drawer.locator("[data-field=title]").click()  # out of the list: keys are shortcuts again
    page.keyboard.press("d")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已派遣")
    expect(drawer.locator(".drawer-error")).to_be_hidden()
    engine = create_engine(database_url)
    with Session(engine) as session:
        assert session.get(Incident, youbu_case).department.code == "bureau"
    engine.dispose()
    assert page.console_errors == [] and page.dialogs == []


def test_a_case_a_department_returned_goes_to_the_squad_without_naming_a_department(page, live_server, youbu_case,
                                                                                      database_url) -> None:
    """The drawer asked for a department (请选择部门) and offered no way to the squad the case lies with."""
    walk(database_url, youbu_case, (("file", "dispatcher", {}),
                                    ("dispatch", "dispatcher", {"department": "sanitation"}),
                                    ("return", "department", {"reason": "不属于环卫职责"})))
    drawer = open_case_in_drawer(page, live_server, youbu_case)
    expect(drawer.locator("[data-returned]")).to_have_text(re.compile(r"退回原因\s*不属于环卫职责"))  # on a phone too
    choice = drawer.locator("select.action-choice[aria-label='派遣']")
    expect(choice).to_have_value("")  # given back: the centre chooses anew, nothing is picked for it
    page.keyboard.press("d")
    expect(drawer.locator(".drawer-error")).to_be_visible()
    choice.select_option("local")
    expect(choice.locator("option:checked")).to_have_text(re.compile(r"^不派部门：由.+中队承办$"))
    drawer.locator("button.action-dispatch").click()
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已派遣")
    engine = create_engine(database_url)
    with Session(engine) as session:
        case = session.get(Incident, youbu_case)
        assert (case.owner_type, case.department_id) == ("squad", None)
    engine.dispose()
    expect(drawer.locator("[data-returned]")).to_be_hidden()  # dispatched again: no longer a returned case
    screenshot(page, "dispatch-desk-local-dispatch")
    assert page.console_errors == [] and page.dialogs == []


def test_a_dropped_connection_is_named_and_cleared_when_the_server_answers(page, live_server, youbu_case,
                                                                          new_case) -> None:
    other = new_case("测试：连接中断时点开的案件")
    drawer = open_case_in_drawer(page, live_server, youbu_case)
    live = page.locator("[data-live]")
    page.route(FEED, lambda route: route.abort("connectionrefused"))
    page.route(CASE, lambda route: route.abort("connectionrefused"))
    expect(live).to_have_text("连接中断，正在重试…", timeout=10_000)
    page.locator(f"#queue tr[data-case='{other}']").click()
    expect(drawer.locator(".drawer-error")).to_have_text(f"连接中断，未能打开案件 #{other}，请稍后重试。")
    expect(drawer.locator("[data-field=title]")).to_contain_text(f"#{youbu_case} ")  # what the drawer still shows
    screenshot(page, "dispatch-desk-offline")
    page.unroute(FEED)
    page.unroute(CASE)
    expect(live).to_have_text("", timeout=10_000)  # the next poll answered: no case had to arrive
    page.locator(f"#queue tr[data-case='{other}']").click()
    expect(drawer.locator("[data-field=title]")).to_contain_text(f"#{other} ")
    expect(drawer.locator(".drawer-error")).to_be_hidden()


def test_one_map_click_fills_one_form(page, live_server, unplaced_case, youbu_point) -> None:
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.goto(f"{live_server}/dispatch?triage=1#case-{unplaced_case}")
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=title]")).to_contain_text(f"#{unplaced_case} ")
    page.click("[data-open-intake]")
    intake = page.locator("#intake-form")
    relocate = drawer.locator("[data-relocate] [name=lon]")
    click_map_at(page, *youbu_point)
    assert intake.locator("input[name=lon]").input_value().startswith("119.")
    assert relocate.input_value() == ""  # the new case's point, not also the open case's new place
    drawer.locator("button.action-relocate").click()
    expect(drawer.locator(".drawer-error")).to_contain_text("新建案件打开时，地图点选填入新建案件")
    page.click("[data-close-intake]")
    click_map_at(page, *youbu_point)
    assert relocate.input_value().startswith("119.")
    assert page.console_errors == [] and page.foreign_requests == []


def test_a_point_typed_in_gcj02_gets_its_pin_and_a_click_on_a_case_places_the_point_there(
        page, live_server, youbu_case, youbu_point) -> None:
    """A repeat report sits on its case: the click spread the case's cluster and placed nothing. A point read
    out in GCJ-02 (an Amap app) got no pin, so the dispatcher could not check it on the map."""
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.goto(f"{live_server}/dispatch#case-{youbu_case}")
    page.locator("#drawer [data-close]").click()
    page.click("[data-open-intake]")
    form = page.locator("#intake-form")
    at = page.evaluate(f"""() => {{
        const m = window.GridlinkDispatch.caseMap, ll = m.markers[{youbu_case}].getLatLng();
        m.map.setView(ll, 16, {{animate: false}});
        const p = m.map.latLngToContainerPoint(ll), r = m.map.getContainer().getBoundingClientRect();
        return [r.x + p.x, r.y + p.y, ll.lng]; }}""")
    page.wait_for_timeout(300)
    hit = page.evaluate(f"() => document.elementFromPoint({at[0]}, {at[1]}).className")
    page.mouse.click(at[0], at[1])  # on the case's own pin (or its cluster)
    expect(page.locator(".intake-pin")).to_have_count(1)
    assert abs(float(form.locator("input[name=lon]").input_value()) - at[2]) < 1e-5, hit
    expect(page.locator("#drawer")).to_be_hidden()  # no case opened under the click
    page.click("[data-close-intake]")
    page.click("[data-open-intake]")
    gcj = from_wgs84(youbu_point[1], youbu_point[0], "gcj02")
    form.locator("select[name=crs]").select_option("gcj02")
    form.locator("input[name=lon]").fill(f"{gcj[0]:.6f}")
    form.locator("input[name=lat]").fill(f"{gcj[1]:.6f}")
    form.locator("input[name=lat]").dispatch_event("change")
    expect(page.locator(".intake-pin")).to_have_count(1)
    page.wait_for_timeout(600)  # the map pans the pin out from under the form
    placed = page.evaluate("() => { var p = document.querySelector('.intake-pin').getBoundingClientRect();"
                           " return [p.x + p.width / 2, p.y + p.height / 2]; }")
    expected = page.evaluate(f"() => {{ var m = window.GridlinkDispatch.caseMap.map;"
                             f" var p = m.latLngToContainerPoint([{youbu_point[0]}, {youbu_point[1]}]);"
                             f" var r = m.getContainer().getBoundingClientRect(); return [r.x + p.x, r.y + p.y]; }}")
    assert abs(placed[0] - expected[0]) < 3 and abs(placed[1] - expected[1]) < 3  # on the WGS84 place, not 500 m off
    assert placed[0] > page.locator("#intake").bounding_box()["x"] + page.locator("#intake").bounding_box()["width"]
    screenshot(page, "dispatch-desk-gcj02-pin")
    assert page.console_errors == [] and page.foreign_requests == []


def test_the_drawer_shows_the_source_and_the_reporters_contact(page, live_server, youbu_point) -> None:
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.click("[data-open-intake]")
    form = page.locator("#intake-form")
    click_map_at(page, *youbu_point)
    form.locator("input[name=category]").fill("E0101 暴露垃圾")
    form.locator("textarea[name=description]").fill("测试：来电反映垃圾堆放")
    form.locator("input[name=reporter_contact]").fill("王先生 13800138000")
    form.locator("input[name=external_id]").fill("12345-20261129-0042")
    form.locator("button[type=submit]").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=description]")).to_have_text("测试：来电反映垃圾堆放")
    expect(drawer.locator("[data-field=source]")).to_have_text("热线来电（12345/12319）")  # the form's first channel
    expect(drawer.locator("[data-field=external_id]")).to_have_text("12345-20261129-0042")
    expect(drawer.locator("[data-field=reporter_contact]")).to_have_text("王先生 13800138000")
    screenshot(page, "dispatch-desk-contact")
    case_id = drawer.locator("[data-field=title]").inner_text().split()[0]
    page.click("[data-open-intake]")  # the same call taken again: the first case is named at the number
    click_map_at(page, *youbu_point)
    form.locator("input[name=category]").fill("E0101 暴露垃圾")
    form.locator("textarea[name=description]").fill("测试：同一来电")
    form.locator("input[name=external_id]").fill("12345-20261129-0042")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=external_id]")).to_have_text(
        f"工单号已登记为案件 {case_id}：请打开该案件，不要重复录入。")
    unexpected = [e for e in page.console_errors if "status of 409" not in e]  # the refused second entry
    assert unexpected == [] and page.foreign_requests == []


def test_a_half_typed_report_survives_the_filter_and_goes_once_created(page, live_server, youbu_point,
                                                                       database_url) -> None:
    """Its fields and its chosen photo come back after 筛选's reload, the case goes with the photo, and
    logging out leaves neither the typed contact nor a photo in the browser."""
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.click("[data-open-intake]")
    form = page.locator("#intake-form")
    click_map_at(page, *youbu_point)
    lon = form.locator("input[name=lon]").input_value()
    form.locator("input[name=category]").fill("E0101 暴露垃圾")
    form.locator("textarea[name=description]").fill("测试：筛选前写了一半")
    form.locator("input[name=reporter_contact]").fill("13900000000")
    form.locator("input[name=photos]").set_input_files(
        files=[{"name": "garbage.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg(taken="2025:06:01 07:45:00")}])
    page.locator("form.filters button[type=submit]").click()  # 筛选 reloads the page
    page.wait_for_load_state("networkidle")
    expect(page.locator("#intake")).to_be_visible()
    expect(form.locator("input[name=lon]")).to_have_value(lon)
    expect(form.locator("textarea[name=description]")).to_have_value("测试：筛选前写了一半")
    expect(form.locator("input[name=reporter_contact]")).to_have_value("13900000000")
    expect(page.locator(".intake-pin")).to_have_count(1)
    chosen = form.locator("input[name=photos]")
    page.wait_for_function("() => document.querySelector('#intake-form').elements.photos.files.length === 1")
    assert chosen.evaluate("input => input.files[0].name") == "garbage.jpg"
    screenshot(page, "dispatch-desk-draft-kept")
    with page.expect_response(lambda r: r.url.endswith("/dispatch/cases") and r.status == 201) as created:
        form.locator("button[type=submit]").click()
    engine = create_engine(database_url)
    with Session(engine) as session:
        photos = session.scalars(select(CasePhoto.kind).where(CasePhoto.incident_id == created.value.json()["id"]))
        assert list(photos) == ["before"]
    engine.dispose()
    expect(page.locator("#intake")).to_be_hidden()  # put away: the drawer shows the new case beside the map
    expect(page.locator("#drawer [data-field=title]")).to_contain_text(f"#{created.value.json()['id']} ")
    photo = page.locator("#drawer [data-photos] .thumb.stale")  # a photo a year old, sent as the problem
    expect(photo.locator(".thumb-at").nth(1)).to_have_text("拍摄 2025-06-01 07:45")
    expect(photo.locator(".thumb-stale")).to_have_text("拍于一天多前")
    with page.expect_response(lambda r: "/dispatch/feed" in r.url):
        pass  # the poll brings the new case back: it is the dispatcher's own, not announced as 新到
    page.wait_for_timeout(200)
    assert "新到" not in page.locator("[data-live]").inner_text()
    page.click("[data-open-intake]")  # the next call: an empty form that says which case the last one made
    ok = form.locator("[data-form-ok]")
    expect(ok).to_contain_text(f"已创建案件 #{created.value.json()['id']}")
    expect(page.locator(".intake-pin")).to_have_count(0)
    form.locator("button[type=submit]").click()  # the emptied form, sent again: its errors, not the old line
    expect(form.locator("[data-error-for=category]")).to_be_visible()
    expect(ok).to_have_text("")
    page.reload()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#intake")).to_be_hidden()
    expect(form.locator("textarea[name=description]")).to_have_value("")
    page.click("[data-open-intake]")
    form.locator("textarea[name=description]").fill("写了又不要了")
    page.locator("[data-close-intake]").click()  # put away: a reload no longer opens it
    page.reload()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#intake")).to_be_hidden()
    page.click("[data-open-intake]")
    form.locator("input[name=reporter_contact]").fill("13900000001")
    form.locator("input[name=photos]").set_input_files(
        files=[{"name": "reporter.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg()}])
    page.locator("form[data-logout] button").click()  # whoever logs in next in this tab finds no contact
    browser_login(page, live_server, "dispatcher")
    assert page.evaluate("window.sessionStorage.length") == 0
    expect(page.locator("#intake")).to_be_hidden()
    assert page.evaluate(KEPT_PHOTOS) == 0
    assert form.locator("input[name=photos]").evaluate("input => input.files.length") == 0
    unexpected = [e for e in page.console_errors if "status of 422" not in e]
    assert unexpected == [] and page.foreign_requests == []


def test_a_long_description_takes_two_lines_in_the_queue_and_on_the_map(page, live_server,
                                                                         new_case) -> None:
    text = "测试：长描述" + "路边垃圾堆放多日无人清理，" * 46
    assert len(text) > 600
    case_id = new_case(text)
    drawer = open_case_in_drawer(page, live_server, case_id)
    row = page.locator(f"#queue tr[data-case='{case_id}']").bounding_box()
    assert row["height"] < 100
    tip = page.locator(".leaflet-tooltip").filter(has_text=f"#{case_id} ")
    tip.wait_for()
    box, map_box = tip.bounding_box(), page.locator(".map-area .folium-map").bounding_box()
    assert box["height"] < 160 and box["y"] >= map_box["y"]
    expect(drawer.locator("[data-field=description]")).to_have_text(text)  # the whole of it
    screenshot(page, "dispatch-desk-long-description")


def test_on_a_phone_the_queue_scrolls_into_reach_and_a_case_opens_full_screen(browser, live_server) -> None:
    """A supervisor on a phone: the queue below the map had no height left under its filters and the page did
    not scroll, so no row could be tapped; the drawer opened up the page, behind the map's controls."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    browser_login(page, live_server, "supervisor")
    row = page.locator("#queue tbody tr[data-case]").first
    row.scroll_into_view_if_needed()
    box = row.bounding_box()
    assert box["height"] > 40 and 0 <= box["y"] < 844, box
    case_id = row.get_attribute("data-case")
    row.tap()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=title]")).to_contain_text(f"#{case_id} ")
    assert drawer.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    close = drawer.locator("[data-close]").first
    assert page.evaluate("el => document.elementFromPoint(...(r => [r.x + r.width / 2, r.y + r.height / 2])"
                         "(el.getBoundingClientRect())) === el", close.element_handle())  # on top: tappable
    screenshot(page, "dispatch-phone-drawer")
    close.tap()
    expect(drawer).to_be_hidden()
    page.locator("[data-open-intake]").tap()  # 新建案件 (below the map): a sheet over the lower half
    page.wait_for_function("() => document.querySelector('.map-area').getBoundingClientRect().top >= 0")  # back in view
    sheet, area = page.locator("#intake").bounding_box(), page.locator(".map-area").bounding_box()
    assert sheet["y"] >= 844 / 2 - 1 and area["y"] + 150 < sheet["y"]
    page.mouse.click(area["x"] + 200, area["y"] + 150)  # the map above it still places the point
    expect(page.locator("#intake-form input[name=lon]")).to_have_value(re.compile(r"^1\d\d\.\d{6}$"))
    context.close()
