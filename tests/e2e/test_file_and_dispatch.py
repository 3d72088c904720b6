"""The daily loop in a real Chromium: the dispatcher files and dispatches a case, the squad sees it."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.orm import Session

from grids.incidents import Actor, open_case
from grids.models import CaseEvent, Category, Division, Incident, User
from grids.workflow import act
from tests.e2e.conftest import browser_login, screenshot
from tests.e2e.test_intake import watch

pytestmark = pytest.mark.e2e
YOUBU = "330781102"


def _remove_case(engine, case_id: int) -> None:
    """Delete a test case with its history: the clean-up disables the append-only trigger for its own
    transaction, as the other e2e tests do."""
    with Session(engine) as session, session.begin():
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(delete(CaseEvent).where(CaseEvent.incident_id == case_id))
        session.execute(delete(Incident).where(Incident.id == case_id))
    engine.dispose()


@pytest.fixture()
def youbu_case(database_url: str) -> Iterator[int]:
    """A fresh reported case in 游埠镇, committed like intake would; removed afterwards (history included:
    the clean-up disables the append-only trigger for its own transaction, as the other e2e tests do)."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        x, y = session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                      func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                               .where(Division.code == YOUBU)).one()
        category = session.scalar(select(Category).where(Category.code == "E0101"))
        case_id = open_case(session, "330781", category, x + 0.002, y - 0.002, source="test",
                            description="测试：桥头垃圾堆放").id
    yield case_id
    _remove_case(engine, case_id)


def test_dispatcher_files_and_dispatches_and_the_squad_sees_it(browser: Browser, page, live_server,
                                                              youbu_case: int) -> None:
    browser_login(page, live_server, "dispatcher")
    page.locator(f"#queue tr[data-case='{youbu_case}']").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已上报")
    drawer.locator("[data-actions] button", has_text="立案").click()
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已立案")
    drawer.locator("[data-actions] button", has_text="派遣").click()
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已派遣")
    expect(drawer.locator("[data-history]")).to_contain_text("派遣")
    screenshot(page, "dispatch-dispatched")
    assert page.foreign_requests == [] and page.console_errors == []

    squad = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN").new_page()
    browser_login(squad, live_server, "squad_leader")
    row = squad.locator(f"tr[data-case='{youbu_case}']")
    expect(row).to_contain_text("桥头垃圾堆放")
    expect(row).to_contain_text("已派遣")
    screenshot(squad, "township-sees-dispatched")
    squad.context.close()


def test_the_drawer_redispatches_to_a_chosen_department(page, live_server, youbu_case: int,
                                                        database_url: str) -> None:
    browser_login(page, live_server, "dispatcher")
    page.locator(f"#queue tr[data-case='{youbu_case}']").click()
    drawer = page.locator("#drawer")
    for action, status in (("立案", "已立案"), ("派遣", "已派遣")):
        drawer.locator("[data-actions] button", has_text=action).click()
        expect(drawer.locator("[data-field=status_label]")).to_have_text(status)
    choice = drawer.locator("[data-actions] select.action-choice")
    expect(choice).to_have_count(1)  # 改派 picks its department; 督办 needs nothing
    choice.select_option("bureau")
    drawer.locator("[data-actions] button.action-redispatch").click()
    expect(drawer.locator("[data-history]")).to_contain_text("改派")
    screenshot(page, "dispatch-redispatch-choice")
    engine = create_engine(database_url)
    with Session(engine) as session:
        assert session.scalar(select(Incident).where(Incident.id == youbu_case)).department.code == "bureau"
    engine.dispose()
    assert page.foreign_requests == [] and page.console_errors == []


def test_the_drawer_cancels_a_report_as_invalid_with_a_note(page, live_server, youbu_case: int) -> None:
    browser_login(page, live_server, "dispatcher")
    page.locator(f"#queue tr[data-case='{youbu_case}']").click()
    drawer = page.locator("#drawer")
    drawer.locator("[data-actions] button.action-cancel").click()  # no reason picked: nothing is sent
    expect(drawer.locator(".drawer-error")).to_have_text("请选择原因")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已上报")
    drawer.locator("[data-actions] select.action-choice").select_option("invalid")
    drawer.locator("[data-actions] textarea").fill("现场核实无此问题")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    drawer.locator("[data-actions] button.action-cancel").click()
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已作废")
    assert asked and asked[0].endswith("确定作废此案件？")
    expect(drawer.locator("[data-history]")).to_contain_text("现场核实无此问题")
    assert page.console_errors == []


