"""Duplicates in a real Chromium: the dispatcher's 新建案件 form lists 附近已有同类案件 once a point and a
category are chosen, and the drawer marks the new report as a duplicate of the demo case beside it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import create_engine, delete, func, select, text, update
from sqlalchemy.orm import Session

from grids.duplicates import NEARBY_DAYS
from grids.models import CaseEvent, Category, Incident
from grids.workflow import OPEN_STATES
from tests.e2e.conftest import browser_login, screenshot
from tests.e2e.test_intake import watch

pytestmark = pytest.mark.e2e
METRES_NORTH = 0.00027  # about 30 m of latitude: inside the 50 m, clear of the case's own pin at zoom 18


@pytest.fixture()
def demo_case(database_url: str) -> Iterator[dict[str, Any]]:
    """A recent open demo case that a new report can duplicate; the test's cases, its events and the
    original's version are put back after (the history trigger is off for the clean-up's transaction)."""
    engine = create_engine(database_url)
    with Session(engine) as session:
        row = session.execute(
            select(Incident.id, Incident.version, Category.code, Category.name,
                   func.ST_X(Incident.location).label("lon"), func.ST_Y(Incident.location).label("lat"))
            .join(Category, Category.id == Incident.category_id)
            .where(Incident.status.in_(OPEN_STATES),
                   Incident.location.is_not(None), Incident.duplicate_of_id.is_(None),
                   Incident.reported_at > func.now() - func.make_interval(0, 0, 0, NEARBY_DAYS - 1))
            .order_by(Incident.id).limit(1)).one()
        last_case = session.scalar(select(func.max(Incident.id))) or 0
        last_event = session.scalar(select(func.max(CaseEvent.id))) or 0
    yield row._asdict()
    with Session(engine) as session, session.begin():
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(delete(CaseEvent).where(CaseEvent.id > last_event))
        session.execute(delete(Incident).where(Incident.id > last_case))
        session.execute(update(Incident).where(Incident.id == row.id).values(version=row.version))
    engine.dispose()


def click_map_close_up(page: Page, lat: float, lon: float) -> None:
    """Click the map at (lat, lon) zoomed in far enough that a pin a few metres away is not under the mouse."""
    x, y = page.evaluate("""([lat, lon]) => {
        const map = window[JSON.parse(document.getElementById('page-data').textContent).map.map];
        map.setView([lat, lon], 18, {animate: false});
        const p = map.latLngToContainerPoint([lat, lon]), box = map.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y];
    }""", [lat, lon])
    page.wait_for_timeout(300)
    page.mouse.click(x, y)


def test_new_report_lists_the_case_nearby_and_is_marked_its_duplicate(page, live_server, demo_case) -> None:
    watch(page, live_server)
    browser_login(page, live_server, "dispatcher")
    page.click("[data-open-intake]")
    form = page.locator("#intake-form")
    click_map_close_up(page, demo_case["lat"] + METRES_NORTH, demo_case["lon"])
    form.locator("input[name=category]").fill(demo_case["name"])  # typed by name, not picked from the list
    nearby = form.locator("[data-nearby]")
    nearby.wait_for(state="visible")
    item = nearby.locator("li", has_text=f"#{demo_case['id']}")
    assert demo_case["name"] in item.inner_text() and " 米" in item.inner_text()
    metres = int(item.inner_text().split(" 米")[0].split()[-1])
    assert 25 <= metres <= 35
    screenshot(page, "dispatch-intake-nearby")

    form.locator("textarea[name=description]").fill("又一处同样的问题")
    form.locator("button[type=submit]").click()
    duplicate = page.locator("#drawer [data-duplicate]")
    duplicate.wait_for(state="visible")
    new_id = page.locator("#drawer [data-field=title]").inner_text().split()[0].lstrip("#")
    assert page.locator(f"#queue tr[data-case='{new_id}']").count() == 1
    duplicate.locator("select").select_option(str(demo_case["id"]))
    screenshot(page, "dispatch-mark-duplicate")
    duplicate.locator("[data-duplicate-run]").click()
    page.locator(f"#queue tr[data-case='{new_id}']").wait_for(state="detached")
    page.wait_for_selector("#drawer [data-field=status_label].status-cancelled")
    assert duplicate.is_hidden() and page.locator("#drawer .drawer-error").is_hidden()
    assert len(page.confirms) == 1 and f"并入 #{demo_case['id']}" in page.confirms[0]  # asked before it cancels
    assert page.foreign_requests == [] and page.console_errors == [] and page.dialogs == []
