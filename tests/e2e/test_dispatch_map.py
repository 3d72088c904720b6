"""The dispatch centre in a real Chromium: map, legend, drawer with history, and live arrivals, offline."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.orm import Session

from grids.incidents import open_case
from grids.models import (
    CaseEvent,
    Category,
    Division,
    Grid,
    GridLayout,
    Incident,
    ResponsibilityGrid,
    Squad,
)
from grids.responsibility import create_by_codes
from tests.conftest import YOUBU
from tests.e2e.conftest import browser_login, screenshot
from tests.e2e.test_department import act_as

pytestmark = pytest.mark.e2e


@pytest.fixture()
def new_case(database_url: str) -> Iterator:
    """A function that commits a case the way intake would; the cases are removed afterwards.

    The history trigger forbids deleting case events, so the clean-up disables triggers for its own
    transaction (the test database's owner is a superuser).
    """
    engine = create_engine(database_url)
    created: list[int] = []

    def make(description: str, lon: float = 119.73, lat: float = 29.30, overdue: bool = False) -> int:
        with Session(engine) as session, session.begin():
            category = session.scalar(select(Category).where(Category.code == "E0101"))
            incident = open_case(session, "330781", category, lon, lat, source="test", description=description)
            if overdue:  # as if its filing deadline had passed an hour ago: a red pin
                incident.deadline_at = session.scalar(select(func.now() - text("interval '1 hour'")))
            created.append(incident.id)
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
    names = page.locator(".place-label").all_inner_texts()  # where each township is, before a click
    assert len(names) >= 10 and "游埠镇（示意）" in names
    overlapping = page.evaluate("""() => {  // names that would touch are hidden: no two shown ones overlap
        const boxes = [...document.querySelectorAll('.place-label')]
            .filter(e => getComputedStyle(e).visibility !== 'hidden').map(e => e.getBoundingClientRect());
        return boxes.flatMap((a, i) => boxes.slice(i + 1).filter(b => a.left < b.right && b.left < a.right
            && a.top < b.bottom && b.top < a.bottom).map(b => [a.x, a.y, b.x, b.y]));
    }""")
    assert overlapping == [] and page.locator(".place-label:visible").count() >= 8
    screenshot(page, "dispatch-board")
    page.locator(".case-cluster").first.hover()  # no outline of the cluster's pins (it read as a boundary)
    page.wait_for_timeout(300)
    assert page.locator(".leaflet-overlay-pane svg path").count() == 0

    page.locator("#queue tbody tr").first.click()
    drawer = page.locator("#drawer")
    drawer.wait_for(state="visible")
    page.wait_for_selector("#drawer [data-history] li")
    assert "上报" in drawer.locator("[data-history]").inner_text()
    assert drawer.locator("[data-field=title]").inner_text().startswith("#")
    expect(page.locator(".place-label")).to_have_count(0)  # zoomed in on the pin: no township name in the way
    screenshot(page, "dispatch-drawer")
    clear = page.evaluate("""() => {  // the city's credit, whole, beside the scale bar and the drawer, not under
        const box = s => document.querySelector(s).getBoundingClientRect();
        const credit = box('.leaflet-control-attribution'), scale = box('.leaflet-control-scale');
        const drawer = box('#drawer');
        return {beside_scale: credit.left >= scale.right, beside_drawer: credit.right <= drawer.left + 1};
    }""")
    assert clear == {"beside_scale": True, "beside_drawer": True}

    page.evaluate("window.__sameDocument = true")
    case_id = new_case("测试：新上报的井盖缺失")
    page.wait_for_selector(f"#queue tr[data-case='{case_id}']", timeout=5000)
    assert page.evaluate("window.__sameDocument") is True
    assert "新上报的井盖缺失" in page.locator(f"#queue tr[data-case='{case_id}']").inner_text()
    page.locator("[data-close]").click()
    screenshot(page, "dispatch-live")
    assert page.foreign_requests == []
    assert page.console_errors == []


def wait_for(page, script: str, arg: object) -> None:
    """Poll `script` in the page until it is true (wait_for_function evaluates strings, which the CSP forbids)."""
    for _ in range(100):
        if page.evaluate(script, arg):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after 10 s: {script}")


IN_A_CLUSTER_OF_3 = """id => { const caseMap = window.GridlinkDispatch.caseMap, pin = caseMap.markers[id];
    const shown = caseMap.cluster.getVisibleParent(pin); return shown !== pin && shown.getChildCount() === 3; }"""


def pin_classes(page, ids: list[int]) -> list[str]:
    """The deadline class each case's pin shows on the map now (dl-overdue, dl-on_time ...)."""
    return page.evaluate("""ids => ids.map(id => {
        const icon = window.GridlinkDispatch.caseMap.markers[id].getElement();
        return icon ? [...icon.classList].find(c => c.startsWith("dl-")) : null;
    })""", ids)


SHOWN = "ids => ids.every(id => window.GridlinkDispatch.caseMap.markers[id].getElement())"


def open_in_a_fan(page, live_server: str, new_case, lon: float, lat: float) -> list[int]:
    """Three reports 3 m apart at (lon, lat), the dispatcher's board open, the middle one opened from the queue
    and its pins fanned out (each shown on its own)."""
    ids = [new_case(f"测试：同一处 {i}", lon=lon + 0.00003 * i, lat=lat) for i in range(3)]
    browser_login(page, live_server, "dispatcher")
    page.wait_for_selector(".case-pin, .case-cluster")
    page.locator(f"#queue tr[data-case='{ids[1]}']").click()
    wait_for(page, SHOWN, ids)
    return ids


def test_reports_metres_apart_fan_out_at_street_level_instead_of_zooming_to_the_last_level(page, live_server,
                                                                                           new_case) -> None:
    """Three reports of one problem a few metres apart (lon 119.7350 is 100 m from any other test's case): opening
    one from the queue, or clicking their cluster, shows them side by side at street level (zoom 16), not at
    the map's last level (20), where they would only part; the opened case's name shows over its pin."""
    ids = open_in_a_fan(page, live_server, new_case, 119.7350, 29.3050)
    assert page.evaluate("window.GridlinkDispatch.caseMap.map.getZoom()") == 16
    expect(page.locator(".leaflet-tooltip", has_text=f"#{ids[1]} ")).to_be_visible()
    screenshot(page, "dispatch-map-fanned-out")

    page.keyboard.press("Escape")
    page.evaluate("window.GridlinkDispatch.caseMap.cluster.unspiderfy()")
    page.evaluate("window.GridlinkDispatch.caseMap.map.setView([29.3050, 119.7350], 14, {animate: false})")
    wait_for(page, IN_A_CLUSTER_OF_3, ids[0])  # the spider folding back first shows the pin on its own
    # Clicked where it shows, as a person does: the cluster's icon may still be redrawn (the spider folding
    # back), which a handle on one DOM element would not survive.
    x, y = page.evaluate("""id => {
        const caseMap = window.GridlinkDispatch.caseMap;
        const at = caseMap.cluster.getVisibleParent(caseMap.markers[id]).getLatLng();
        const point = caseMap.map.latLngToContainerPoint(at), box = caseMap.map.getContainer().getBoundingClientRect();
        return [box.left + point.x, box.top + point.y];
    }""", ids[0])
    wait_for(page, "([x, y]) => document.elementFromPoint(x, y).closest('.case-cluster') !== null", [x, y])
    page.mouse.click(x, y)
    wait_for(page, SHOWN, ids)
    assert page.evaluate("window.GridlinkDispatch.caseMap.map.getZoom()") == 16


def test_the_open_case_keeps_its_fan_and_name_when_a_poll_redraws_it_or_a_neighbour(page, live_server, new_case,
                                                                                      database_url) -> None:
    """Someone else escalates a case in the open case's fan, then the open case itself: each poll redraws that
    pin, which folds the fan up (markercluster does on any removal); it opens again with the name shown."""
    ids = open_in_a_fan(page, live_server, new_case, 119.7390, 29.3080)
    for k, changed in enumerate((ids[0], ids[1]), start=1):
        act_as(database_url, changed, "supervisor", "escalate", note=f"督办 {k}")
        expect(page.locator(f"#queue tr[data-case='{changed}'] [data-flag=escalated]")).to_be_visible()
        page.wait_for_timeout(1000)  # the fold (200 ms) and the fan-out again (200 ms) are over
        wait_for(page, SHOWN, ids)
        expect(page.locator(".leaflet-tooltip", has_text=f"#{ids[1]} ")).to_be_visible()
    screenshot(page, "dispatch-map-fan-kept")
    assert page.console_errors == [] and page.foreign_requests == []


def test_a_case_redrawn_while_the_map_zooms_to_it_is_still_shown_with_its_name(page, live_server,
                                                                              new_case) -> None:
    """Three reports 60 m apart (one cluster at street level, not fanned out: zoomed into): the opened case's pin
    is redrawn (as by a poll) just as the map starts zooming to it. The zoom used to wait on the removed pin for
    good, and threw at every later move of the map."""
    ids = [new_case(f"测试：相隔 {i}", lon=119.7420 + 0.0006 * i, lat=29.3110) for i in range(3)]
    browser_login(page, live_server, "dispatcher")
    page.wait_for_selector(".case-pin, .case-cluster")
    page.evaluate("window.GridlinkDispatch.caseMap.map.setView([29.3110, 119.7426], 16, {animate: false})")
    wait_for(page, IN_A_CLUSTER_OF_3, ids[1])
    page.evaluate("""id => fetch("/dispatch/cases/" + id, {headers: {Accept: "application/json"}})
        .then(r => r.json()).then(c => {
            const caseMap = window.GridlinkDispatch.caseMap;
            caseMap.map.once("zoomstart", () => caseMap.redraw(c, true));
        })""", ids[1])
    page.locator(f"#queue tr[data-case='{ids[1]}']").click()
    expect(page.locator(".leaflet-tooltip", has_text=f"#{ids[1]} ")).to_be_visible()
    assert page.evaluate("window.GridlinkDispatch.caseMap.map.getZoom()") > 16  # zoomed into the cluster
    page.evaluate("window.GridlinkDispatch.caseMap.map.panBy([40, 0], {animate: false})")  # a later move
    assert page.console_errors == [] and page.foreign_requests == []


def test_bulk_filing_recolours_the_pins_without_a_reload(page, live_server, new_case) -> None:
    """Three overdue cases 80 m apart: box-select them with Shift + drag, file them, and their red pins
    change colour in place (filing starts a new clock) and the queue rows follow. The one open in the
    drawer follows too, without announcing the dispatcher's own step as someone's change."""
    ids = [new_case(f"测试：批量立案 {i}", lon=119.7300 + 0.0008 * i, lat=29.3000, overdue=True) for i in range(3)]
    browser_login(page, live_server, "dispatcher")
    page.wait_for_selector(".case-pin, .case-cluster")
    page.evaluate("window.__sameDocument = true")
    page.evaluate("window.GridlinkDispatch.caseMap.map.setView([29.3000, 119.7308], 18, {animate: false})")
    wait_for(page, "ids => ids.every(id => window.GridlinkDispatch.caseMap.markers[id].getElement())", ids)
    assert pin_classes(page, ids) == ["dl-overdue"] * 3

    box = page.locator(".map-area .folium-map").bounding_box()
    corners = page.evaluate("""ids => {
        const caseMap = window.GridlinkDispatch.caseMap;
        const points = ids.map(id => caseMap.map.latLngToContainerPoint(caseMap.markers[id].getLatLng()));
        return [Math.min(...points.map(p => p.x)), Math.min(...points.map(p => p.y)),
                Math.max(...points.map(p => p.x)), Math.max(...points.map(p => p.y))];
    }""", ids)
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + corners[0] - 40, box["y"] + corners[1] - 40)
    page.mouse.down()
    page.mouse.move(box["x"] + corners[2] + 40, box["y"] + corners[3] + 40, steps=8)
    page.mouse.up()
    page.keyboard.up("Shift")
    bulk = page.locator("#bulk")
    bulk.wait_for(state="visible")
    expect(bulk.locator("[data-bulk-count]")).to_have_text("已选 3 件")  # ours only, no demo case nearby
    page.locator(f"#queue tr[data-case='{ids[0]}']").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已上报")
    bulk.locator("[data-bulk-action]").select_option("file")
    bulk.locator("[data-bulk-run]").click()
    wait_for(page, "ids => ids.every(id => { const m = window.GridlinkDispatch.caseMap.markers[id];"
                   " return m && m.getElement() && !m.getElement().classList.contains('dl-overdue'); })", ids)
    assert bulk.locator(".bulk-ok").count() == 3
    assert bulk.locator(".bulk-ok").first.inner_text().endswith("：成功")  # "#N 类别：成功", worded by the page
    assert "dl-overdue" not in pin_classes(page, ids)
    for case_id in ids:
        row = page.locator(f"#queue tr[data-case='{case_id}']")
        assert "已立案" in row.inner_text() and "dl-overdue" not in row.get_attribute("class")
    expect(drawer.locator("[data-field=status_label]")).to_have_text("已立案", timeout=10_000)  # the next poll
    expect(drawer.locator(".drawer-error")).to_be_hidden()  # it said "张调度 刚更改了此案件"
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "dispatch-bulk-filed")
    assert page.foreign_requests == []
    assert page.console_errors == []


