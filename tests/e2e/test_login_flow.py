"""A person logs in with the demo logins in a real Chromium and lands on their page, offline."""

import pytest

from tests.e2e.conftest import browser_login, screenshot

pytestmark = pytest.mark.e2e


def test_dispatcher_logs_in_and_sees_the_demo_cases(page, live_server) -> None:
    browser_login(page, live_server, "dispatcher")
    assert page.url.endswith("/dispatch")
    assert page.locator("h1").first.inner_text() == "指挥调度"
    assert page.locator("table.cases tbody tr").count() >= 5
    assert "游埠古镇老街口垃圾桶满溢" in page.locator("table.cases").inner_text()
    screenshot(page, "dispatch-zh")
    assert page.foreign_requests == []
    assert page.console_errors == []


def test_wrong_password_shows_a_message_without_hints(page, live_server) -> None:
    browser_login(page, live_server, "officer", "wrong-password-1")
    assert page.locator("[role=alert]").inner_text() == "用户名或密码错误。"
    screenshot(page, "login-error")


def test_squad_leader_sees_only_their_township_and_can_switch_to_english(page, live_server) -> None:
    browser_login(page, live_server, "squad_leader")
    assert page.url.endswith("/township")
    assert "游埠镇" in page.locator("h1").inner_text()
    rows = page.locator("table.cases tbody tr")
    assert rows.count() >= 1
    assert all("游埠镇" in rows.nth(i).inner_text() for i in range(rows.count()))
    page.click("text=English")
    page.wait_for_load_state("networkidle")
    assert page.locator("a[data-nav=township]").inner_text() == "Township squad"
    assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == "Zoom in"  # was 放大 in Chinese
    page.set_viewport_size({"width": 360, "height": 740})
    screenshot(page, "township-phone-en")


@pytest.mark.parametrize("width", [1280, 1366])
def test_the_admins_english_menu_keeps_one_line_at_laptop_widths(page, live_server, width) -> None:
    """Seven English labels beside the name and role: each label on one line, the tools beside the menu,
    not below it over the page (they took two lines each at 1366 px)."""
    page.set_viewport_size({"width": width, "height": 768})
    browser_login(page, live_server, "admin")
    page.goto(f"{live_server}/about?lang=en")
    links = page.locator(".mainnav a")
    assert links.count() == 7
    lines = links.evaluate_all("links => links.map(a => { const r = document.createRange();"
                               " r.selectNodeContents(a); return r.getClientRects().length; })")
    assert lines == [1] * 7, f"lines per label: {lines}"
    last, tools = links.nth(6).bounding_box(), page.locator(".tools").bounding_box()
    assert last["x"] + last["width"] <= tools["x"], "the tools wrapped below the menu"
    assert page.locator(".topbar").bounding_box()["height"] <= 48
    screenshot(page, f"admin-menu-en-{width}")
