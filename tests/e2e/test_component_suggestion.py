"""附近部件 in a real Chromium: choosing a component class beside a registered component offers its code, 就是它
fills the form's component_code, and the case then names that component and goes to its maintainer. Another
class or point drops a filled code at once: a submit before the new answer never sends the old component."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, Page
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from grids.demo import DAMAGED_COMPONENT
from grids.models import Component
from tests.e2e.conftest import browser_login, screenshot
from tests.e2e.test_intake import phone_report_page, watch, youbu_point  # noqa: F401 (youbu_point: removes new cases)

pytestmark = pytest.mark.e2e
MAINTAINER = "utilities"  # the demo register's maintainer of 游埠's sewer covers (C0102)
COVER = "C0102"


@pytest.fixture()
def beside_cover(database_url: str, youbu_point) -> tuple[float, float]:  # noqa: F811
    """(lat, lon) about two metres north of the damaged sewer cover; the test's new cases are removed after."""
    engine = create_engine(database_url)
    with Session(engine) as session:
        lon, lat = session.execute(select(func.ST_X(Component.location), func.ST_Y(Component.location))
                                   .where(Component.code == DAMAGED_COMPONENT)).one()
    engine.dispose()
    return lat + 0.00002, lon


def place(form: Locator, lat: float, lon: float) -> None:
    form.locator("input[name=lon]").fill(f"{lon:.6f}")
    form.locator("input[name=lat]").fill(f"{lat:.6f}")


def hold_locate_answers(page: Page) -> None:
    """From now on no /api/v1/locate answer arrives (a slow network): the test sees what the form holds the
    moment the user submits, never what a quick answer would have made of it."""
    page.route("**/api/v1/locate?*", lambda route: None)


def case_json(page: Page, base: str, case_id: str) -> dict:
    answer = page.request.get(f"{base}/api/v1/incidents/{case_id}")
    assert answer.ok, answer.text()
    return answer.json()


def assert_routed_to_the_cover(body: dict) -> None:
    assert body["component"] == DAMAGED_COMPONENT
    assert body["department"] == MAINTAINER and body["owner_type"] == "department"


def test_phone_report_takes_the_suggested_component(browser: Browser, live_server, beside_cover) -> None:
    lat, lon = beside_cover
    page = phone_report_page(browser, live_server, lat, lon, accuracy=5)
    form = page.locator("#report-form")
    line = form.locator("[data-component]")
    code = form.locator("input[name=component_code]")

    form.locator(f"[data-category={COVER}]").click()
    line.wait_for(state="visible")
    assert "附近部件：" in line.inner_text() and DAMAGED_COMPONENT in line.inner_text()
    assert "约 2 米" in line.inner_text()
    line.get_by_role("button", name="就是它").click()
    assert code.input_value() == DAMAGED_COMPONENT
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "component-suggestion-phone")

    form.locator("[data-category=E0101]").click()  # an event class: no component, the filled code goes
    line.wait_for(state="hidden")
    assert code.input_value() == ""
    form.locator(f"[data-category={COVER}]").click()
    line.get_by_role("button", name="就是它").click()
    line.get_by_role("button", name="不是它，清除").click()
    assert code.input_value() == ""
    line.get_by_role("button", name="就是它").click()

    form.get_by_role("button", name="不拍照，直接上报").click()
    page.wait_for_url("**/township?reported=*")
    assert_routed_to_the_cover(case_json(page, live_server, page.url.rsplit("=", 1)[1]))
    assert page.foreign_requests == [] and page.console_errors == []
    page.context.close()


def dispatcher_intake(page: Page, base: str) -> tuple[Locator, Locator, str]:
    """The dispatcher's new-case form, opened: (form, its 附近部件 line, the sewer-cover class as listed)."""
    watch(page, base)
    browser_login(page, base, "dispatcher")
    page.click("[data-open-intake]")
    form = page.locator("#intake-form")
    cover = form.locator(f"#category-list option[value^='{COVER} ']").get_attribute("value")
    return form, form.locator("[data-component]"), cover


