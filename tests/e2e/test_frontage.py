"""门前三包 in real Chromium over West Oakland: a co-manager inspects a unit on a 360 px phone, and the list's
map colours the frontage areas by latest score. A database of its own (the demo server's city is Lanxi).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from waitress.server import create_server

from grids.frontage import inspect_unit
from grids.migrate import upgrade
from grids.models import FrontageUnit
from tests.conftest import _fresh_database
from tests.e2e.conftest import browser_login, screenshot
from tests.webapp.test_frontage_pages import CITY, PASSWORD, build_oakland
from webapp.frontage import BANDS, UNSCORED

pytestmark = pytest.mark.e2e

# West-township units given a latest score before the browser looks: one per colour band.
SCORED = {"State Market Liquor": {}, "Trinity Baptist Church": {"O1": 2}, "Comalapa": {"O1": 3, "S1": 3}}
INSPECTED = "Revolution Cafe"


def _seed(url: str) -> dict[str, int]:
    """The test city committed to a fresh database, with one scored unit per band; unit ids by name."""
    engine = create_engine(url)
    with Session(engine) as session:
        build_oakland(session)
        units = {u.name: u.id for u in session.scalars(select(FrontageUnit).where(FrontageUnit.city_code == CITY))}
        for name, deductions in SCORED.items():
            inspect_unit(session, units[name], None, deductions)
        session.commit()
    engine.dispose()
    return units


@pytest.fixture(scope="module")
def oakland_db() -> Iterator[tuple[str, dict[str, int]]]:
    for url in _fresh_database("gridlink_e2e_frontage"):
        upgrade(url)
        yield url, _seed(url)


@pytest.fixture(scope="module")
def units(oakland_db: tuple[str, dict[str, int]]) -> dict[str, int]:
    return oakland_db[1]


@pytest.fixture(scope="module")
def live_server(oakland_db: tuple[str, dict[str, int]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Overrides the demo server for this module: the app serves the West Oakland test city."""
    from webapp import create_app

    app = create_app({"DATABASE_URL": oakland_db[0], "GRIDLINK_MODE": "test", "SECRET_KEY": "e2e-frontage",
                      "GRIDLINK_CITY": CITY, "GRIDLINK_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
                      "GRIDLINK_DATA_ATTRIBUTION": OSM_CREDIT})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.close()


OSM_CREDIT = "West Oakland © OpenStreetMap contributors (ODbL)"


def _total(page) -> int:
    return int(page.locator("#live-total").inner_text())


def test_co_manager_inspects_a_unit_on_a_phone(page, live_server, units) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    browser_login(page, live_server, "w_comgr", PASSWORD)
    page.goto(f"{live_server}/frontage/units/{units[INSPECTED]}")
    page.wait_for_selector(".unit-map path.leaflet-interactive")
    expect(page.locator(".leaflet-control-attribution")).to_contain_text(OSM_CREDIT)  # this city's, not Lanxi's
    assert page.locator("[data-personal]").count() == 0  # a co-manager has the personal-data grant
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "frontage-unit-phone")

    page.click("text=开始检查")
    page.wait_for_selector("form[data-score-sheet]")
    assert _total(page) == 1000
    o1 = page.locator(".sheet-item", has=page.locator("#count-O1"))
    s2 = page.locator(".sheet-item", has=page.locator("#count-S2"))
    o1.locator("[data-step='1']").click()
    assert _total(page) == 900
    s2.locator("[data-step='1']").click()
    s2.locator("[data-step='1']").click()
    assert _total(page) == 840
    s2.locator("[data-step='-1']").click()
    assert _total(page) == 870 and page.input_value("#count-S2") == "1"
    page.fill("textarea[name=note]", "门前摆摊，已当场劝离")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "frontage-inspect-phone")

    page.click("form[data-score-sheet] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-score]").inner_text() == "870"
    case_link = page.locator(".linked-cases a")
    assert case_link.count() == 1 and "店外经营" in case_link.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "frontage-result-phone")
    case_link.click()
    page.wait_for_load_state("networkidle")
    assert "/township/cases/" in page.url and "店外经营" in page.locator("h1").inner_text()
    assert page.foreign_requests == []  # type: ignore[attr-defined]
    assert page.console_errors == []  # type: ignore[attr-defined]