@pytest.fixture()
def duty_area(database_url: str) -> Iterator[tuple[float, float]]:
    """A squad's duty area of one published 游埠 grid and its neighbours; (lat, lon) of its middle."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        layout = session.scalar(select(GridLayout).join(Division, Division.id == GridLayout.division_id)
                                .where(Division.code == YOUBU, GridLayout.status == "published"))
        first = session.scalar(select(Grid).where(Grid.layout_id == layout.id).order_by(Grid.code).limit(1))
        codes = list(session.scalars(select(Grid.code).where(
            Grid.layout_id == layout.id, func.ST_Intersects(Grid.geom, first.geom))))
        squad = session.scalar(select(Squad.code).join(Division, Division.id == Squad.township_id)
                               .where(Division.code == YOUBU))
        area = create_by_codes(session, "330781", layout.id, "E2E-DUTY", "测试责任网格", "squad", codes, squad)
        area_id = area.id
        middle = session.execute(select(func.ST_Y(func.ST_Centroid(first.geom)),
                                        func.ST_X(func.ST_Centroid(first.geom)))).one()
    yield middle[0], middle[1]
    with Session(engine) as session, session.begin():
        session.execute(delete(ResponsibilityGrid).where(ResponsibilityGrid.id == area_id))  # members cascade
    engine.dispose()


def test_duty_area_layer_toggles_on_with_its_legend_and_tiles(page, live_server, duty_area) -> None:
    lat, lon = duty_area
    browser_login(page, live_server, "dispatcher")
    page.wait_for_selector(".case-pin, .case-cluster")
    toggle = page.locator("[data-toggle-layer=responsibility]")
    assert toggle.is_visible() and not toggle.is_checked()
    assert page.locator("[data-duty-legend]").is_hidden()
    page.evaluate("ll => window.GridlinkDispatch.caseMap.map.setView(ll, 16, {animate: false})", [lat, lon])
    with page.expect_response(lambda r: "/tiles/responsibility/16/" in r.url and r.status == 200) as tile:
        toggle.check()
    assert tile.value.url.startswith(live_server)
    assert tile.value.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    legend = page.locator("[data-duty-legend]")
    legend.wait_for(state="visible")
    assert "中队" in legend.inner_text() and "部门" in legend.inner_text()
    page.wait_for_load_state("networkidle")
    screenshot(page, "dispatch-duty-areas")
    toggle.uncheck()
    assert legend.is_hidden()
    assert page.foreign_requests == []
    assert page.console_errors == []