def open_by_link(page, url: str, case_id: int):
    """The dispatcher follows a /dispatch…#case-N link: the drawer, once it shows case N."""
    browser_login(page, url.split("/dispatch")[0], "dispatcher")
    page.goto(url)
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=title]")).to_contain_text(f"#{case_id}")
    return drawer


def test_a_case_link_opens_the_case_and_the_open_case_names_itself_in_the_address(page, live_server,
                                                                                  youbu_case: int) -> None:
    drawer = open_by_link(page, f"{live_server}/dispatch#case-{youbu_case}", youbu_case)
    drawer.locator("[data-close]").click()
    assert "#case" not in page.url
    rows = "Array.from(document.querySelectorAll('#queue tr[data-case]')).map(r => r.dataset.case)"
    order = page.evaluate(rows)
    legend = page.locator(".map-legend").bounding_box()
    for case_id in map(int, order):  # looking at a case leaves the queue as it is (cases taken in together tie)
        page.locator(f"#queue tr[data-case='{case_id}']").click()
        expect(drawer.locator("[data-field=title]")).to_contain_text(f"#{case_id}")
        assert page.evaluate(rows) == order
        if page.evaluate(f"Boolean(window.GridlinkDispatch.caseMap.markers[{case_id}])"):  # a placed case
            tip = page.locator(".leaflet-tooltip").filter(has_text=re.compile(rf"^#{case_id} "))
            tip.wait_for()  # its pin and tooltip are in view: not under the legend, and the only tooltip open
            box, map_box = tip.bounding_box(), page.locator(".map-area .folium-map").bounding_box()
            assert box["y"] + box["height"] < legend["y"] or box["x"] > legend["x"] + legend["width"]
            assert map_box["y"] <= box["y"] and box["y"] + box["height"] <= map_box["y"] + map_box["height"]
            # the one looked at before closes (Leaflet fades a closed tooltip out over 200 ms, then drops it)
            expect(page.locator(".leaflet-tooltip:not(.place-label)")).to_have_count(1)
    page.locator(f"#queue tr[data-case='{youbu_case}']").click()
    expect(drawer.locator("[data-field=title]")).to_contain_text(f"#{youbu_case}")
    assert page.url.endswith(f"#case-{youbu_case}")
    tooltip = page.locator(".leaflet-tooltip").filter(has_text=re.compile(rf"^#{youbu_case} "))
    tooltip.wait_for()  # the open case's pin (under its tooltip's middle) lies in the map left of the drawer
    box = tooltip.bounding_box()
    assert box["x"] + box["width"] / 2 < drawer.bounding_box()["x"]
    assert page.console_errors == []


