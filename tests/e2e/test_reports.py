"""统计评价 in a real browser: the GET form changes the period, the ranking fits the screen, no script needed."""

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, delete
from sqlalchemy.orm import Session

from grids.models import Incident
from tests.e2e.conftest import browser_login, screenshot
from tests.grids.test_evaluation import insert_due_cases

pytestmark = pytest.mark.e2e


@pytest.fixture()
def closed_in_march_2025(database_url: str) -> Iterator[None]:
    """Closed cases only (no open queue shows them), removed again afterwards: the server's database is shared."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        insert_due_cases(session, ["2025-03-09T16:00:00+08:00"] * 30 + ["2025-03-12T09:00:00+08:00"] * 10)
    yield
    with Session(engine) as session, session.begin():
        session.execute(delete(Incident).where(Incident.source == "test", Incident.reported_at < "2025-04-01"))
    engine.dispose()


def test_the_ranking_is_chosen_with_the_form_and_fits_the_screen(page, live_server, closed_in_march_2025) -> None:
    browser_login(page, live_server, "viewer")
    page.goto(f"{live_server}/reports?period=year&date=2019-01-01")
    assert "本期没有应结案的案件" in page.inner_text("main")
    page.select_option("select[name=period]", "month")
    page.fill("input[name=date]", "2025-03-20")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    first = page.locator("table.ranking-table tbody tr").first
    assert first.get_attribute("data-object") == "330781102"
    assert "75.00%" in first.inner_text() and "100.00%" in first.inner_text()
    assert "2025-03-01 至 2025-03-31" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    screenshot(page, "reports-ranking")
    page.set_viewport_size({"width": 390, "height": 844})  # a squad leader's phone, in English too
    for lang in ("zh_CN", "en"):
        page.goto(f"{live_server}/reports?period=month&date=2025-03-20&lang={lang}")
        # the table scrolls in its own box; the page stayed 665 px wide and names broke a character a line
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        name = page.locator("table.ranking-table tbody tr td[data-col=name]").first.bounding_box()
        assert name["height"] < 40
    screenshot(page, "reports-ranking-phone")
    assert page.console_errors == [] and page.foreign_requests == []