# The viewport point of a pixel inside an area of the colour: the middle of the longest run of it in a canvas row.
_SPOT_OF_COLOUR = """(hex) => {
  const k = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
  let best = null;
  document.querySelectorAll(".leaflet-tile-container canvas").forEach(c => {
    const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, box = c.getBoundingClientRect();
    for (let y = 0; y < c.height; y += 2) {
      let run = 0;
      for (let x = 0; x < c.width; x++) {
        const i = (y * c.width + x) * 4;
        const same = px[i + 3] > 0 && [0, 1, 2].every(j => Math.abs(px[i + j] - k[j]) < 6);
        run = same ? run + 1 : 0;
        if (run && (!best || run > best.run)) best = {run, x: box.left + x - run / 2, y: box.top + y};
      }
    }
  });
  return best;
}"""


# Counts canvas pixels whose colour is each band's (fills are translucent; RGB is kept as drawn).
_COUNT_COLOURS = """(colours) => {
  const rgb = colours.map(h => [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16)));
  const counts = colours.map(() => 0);
  document.querySelectorAll(".leaflet-overlay-pane canvas, .leaflet-tile-container canvas").forEach(c => {
    const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] === 0) continue;
      rgb.forEach((k, j) => {
        if (Math.abs(px[i] - k[0]) < 6 && Math.abs(px[i + 1] - k[1]) < 6 && Math.abs(px[i + 2] - k[2]) < 6) counts[j]++;
      });
    }
  });
  return counts;
}"""


def test_a_click_on_an_area_of_the_map_opens_its_unit(page, live_server, units) -> None:
    """The map's legend says 点击责任区打开单位: a real mouse click on a drawn area, not a synthetic event."""
    browser_login(page, live_server, "w_leader", PASSWORD)
    page.goto(f"{live_server}/frontage")
    page.wait_for_load_state("networkidle")
    good = BANDS[0][2]
    page.wait_for_function(f"({_COUNT_COLOURS})([{good!r}]).every(n => n > 0)", timeout=10_000)
    spot = page.evaluate(_SPOT_OF_COLOUR, good)
    assert spot and spot["run"] >= 4
    page.mouse.move(spot["x"], spot["y"])  # hovering names the unit before a click opens it
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    named = next(name for name in units if tooltip.inner_text().startswith(name + " · "))
    page.mouse.click(spot["x"], spot["y"])
    page.wait_for_url("**/frontage/units/*")
    assert int(page.url.rsplit("/", 1)[1]) == units[named]
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_the_list_map_colours_areas_by_latest_score_with_a_legend(page, live_server) -> None:
    browser_login(page, live_server, "w_leader", PASSWORD)
    page.goto(f"{live_server}/frontage")
    page.wait_for_load_state("networkidle")
    colours = [colour for _name, _low, colour in BANDS] + [UNSCORED[1]]
    page.wait_for_function(f"({_COUNT_COLOURS})({colours!r}).every(n => n > 0)", timeout=10_000)
    legend = page.locator(".frontage-legend li[data-band]")
    assert [legend.nth(i).get_attribute("data-band") for i in range(legend.count())] == ["good", "fair", "poor",
                                                                                         "none"]
    assert page.locator(".frontage-legend").is_visible()
    assert page.locator("table.units tbody tr").count() == 9
    screenshot(page, "frontage-list")
    page.click("text=最近得分")
    page.wait_for_load_state("networkidle")
    assert page.locator("table.units tbody tr").first.inner_text().startswith("State Market Liquor")
    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    first = page.locator("table.units tbody tr").first.inner_text()
    page.locator("[data-sort]").click()  # the phone's cards keep the sort (the header with it was hidden)
    page.wait_for_load_state("networkidle")
    assert page.locator("table.units tbody tr").first.inner_text() != first
    screenshot(page, "frontage-list-phone")
    assert page.foreign_requests == []  # type: ignore[attr-defined]
    assert page.console_errors == []  # type: ignore[attr-defined]