def test_dispatcher_fills_the_code_field_from_the_suggestion(page, live_server, beside_cover) -> None:
    form, line, cover = dispatcher_intake(page, live_server)
    code = form.locator("input[name=component_code]")

    place(form, *beside_cover)  # typed: the demo's case on the cover would take a click on the map
    form.locator("input[name=category]").fill(cover)
    line.wait_for(state="visible")
    line.get_by_role("button", name="就是它").click()
    assert code.input_value() == DAMAGED_COMPONENT
    screenshot(page, "component-suggestion-dispatch")

    place(form, beside_cover[0] + 0.01, beside_cover[1])  # a kilometre away: no cover there
    line.wait_for(state="hidden")
    assert code.input_value() == ""
    place(form, *beside_cover)
    line.get_by_role("button", name="就是它").click()
    form.locator("textarea[name=description]").fill("井盖破损")
    form.locator("button[type=submit]").click()

    page.wait_for_selector("#drawer:not([hidden]) [data-history] li")
    case_id = page.locator("#drawer [data-field=title]").inner_text().split(" ")[0].lstrip("#")
    assert_routed_to_the_cover(case_json(page, live_server, case_id))
    assert page.foreign_requests == [] and page.console_errors == []


def test_phone_drops_the_code_the_moment_the_category_changes(browser: Browser, live_server, beside_cover) -> None:
    lat, lon = beside_cover
    page = phone_report_page(browser, live_server, lat, lon, accuracy=5)
    form = page.locator("#report-form")
    line = form.locator("[data-component]")
    form.locator(f"[data-category={COVER}]").click()
    line.get_by_role("button", name="就是它").click()
    assert form.locator("input[name=component_code]").input_value() == DAMAGED_COMPONENT
    hold_locate_answers(page)

    form.locator("[data-category=E0101]").click()  # 暴露垃圾: not the cover's maintainer's business
    screenshot(page, "component-suggestion-category-changed")
    offered = line.is_visible(), form.locator("input[name=component_code]").input_value()
    form.get_by_role("button", name="不拍照，直接上报").click()  # submitted before any answer
    page.wait_for_url("**/township?reported=*")

    body = case_json(page, live_server, page.url.rsplit("=", 1)[1])
    assert body["component"] is None and body["department"] != MAINTAINER
    assert offered == (False, "") and page.console_errors == []
    page.context.close()


def test_dispatcher_drops_the_code_the_moment_the_point_moves(page, live_server, beside_cover) -> None:
    form, line, cover = dispatcher_intake(page, live_server)
    place(form, *beside_cover)
    form.locator("input[name=category]").fill(cover)
    line.get_by_role("button", name="就是它").click()
    hold_locate_answers(page)

    place(form, beside_cover[0] + 0.01, beside_cover[1])  # a kilometre away, submitted before any answer
    form.locator("textarea[name=description]").fill("井盖破损")
    form.locator("button[type=submit]").click()

    page.wait_for_selector("#drawer:not([hidden]) [data-history] li")
    case_id = page.locator("#drawer [data-field=title]").inner_text().split(" ")[0].lstrip("#")
    assert case_json(page, live_server, case_id)["component"] is None  # the rules still route a cover case
    assert line.is_hidden() and page.console_errors == []


def test_a_point_placed_with_a_category_chosen_is_located_once(page, live_server, beside_cover) -> None:
    """The component line and the point check ask /api/v1/locate the same question: one request serves both."""
    form, line, cover = dispatcher_intake(page, live_server)
    form.locator("input[name=category]").fill(cover)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/locate?" in r.url else None)
    place(form, *beside_cover)
    line.wait_for(state="visible")
    page.wait_for_timeout(1500)  # both hints have asked by now (they wait NEARBY_WAIT_MS after the last edit)
    assert len(asked) == 1 and f"category={COVER}" in asked[0]
    place(form, beside_cover[0] + 0.01, beside_cover[1])
    line.wait_for(state="hidden")
    page.wait_for_timeout(1500)
    assert len(asked) == 2 and form.locator("[data-error-for=point]").is_hidden()
    assert page.console_errors == []
