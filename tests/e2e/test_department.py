"""The department inbox in a real Chromium: a liaison asks for more time, picking how long from a list, and
reports handling with an after-photo."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from grids.incidents import Actor
from grids.models import Incident, User
from grids.workflow import act
from tests.e2e.conftest import browser_login, screenshot
from tests.e2e.test_file_and_dispatch import youbu_case  # noqa: F401  (fixture)
from tests.e2e.test_intake import small_jpeg

pytestmark = pytest.mark.e2e


def dispatch(database_url: str, case_id: int) -> None:
    """The centre files and dispatches the case (to its routed department, 环卫 for the demo's point)."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        dispatcher = Actor.of_user(session.scalar(select(User).where(User.username == "dispatcher")))
        for action in ("file", "dispatch"):
            act(session, case_id, action, dispatcher, session.get(Incident, case_id).version)
    engine.dispose()


def test_a_department_asks_for_two_working_days(page, live_server, database_url, youbu_case) -> None:  # noqa: F811
    dispatch(database_url, youbu_case)
    engine = create_engine(database_url)
    browser_login(page, live_server, "department")
    item = page.locator(f"[data-case='{youbu_case}']")
    item.locator("select[data-choice-for=request_extension]").select_option("2d")
    item.locator("textarea[name=note]").fill("需要协调挖掘机")
    item.locator("button[value=request_extension]").click()
    expect(item.locator("[data-done]")).to_be_visible()
    screenshot(page, "department-extension")
    with Session(engine) as session:
        assert session.get(Incident, youbu_case).extension_request == "2d"
    engine.dispose()
    assert page.console_errors == [] and page.foreign_requests == []


def test_after_accepting_the_item_offers_the_next_step_without_a_reload(page, live_server, database_url,
                                                                       youbu_case) -> None:  # noqa: F811
    browser_login(page, live_server, "department")
    assert page.locator(f"[data-case='{youbu_case}']").count() == 0  # reported, not dispatched: the centre's
    dispatch(database_url, youbu_case)
    page.reload()
    item = page.locator(f"[data-case='{youbu_case}']")
    expect(item.locator("[data-status]")).to_have_text("已派遣")
    item.locator("button[value=accept]").click()
    expect(item.locator("[data-status]")).to_have_text("处置中")
    expect(item.locator("[data-done]")).to_have_text("已完成：接单")
    item.locator("textarea[name=note]").fill("已清运完毕")
    item.locator("button[value=handle]").click()
    expect(item.locator("[data-error]")).to_have_text("请拍摄或选择至少一张处置后照片。")
    item.locator("input[name=photos]").set_input_files(
        [{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg()}])
    item.locator("button[value=handle]").click()
    expect(item.locator("[data-status]")).to_have_text("已处置")
    expect(item.locator(".thumb-after img")).to_have_count(1)
    expect(page.locator("[data-count=todo]")).to_have_text("0")  # nothing left to do on it: it moved down
    expect(page.locator(f"#waiting [data-case='{youbu_case}'] [data-done]")).to_have_text("已完成：处置反馈")
    screenshot(page, "department-handled")
    assert page.console_errors == [] and page.foreign_requests == []
