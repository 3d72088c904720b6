"""The dispatch centre in a real Chromium: map, legend, drawer with history, and live arrivals, offline."""

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.orm import Session

from grids.incidents import open_case
from grids.models import CaseEvent, Category, Incident
from tests.e2e.conftest import browser_login, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture()
def new_case(database_url: str) -> Iterator:
    """A function that commits a case the way intake would; the cases are removed afterwards.

    The history trigger forbids deleting case events, so the clean-up disables triggers for its own
    transaction (the test database's owner is a superuser).
    """
    engine = create_engine(database_url)
    created: list[int] = []

    def make(description: str) -> int:
        with Session(engine) as session, session.begin():
            category = session.scalar(select(Category).where(Category.code == "E0101"))
            created.append(open_case(session, "330781", category, 119.73, 29.30, source="test",
                                     description=description).id)
        return created[-1]

    yield make
    with Session(engine) as session, session.begin():
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(delete(CaseEvent).where(CaseEvent.incident_id.in_(created)))
        session.execute(delete(Incident).where(Incident.id.in_(created)))
    engine.dispose()


def test_dispatcher_sees_cases_on_the_map_opens_one_and_gets_new_ones_live(page, live_server, new_case) -> None:
    browser_login(page, live_server, "dispatcher")
    page.wait_for_selector(".case-pin, .case-cluster")
    assert page.locator(".map-legend").inner_text().count("\n") >= 3
    assert "已超时" in page.locator(".map-legend").inner_text()

    page.locator("#queue tbody tr").first.click()
    drawer = page.locator("#drawer")
    drawer.wait_for(state="visible")
    page.wait_for_selector("#drawer [data-history] li")
    assert "上报" in drawer.locator("[data-history]").inner_text()
    assert drawer.locator("[data-field=title]").inner_text().startswith("#")
    screenshot(page, "dispatch-drawer")

    page.evaluate("window.__sameDocument = true")
    case_id = new_case("测试：新上报的井盖缺失")
    page.wait_for_selector(f"#queue tr[data-case='{case_id}']", timeout=5000)
    assert page.evaluate("window.__sameDocument") is True
    assert "新上报的井盖缺失" in page.locator(f"#queue tr[data-case='{case_id}']").inner_text()
    page.locator("[data-close]").click()
    screenshot(page, "dispatch-live")
    assert page.foreign_requests == []
    assert page.console_errors == []
