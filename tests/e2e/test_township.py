"""A squad leader on a 360 px phone: only their township, a case page with the way there, no leaks."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from grids.models import Division, Incident
from tests.e2e.conftest import browser_login, screenshot
from tests.e2e.test_file_and_dispatch import youbu_case  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


def _case_outside_youbu(database_url: str) -> int:
    engine = create_engine(database_url)
    with Session(engine) as session:
        case_id = session.scalar(select(Incident.id).join(Division, Division.id == Incident.township_id)
                                 .where(Division.code != "330781102").limit(1))
    engine.dispose()
    return case_id


def test_squad_leader_on_a_phone_sees_only_their_township(page, live_server, database_url) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    browser_login(page, live_server, "squad_leader")
    page.wait_for_selector(".case-pin, .case-cluster")
    rows = page.locator("table.cases tbody tr")
    assert rows.count() >= 1
    assert all("游埠镇" in rows.nth(i).inner_text() for i in range(rows.count()))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "township-phone")

    rows.first.locator("a").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("a[data-geo]").get_attribute("href").startswith("geo:29.")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "township-case-phone")

    response = page.goto(f"{live_server}/township/cases/{_case_outside_youbu(database_url)}")
    assert response.status == 404
    assert page.foreign_requests == []


def test_the_wheel_scrolls_the_task_list_until_the_map_is_clicked(page, live_server) -> None:
    """On a desktop the township map sits above the task list: the wheel over it scrolls the page, not the map."""
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_login(page, live_server, "squad_leader")
    page.wait_for_selector(".case-pin, .case-cluster")
    zoom = "() => window[JSON.parse(document.getElementById('page-data').textContent).map.map].getZoom()"
    before = page.evaluate(zoom)
    box = page.locator(".leaflet-container").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 400)
    page.wait_for_timeout(400)
    assert page.evaluate(zoom) == before and page.evaluate("window.scrollY") > 0  # the page scrolled instead
    box = page.locator(".leaflet-container").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, max(box["y"], 0) + 20)  # clear of the controls and of pins
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(600)  # the zoom animation
    assert page.evaluate(zoom) > before


def test_a_refused_step_shows_the_case_again_at_its_own_address(page, live_server, database_url) -> None:
    """A stale 核实 (the case changed in another tab) answers 409 with the case page; the address bar shows
    the case, not the form's POST address, so a reload reads the page instead of posting again."""
    from grids.workflow import reported_on_site

    engine = create_engine(database_url)
    with Session(engine) as session:  # a public or hotline report: staff's own are first-hand, no one's 核实
        case_id = session.scalar(select(Incident.id).join(Division, Division.id == Incident.township_id)
                                 .where(Division.code == "330781102", Incident.status == "reported",
                                        Incident.source == "demo", ~reported_on_site()).order_by(Incident.id).limit(1))
    engine.dispose()
    browser_login(page, live_server, "co_manager")
    page.goto(f"{live_server}/township/cases/{case_id}")
    page.evaluate("document.querySelector('form[data-spot] input[name=version]').value = '0'")
    page.locator("form[data-spot] button[value=verify]").click()
    page.wait_for_selector(".field-error")
    assert "案件已被他人更改" in page.locator(".field-error").first.inner_text()
    assert page.url == f"{live_server}/township/cases/{case_id}"


def test_an_officers_feedback_form_fits_a_phone(page, live_server, database_url) -> None:
    """处置反馈 on a 360 px phone: its note, photo picker and button stay inside the case page's card (the
    file input's own width pushed them 20 px past it, onto the border)."""
    from sqlalchemy import delete, func, text

    from grids.incidents import Actor
    from grids.models import CaseEvent, OutboxMessage, User
    from grids.workflow import act, report

    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        actors = {name: Actor.of_user(session.scalar(select(User).where(User.username == name)))
                  for name in ("inspector", "dispatcher")}
        inside = func.ST_PointOnSurface(Division.geom)
        lon, lat = session.execute(select(func.ST_X(inside), func.ST_Y(inside))
                                   .where(Division.code == "330781102")).one()
        case = report(session, actors["inspector"], "E0504", lon, lat, source="field", description="测试：乱停放")
        act(session, act(session, case.id, "file", actors["dispatcher"], 1).id, "dispatch", actors["dispatcher"], 2)
        case_id = case.id
    try:
        page.set_viewport_size({"width": 360, "height": 740})
        browser_login(page, live_server, "officer")
        page.goto(f"{live_server}/township/cases/{case_id}")
        form = page.locator("form[data-handle]")
        right = form.bounding_box()["x"] + form.bounding_box()["width"]
        for control in ("textarea", "input[type=file]", "button[type=submit]"):
            box = form.locator(control).bounding_box()
            assert box["x"] + box["width"] <= right + 0.5, control
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        form.scroll_into_view_if_needed()
        screenshot(page, "township-feedback-phone")
    finally:
        with Session(engine) as session, session.begin():
            session.execute(text("SET LOCAL session_replication_role = replica"))
            session.execute(delete(OutboxMessage).where(OutboxMessage.incident_id == case_id))
            session.execute(delete(CaseEvent).where(CaseEvent.incident_id == case_id))
            session.execute(delete(Incident).where(Incident.id == case_id))
        engine.dispose()


def test_an_inspector_finds_a_report_not_as_reported_and_the_centre_cancels_it(
        page, live_server, youbu_case) -> None:  # noqa: F811
    """核实不属实 on the phone needs what was seen on site; the centre then finds the case waiting on it, with
    that note in its history and 作废 among its buttons."""
    page.set_viewport_size({"width": 360, "height": 740})
    browser_login(page, live_server, "inspector")
    page.goto(f"{live_server}/township/cases/{youbu_case}")
    spot = page.locator("form[data-spot]")
    spot.locator("button[value=refute]").click()
    expect(spot.locator(".field-error")).to_contain_text("请写明现场所见")
    spot.locator("textarea[name=note]").fill("现场已无垃圾，桥头干净")
    spot.locator("button[value=refute]").click()
    expect(page.locator(".status").first).to_have_text("核实不属实")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "township-refuted-phone")

    page.set_viewport_size({"width": 1366, "height": 820})
    page.context.clear_cookies()  # the inspector's session ends
    browser_login(page, live_server, "dispatcher")
    page.goto(f"{live_server}/dispatch#case-{youbu_case}")
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("核实不属实")
    expect(drawer.locator("[data-history]")).to_contain_text("现场已无垃圾，桥头干净")
    expect(drawer.locator("[data-actions] button", has_text="作废")).to_be_visible()
    unexpected = [e for e in page.console_errors if "status of 422" not in e]  # the refute without a note
    assert unexpected == [] and page.foreign_requests == []
