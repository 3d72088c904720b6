"""The dispatcher's desk in a real Chromium, as a dispatcher's review found it: the open case follows what others do
to it, the keys do what the ? panel says, and a dropped connection is named and cleared."""
# ruff: noqa: F811  (the tests take the fixtures imported below as arguments of the same name)

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from grids.models import Incident
from tests.e2e.conftest import browser_login, screenshot
from tests.e2e.test_dispatch_map import new_case  # noqa: F401
from tests.e2e.test_file_and_dispatch import walk, youbu_case  # noqa: F401
from tests.e2e.test_intake import watch

pytestmark = pytest.mark.e2e
FILE_ELSEWHERE = (("file", "supervisor", {}),)  # 立案 by another user, in another session
FEED = re.compile(r"/dispatch/feed\?")
CASE = re.compile(r"/dispatch/cases/\d+$")


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
