"""The department inbox in a real Chromium: a liaison asks for more time, picking how long from a list, and
reports handling with an after-photo; a card someone else changed meanwhile is drawn again, keeping what was typed."""

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
from webapp import pages

pytestmark = pytest.mark.e2e


def act_as(database_url: str, case_id: int, username: str, *actions: str, **payload: str) -> None:
    """Someone else acts on the case, in their own transaction (as from another browser)."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        actor = Actor.of_user(session.scalar(select(User).where(User.username == username)))
        for action in actions:
            act(session, case_id, action, actor, session.get(Incident, case_id).version, **payload)
    engine.dispose()


def dispatch(database_url: str, case_id: int) -> None:
    """The centre files and dispatches the case (to its routed department, 环卫 for the demo's point)."""
    act_as(database_url, case_id, "dispatcher", "file", "dispatch")


AFTER_PHOTO = {"name": "after.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg()}


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
    item.locator("input[name=photos]").set_input_files([AFTER_PHOTO])
    item.locator("button[value=handle]").click()
    expect(item.locator("[data-status]")).to_have_text("已处置")
    expect(item.locator(".thumb-after img")).to_have_count(1)
    expect(page.locator("[data-count=todo]")).to_have_text("0")  # nothing left to do on it: it moved down
    expect(page.locator(f"#waiting-handled [data-case='{youbu_case}'] [data-done]")).to_have_text("已完成：处置反馈")
    screenshot(page, "department-handled")
    assert page.console_errors == [] and page.foreign_requests == []


def chosen_photos(item) -> int:
    return item.locator("input[name=photos]").evaluate("input => input.files.length")


def typed_card(page, live_server: str, database_url: str, case_id: int, note: str):
    """The department's card of a case just dispatched to it, with a handling note typed and a photo chosen."""
    dispatch(database_url, case_id)
    browser_login(page, live_server, "department")
    item = page.locator(f"[data-case='{case_id}']")
    item.locator("textarea[name=note]").fill(note)
    item.locator("input[name=photos]").set_input_files([AFTER_PHOTO])
    return item


def test_accepting_leaves_the_typed_note_and_photo_for_the_handling_report(page, live_server, database_url,
                                                                         youbu_case) -> None:  # noqa: F811
    item = typed_card(page, live_server, database_url, youbu_case, "桥头垃圾已清运")
    item.locator("button[value=accept]").click()
    expect(item.locator("[data-status]")).to_have_text("处置中")
    expect(item.locator("textarea[name=note]")).to_have_value("桥头垃圾已清运")
    assert chosen_photos(item) == 1
    item.locator("[data-history] summary").click()
    expect(item.locator("[data-history] li").last).to_contain_text("接单")
    expect(item.locator("[data-history] li").last).not_to_contain_text("桥头垃圾已清运")  # not the 接单's note
    item.locator("button[value=handle]").click()
    expect(item.locator("[data-status]")).to_have_text("已处置")
    expect(item.locator("[data-history] li").last).to_contain_text("桥头垃圾已清运")
    screenshot(page, "department-history")
    assert page.console_errors == [] and page.foreign_requests == []


def test_a_card_changed_by_someone_else_comes_back_with_the_note_and_photo_kept(page, live_server, database_url,
                                                                              youbu_case) -> None:  # noqa: F811
    """409: the card takes the new version and buttons, says what changed, and the next try goes through."""
    item = typed_card(page, live_server, database_url, youbu_case, "已清运完毕")
    act_as(database_url, youbu_case, "supervisor", "escalate", note="尽快处理")  # 督办 meanwhile
    item.locator("button[value=handle]").click()
    expect(item.locator("[data-error]")).to_contain_text("案件刚被他人更改（督办 · 演示 supervisor），现为“已派遣”")
    expect(item.locator("[data-last]")).to_contain_text("尽快处理")
    expect(item.locator("textarea[name=note]")).to_have_value("已清运完毕")
    assert chosen_photos(item) == 1
    screenshot(page, "department-changed")
    item.locator("button[value=handle]").click()
    expect(item.locator("[data-status]")).to_have_text("已处置")
    assert len(page.console_errors) == 1 and "409" in page.console_errors[0]  # the browser logs the refused one
    assert page.foreign_requests == []


def test_a_case_redispatched_away_loses_its_buttons(page, live_server, database_url, youbu_case) -> None:  # noqa: F811
    dispatch(database_url, youbu_case)
    browser_login(page, live_server, "department")
    item = page.locator(f"[data-case='{youbu_case}']")
    act_as(database_url, youbu_case, "dispatcher", "redispatch", department="traffic_police")
    item.locator("button[value=accept]").click()
    expect(item.locator("[data-done]")).to_have_text("操作未执行：此案件已不归本部门处理（已改派或已撤回）。")
    expect(item.locator("[data-inbox-form]")).to_be_hidden()  # no button left to press
    expect(item.locator("[data-error]")).to_be_hidden()
    expect(page.locator("[data-count=todo]")).to_have_text("0")


def test_on_a_phone_the_hint_shows_whole_and_the_extension_length_stays_by_its_button(
        page, live_server, database_url, youbu_case) -> None:  # noqa: F811
    """On a 390 px phone, in either language: the note's hint is not cut off, 申请延期 keeps its length list."""
    dispatch(database_url, youbu_case)
    page.set_viewport_size({"width": 390, "height": 844})
    browser_login(page, live_server, "department")
    item = page.locator(f"[data-case='{youbu_case}']")
    for language in ("zh_CN", "en"):
        page.goto(f"{live_server}/lang/{language}")
        assert hint_overflow(item.locator("textarea[name=note]")) <= 0, language
        choice = item.locator("select[data-choice-for=request_extension]").bounding_box()
        button = item.locator("button[value=request_extension]").bounding_box()
        assert abs(choice["y"] + choice["height"] / 2 - (button["y"] + button["height"] / 2)) < 4, language
        assert 0 < button["x"] - (choice["x"] + choice["width"]) < 20, language  # side by side
        screenshot(page, f"department-phone-{language}")


def hint_overflow(note) -> float:
    """How many pixels the placeholder needs beyond the box: it set as the text of a copy of the same size."""
    return note.evaluate("""note => {
        const copy = note.cloneNode();
        copy.style.fieldSizing = "fixed";
        copy.style.width = note.offsetWidth + "px";
        copy.style.height = note.offsetHeight + "px";
        copy.value = note.placeholder;
        note.after(copy);
        const over = copy.scrollHeight - copy.clientHeight;
        copy.remove();
        return over;
    }""")


def test_an_open_inbox_announces_a_case_dispatched_meanwhile(page, live_server, database_url,
                                                             youbu_case, monkeypatch) -> None:  # noqa: F811
    """The clerk keeps the inbox open all day: new work is announced with a button to reload (it appeared only
    on a reload nobody knew to make); the card being typed on is not swapped."""
    monkeypatch.setattr(pages, "INBOX_POLL_MS", 500)
    browser_login(page, live_server, "department")
    notice = page.locator("[data-new-cases]")
    page.wait_for_timeout(1200)  # polls with nothing new: no notice
    expect(notice).to_be_hidden()
    dispatch(database_url, youbu_case)
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("新派来 1 件案件")
    screenshot(page, "department-new-case")
    notice.locator("[data-reload]").click()
    expect(page.locator(f"[data-case='{youbu_case}']")).to_be_visible()
    page.wait_for_timeout(1200)
    expect(notice).to_be_hidden()
    assert page.console_errors == [] and page.foreign_requests == []


def test_an_open_inbox_follows_what_others_do_to_its_cards(page, live_server, database_url,
                                                          youbu_case, monkeypatch) -> None:  # noqa: F811
    """The centre's 督办 showed only after a reload, and a case 改派'd away kept its buttons until a click
    failed: the open inbox now draws such a card as it is, keeping the typed note, and waits while the clerk
    types in it."""
    monkeypatch.setattr(pages, "INBOX_POLL_MS", 500)
    dispatch(database_url, youbu_case)
    browser_login(page, live_server, "department")
    item = page.locator(f"[data-case='{youbu_case}']")
    note = item.locator("textarea[name=note]")
    note.fill("已到现场，正在清运")  # the clerk is typing: focus in the card's form
    rendered = item.get_attribute("data-version")
    act_as(database_url, youbu_case, "dispatcher", "escalate")
    page.wait_for_timeout(1500)  # three polls while the note has the focus: nothing moves under the clerk
    assert item.get_attribute("data-version") == rendered
    page.locator("h1").click()  # the clerk looks away
    expect(item.locator("[data-done]")).to_contain_text("刚有新进展（督办")
    expect(item.locator("[data-done]")).to_contain_text("已显示最新状态。填写的内容仍在。")
    assert item.get_attribute("data-version") != rendered
    expect(item.locator("textarea[name=note]")).to_have_value("已到现场，正在清运")
    screenshot(page, "department-followed")
    act_as(database_url, youbu_case, "dispatcher", "redispatch", department="traffic_police")
    expect(item.locator("[data-done]")).to_have_text("此案件已不在本部门待办中（已改派、撤回或办结）。")
    expect(item.locator("[data-inbox-form]")).to_be_hidden()
    act_as(database_url, youbu_case, "dispatcher", "redispatch", department="sanitation")  # sent back here
    expect(page.locator("[data-new-cases]")).to_contain_text("新派来 1 件案件")  # its old card is not it
    assert page.console_errors == [] and page.foreign_requests == []


def test_an_inbox_whose_login_ended_keeps_its_cards(page, live_server, database_url,
                                                    youbu_case, monkeypatch) -> None:  # noqa: F811
    """Logged out elsewhere, the poll was answered by the login page: every card read 'no longer your
    department's' and lost its form with the typed note."""
    monkeypatch.setattr(pages, "INBOX_POLL_MS", 500)
    dispatch(database_url, youbu_case)
    browser_login(page, live_server, "department")
    item = page.locator(f"[data-case='{youbu_case}']")
    item.locator("textarea[name=note]").fill("已到现场")
    page.locator("h1").click()
    page.context.clear_cookies()  # the session ends (logout in another tab, an expired login)
    page.wait_for_timeout(1500)
    expect(item.locator("[data-inbox-form]")).to_be_visible()
    expect(item.locator("[data-done]")).to_be_hidden()
    expect(item.locator("textarea[name=note]")).to_have_value("已到现场")


def test_a_case_returned_to_the_centre_leaves_the_inbox_saying_so(page, live_server, database_url,
                                                                  youbu_case) -> None:  # noqa: F811
    """退回 with a reason: the card stays to say it went back, without the buttons or a history that stops short."""
    item = typed_card(page, live_server, database_url, youbu_case, "不属于环卫职责，应由交警处理")
    item.locator("[data-history] summary").click()
    item.locator("button[value=return]").click()
    expect(item.locator("[data-done]")).to_have_text("已完成：退回")
    expect(item.locator("[data-inbox-form]")).to_be_hidden()
    expect(item.locator("[data-history]")).to_be_hidden()
    expect(item.locator("[data-due-at]")).to_be_hidden()  # the clock is the centre's now
    expect(page.locator("[data-count=todo]")).to_have_text("0")
    screenshot(page, "department-returned")
    engine = create_engine(database_url)
    with Session(engine) as session:
        assert session.get(Incident, youbu_case).status == "filed"
    engine.dispose()
    assert page.console_errors == [] and page.foreign_requests == []
