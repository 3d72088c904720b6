"""The planner's editor in a real Chromium: select a grid, split it by drawing a line with Leaflet.draw,
see the count go up with no problems, and open the publish preview; offline, without console errors."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from geoalchemy2.shape import to_shape
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.orm import Session

from grids.layouts import generate_layout
from grids.models import Grid, GridLayout, ResponsibilityGrid
from tests.e2e.conftest import browser_login, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture()
def draft(database_url: str, demo_city: dict) -> Iterator[dict]:
    """A committed 1 km² draft of 游埠镇 and one of its full squares; removed afterwards."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        layout = generate_layout(session, "330781", "330781102", target_area=1_000_000, method="square")
        grids = session.scalars(select(Grid).where(Grid.layout_id == layout.id).order_by(Grid.code)).all()
        square = [g for g in grids if g.area_m2 > 999_000][len(grids) // 4]
        shape = to_shape(square.geom)
        info = {"id": layout.id, "count": len(grids), "code": square.code, "bounds": shape.bounds,
                "centre": (shape.centroid.y, shape.centroid.x)}
    yield info
    with Session(engine) as session, session.begin():
        session.execute(delete(GridLayout).where(GridLayout.id == info["id"]))
    engine.dispose()


def _point(page: Page, lat: float, lon: float) -> tuple[float, float]:
    """Page coordinates of a place on the Leaflet map."""
    x, y = page.evaluate("""([lat, lon]) => {
        const data = JSON.parse(document.getElementById('page-data').textContent);
        const p = window[data.map.map].latLngToContainerPoint([lat, lon]);
        return [p.x, p.y]; }""", [lat, lon])
    box = page.locator(".folium-map").bounding_box()
    return box["x"] + x, box["y"] + y


def _tap(page: Page, x: float, y: float) -> None:
    """A click as a hand makes it: Leaflet.draw adds a vertex on a press and release after a move."""
    page.mouse.move(x - 5, y)
    page.mouse.move(x, y, steps=3)
    page.mouse.down()
    page.wait_for_timeout(50)
    page.mouse.up()
    page.wait_for_timeout(100)


def test_planner_selects_and_splits_a_grid_then_previews_publishing(page: Page, live_server: str, draft) -> None:
    browser_login(page, live_server, "planner")
    assert page.url.endswith("/plan")
    page.wait_for_selector(f"[data-layout='{draft['id']}']")
    screenshot(page, "plan-home")

    page.goto(f"{live_server}/plan/layouts/{draft['id']}")
    page.evaluate("""([lat, lon]) => {
        const data = JSON.parse(document.getElementById('page-data').textContent);
        window[data.map.map].setView([lat, lon], 15, {animate: false}); }""", list(draft["centre"]))
    page.wait_for_load_state("networkidle")
    assert page.locator("#check-summary").get_attribute("class") == "ok"

    page.mouse.click(*_point(page, *draft["centre"]))
    page.wait_for_selector("#attributes:not([hidden])")
    assert page.locator("#attributes [data-field=code]").inner_text() == draft["code"]
    assert "m²" in page.locator("#attributes [data-field=area]").inner_text()
    assert page.locator("#attributes [data-field=squad]").inner_text() != "—"
    screenshot(page, "plan-selected")

    west, south, east, north = draft["bounds"]
    middle = (south + north) / 2
    assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == "放大"  # Leaflet's words too
    assert page.locator(".leaflet-draw-draw-polyline").get_attribute("title") == "画线"
    page.locator(".leaflet-draw-draw-polyline").click()
    expect(page.locator(".leaflet-draw-tooltip")).to_contain_text("点击开始画线")
    start, end = _point(page, middle, west - 0.002), _point(page, middle, east + 0.002)
    for vertex in (start, end):
        _tap(page, *vertex)
    page.locator(".leaflet-draw-actions a", has_text="完成").click()
    expect(page.locator("#grid-count")).to_have_text(str(draft["count"] + 1), timeout=15_000)
    assert page.locator("#check-summary").get_attribute("class") == "ok"
    assert page.locator("#problems li").count() == 0
    assert "+" in page.locator("#message").inner_text()
    page.wait_for_load_state("networkidle")
    screenshot(page, "plan-split")

    page.locator("#publish").click()
    page.wait_for_selector("#impact .impact-block")
    assert page.locator("#impact .impact-block").count() == 4
    assert page.locator("#publish-confirm").is_enabled()
    screenshot(page, "plan-publish-preview")
    page.locator("#publish-dialog button[value=cancel]").click()

    assert page.foreign_requests == []  # type: ignore[attr-defined]
    assert page.console_errors == []  # type: ignore[attr-defined]


def _east_neighbour(database_url: str, layout_id: int, code: str) -> tuple[float, float]:
    """The centre (lat, lon) of the grid sharing the chosen square's eastern edge."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        lat, lon = conn.execute(text(
            "SELECT ST_Y(ST_PointOnSurface(b.geom)), ST_X(ST_PointOnSurface(b.geom)) FROM grids a JOIN grids b "
            "ON b.layout_id = a.layout_id AND ST_Relate(a.geom, b.geom, '****1****') "
            "WHERE a.layout_id = :l AND a.code = :c AND ST_X(ST_Centroid(b.geom)) > ST_XMax(a.geom) LIMIT 1"),
            {"l": layout_id, "c": code}).one()
    engine.dispose()
    return lat, lon


def test_planner_makes_a_responsibility_grid_of_two_selected_grids(page: Page, live_server: str, draft,
                                                                   database_url: str) -> None:
    neighbour = _east_neighbour(database_url, draft["id"], draft["code"])
    browser_login(page, live_server, "planner")
    page.goto(f"{live_server}/plan/layouts/{draft['id']}")
    page.evaluate("""([lat, lon]) => {
        const data = JSON.parse(document.getElementById('page-data').textContent);
        window[data.map.map].setView([lat, lon], 14, {animate: false}); }""", list(draft["centre"]))
    page.wait_for_load_state("networkidle")
    page.mouse.click(*_point(page, *draft["centre"]))
    page.wait_for_selector("#attributes:not([hidden])")
    page.keyboard.down("Shift")
    page.mouse.click(*_point(page, *neighbour))
    page.keyboard.up("Shift")
    expect(page.locator("#selected-codes li")).to_have_count(2)
    page.fill("#duty-code", "E2E-R1")
    page.fill("#duty-name", "游埠东片")
    page.select_option("#duty-kind", "squad")
    page.locator("#duty-button").click()
    expect(page.locator("#message")).to_contain_text("E2E-R1", timeout=15_000)
    expect(page.locator("#duty-list li").last).to_contain_text(re.compile(r"E2E-R1 游埠东片 · .+中队 · 2 个网格"))
    expect(page.locator("#duty-code")).to_have_value("")  # the next duty area is another one
    screenshot(page, "plan-responsibility")
    # a double click merges once: the second click of the same revision came back 409 and reloaded the page
    page.locator("#merge").dblclick()
    expect(page.locator("#grid-count")).to_have_text(str(draft["count"] - 1), timeout=15_000)
    expect(page.locator("#message")).to_contain_text("已保存：+ ")
    page.wait_for_timeout(2500)  # a 409 reloads after 2 s
    expect(page.locator("#message")).to_contain_text("已保存：+ ")
    assert page.console_errors == []  # type: ignore[attr-defined]
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        session.execute(delete(ResponsibilityGrid).where(ResponsibilityGrid.code == "E2E-R1"))
    engine.dispose()


@pytest.fixture()
def shop(database_url: str, demo_city: dict) -> Iterator[dict]:
    """A committed 门前三包 unit in 游埠镇 with a small generated area; removed afterwards."""
    from geoalchemy2.shape import from_shape
    from shapely.geometry import MultiPolygon, Point, box

    from grids.models import Division, FrontageUnit

    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        township = session.scalar(select(Division).where(Division.code == "330781102"))
        x, y = to_shape(township.geom).representative_point().coords[0]
        unit = FrontageUnit(city_code="330781", name="E2E 商店", location=from_shape(Point(x, y), 4326),
                            area=from_shape(MultiPolygon([box(x, y, x + 1e-4, y + 1e-4)]), 4326),
                            township_id=township.id)
        session.add(unit)
        session.flush()
        info = {"id": unit.id, "lat": y, "lon": x}
    yield info
    with Session(engine) as session, session.begin():
        session.execute(delete(FrontageUnit).where(FrontageUnit.id == info["id"]))
    engine.dispose()


def test_planner_redraws_a_frontage_area(page: Page, live_server: str, shop: dict) -> None:
    browser_login(page, live_server, "planner")
    page.goto(f"{live_server}/plan/frontage?township=330781102")
    page.wait_for_load_state("networkidle")
    page.locator(f"[data-unit='{shop['id']}']").click()
    page.wait_for_timeout(300)
    lat, lon = shop["lat"], shop["lon"]
    page.locator(".leaflet-draw-draw-polygon").click()
    low, high = (lat - 5e-5, lon - 5e-5), (lat + 1.5e-4, lon + 2e-4)
    corners = [low, (low[0], high[1]), high, (high[0], low[1])]
    for corner in corners:
        _tap(page, *_point(page, *corner))
    page.locator(".leaflet-draw-actions a", has_text="完成").click()
    expect(page.locator("#message")).not_to_be_hidden(timeout=10_000)
    assert "error" not in (page.locator("#message").get_attribute("class") or "")
    screenshot(page, "plan-frontage-redraw")
    page.wait_for_load_state("networkidle")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_copying_a_layout_says_it_is_at_work_until_the_editor_opens(page: Page, live_server: str,
                                                                   database_url: str) -> None:
    """Copying a township's layout takes seconds: the button says so and cannot be pressed twice; then the
    draft opens in the editor under its Chinese name."""
    browser_login(page, live_server, "planner")
    page.goto(f"{live_server}/plan")
    row = page.locator(".layout-row", has=page.locator(".layout-published")).first
    expect(row.locator("form button")).to_have_text("复制为草稿重绘")
    source = int(row.get_attribute("data-layout"))
    page.route("**/plan/layouts/*/copy", lambda route: None)  # the server is still copying
    shown = page.evaluate("""(id) => new Promise(done => {
        const button = document.querySelector(`.layout-row[data-layout='${id}'] form button`);
        button.click();
        setTimeout(() => done([button.textContent, button.disabled]), 100);
    })""", source)
    assert shown == ["正在复制…", True]
    page.unroute("**/plan/layouts/*/copy")
    page.goto(f"{live_server}/plan")
    page.locator(f".layout-row[data-layout='{source}']").get_by_role("button", name="复制为草稿重绘").click()
    page.wait_for_url("**/plan/layouts/*")
    assert f"由 #{source} 复制重绘" in page.content()
    copy_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        session.execute(delete(GridLayout).where(GridLayout.id == copy_id))
    engine.dispose()
    assert page.console_errors == []


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_plan_page_fits_a_phone_and_its_table_scrolls_in_its_box(page, live_server, lang) -> None:
    """The page was 429 px (575 in English) wide on a 390 px phone, 复制为草稿重绘 one character a line."""
    page.set_viewport_size({"width": 390, "height": 844})
    browser_login(page, live_server, "planner")
    page.goto(f"{live_server}/plan?lang={lang}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    copy = page.locator("#divisions button.small").first  # 复制为草稿重绘 of a published layout
    assert copy.bounding_box()["height"] < 40  # one line
    screenshot(page, f"plan-phone-{lang}")