@pytest.fixture()
def unplaced_case(database_url: str) -> Iterator[int]:
    """A report with an address and no point (as Open311 may send), waiting in triage; removed afterwards."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        category = session.scalar(select(Category).where(Category.code == "E0101"))
        case_id = open_case(session, "330781", category, None, None, source="test", address="游埠镇老街口",
                            description="测试：只有地址的垃圾堆").id
    yield case_id
    _remove_case(engine, case_id)


def test_the_centre_places_a_triage_case_on_the_map_and_it_is_routed(page, live_server, unplaced_case: int,
                                                                     database_url: str) -> None:
    from tests.e2e.test_intake import click_map_at

    drawer = open_by_link(page, f"{live_server}/dispatch?triage=1#case-{unplaced_case}", unplaced_case)
    drawer.locator("button.action-relocate").click()
    expect(drawer.locator(".drawer-error")).to_contain_text("在地图上点选新位置")
    engine = create_engine(database_url)
    with Session(engine) as session:
        youbu = session.scalar(select(Division).where(Division.code == YOUBU))
        x, y = session.execute(select(func.ST_X(func.ST_PointOnSurface(youbu.geom)),
                                      func.ST_Y(func.ST_PointOnSurface(youbu.geom)))).one()
    click_map_at(page, y, x)
    assert drawer.locator("[data-relocate] [name=lon]").input_value().startswith("119.")
    drawer.locator("button.action-relocate").click()
    expect(drawer.locator("[data-field=township]")).to_contain_text("游埠镇")
    expect(drawer.locator("[data-history]")).to_contain_text("重新定位")
    screenshot(page, "dispatch-relocated")
    with Session(engine) as session:
        case = session.get(Incident, unplaced_case)
        assert case.grid_id is not None and not case.needs_triage
    engine.dispose()
    assert page.console_errors == []


@pytest.fixture()
def two_reports(database_url: str) -> Iterator[tuple[int, int]]:
    """Two reports in 游埠镇 a moment apart, each with its 立案 clock running (the earlier one due first)."""
    from grids.incidents import Actor
    from grids.models import User
    from grids.workflow import report

    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        dispatcher = Actor.of_user(session.scalar(select(User).where(User.username == "dispatcher")))
        x, y = session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                      func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                               .where(Division.code == YOUBU)).one()
        first = report(session, dispatcher, "E0101", x + 0.001, y, source="test", description="先报").id
    with Session(engine) as session, session.begin():
        second = report(session, dispatcher, "E0101", x + 0.002, y, source="test", description="后报").id
    yield first, second
    for case_id in (first, second):
        _remove_case(engine, case_id)


def test_a_filed_case_moves_to_its_new_place_in_the_urgency_order(page, live_server, two_reports) -> None:
    """立案 starts the 30-minute 派遣 clock: the later report now falls due before the earlier one's 1-hour
    立案 clock, and its row moves above it at once, as a reload would order them."""
    first, second = two_reports
    browser_login(page, live_server, "dispatcher")
    order = "() => Array.from(document.querySelectorAll('#queue tbody tr')).map(r => Number(r.dataset.case))"

    def ours() -> list[int]:
        return [c for c in page.evaluate(order) if c in two_reports]

    assert ours() == [first, second]
    page.locator(f"#queue tr[data-case='{second}']").click()
    page.locator("#drawer [data-actions] button", has_text="立案").click()
    expect(page.locator("#drawer [data-field=status_label]")).to_have_text("已立案")
    assert ours() == [second, first]
    page.reload()
    page.wait_for_selector("#queue tbody tr")
    assert ours() == [second, first]  # as the server orders them
    assert page.console_errors == []


TO_CHECKED = (("file", "dispatcher", {}), ("dispatch", "dispatcher", {}),
              ("handle", "department", {"note": "已清理", "after_photo": "after.jpg"}), ("check", "inspector", {}))


def walk(database_url: str, case_id: int, steps: tuple[tuple[str, str, dict[str, str]], ...]) -> None:
    """The workflow steps, each by its demo login, committed."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        for action, who, payload in steps:
            actor = Actor.of_user(session.scalar(select(User).where(User.username == who)))
            act(session, case_id, action, actor, session.get(Incident, case_id).version, **payload)
    engine.dispose()


def test_closing_by_its_key_asks_first_like_its_button(page, live_server, youbu_case: int,
                                                       database_url: str) -> None:
    walk(database_url, youbu_case, TO_CHECKED)
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.goto(f"{live_server}/dispatch#case-{youbu_case}")
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已核查")
    page.keyboard.press("c")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已结案")
    assert len(page.confirms) == 1 and "确定结案" in page.confirms[0]
    assert page.foreign_requests == [] and page.console_errors == [] and page.dialogs == []


def test_a_reopened_case_comes_back_into_the_queue_and_onto_the_map(page, live_server, youbu_case: int,
                                                                   database_url: str) -> None:
    walk(database_url, youbu_case, (*TO_CHECKED, ("close", "dispatcher", {})))
    browser_login(page, live_server, "supervisor")
    count = int(page.locator("[data-count=open]").inner_text())
    page.goto(f"{live_server}/dispatch#case-{youbu_case}")
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已结案")
    assert page.locator(f"#queue tr[data-case='{youbu_case}']").count() == 0
    drawer.locator("textarea.note").fill("群众反映垃圾又堆起来了")
    drawer.locator("[data-actions] button.action-reopen").click()
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已立案")
    expect(page.locator(f"#queue tr[data-case='{youbu_case}']")).to_have_count(1)
    expect(page.locator("[data-count=open]")).to_have_text(str(count + 1))
    assert page.evaluate(f"Boolean(window.GridlinkDispatch.caseMap.markers[{youbu_case}])")
    assert page.foreign_requests == [] and page.console_errors == []


def test_an_open_board_follows_steps_taken_elsewhere(page, live_server, youbu_case: int, database_url: str) -> None:
    """Another session closes the case, then a supervisor reopens it: the open board drops and regains its row
    (the feed follows case events, not only new ids)."""
    browser_login(page, live_server, "dispatcher")
    row = page.locator(f"#queue tr[data-case='{youbu_case}']")
    expect(row).to_have_count(1)
    walk(database_url, youbu_case, (*TO_CHECKED, ("close", "dispatcher", {})))
    expect(row).to_have_count(0, timeout=15_000)
    walk(database_url, youbu_case, (("reopen", "supervisor", {"reason": "群众再次反映"}),))
    expect(row).to_have_count(1, timeout=15_000)
    expect(row.locator(".status")).to_have_text("已立案")
    assert page.foreign_requests == [] and page.console_errors == []
