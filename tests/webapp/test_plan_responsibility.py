"""责任网格 in /plan through the test client: planners only, created through the editor endpoint, drawn as tiles;
and the 门前三包 redraw page with its area endpoint."""

from __future__ import annotations

import pytest
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point, box, mapping
from sqlalchemy import select, text

from grids.models import Division, FrontageUnit, ResponsibilityGrid
from tests.conftest import login
from tests.webapp import test_plan
from tests.webapp.test_plan import JSON, META_CSRF, TOWNSHIP, _editor, _post
from tests.webapp.test_tiles import tile_of

draft, session = test_plan.draft, test_plan.session  # the same fixtures as the editor tests
_NEIGHBOURS = text("""
SELECT a.code, b.code, ST_X(ST_Centroid(a.geom)), ST_Y(ST_Centroid(a.geom))
FROM grids a JOIN grids b ON b.layout_id = a.layout_id AND a.id < b.id AND a.geom && b.geom
WHERE a.layout_id = :l AND ST_Relate(a.geom, b.geom, '****1****') ORDER BY a.code, b.code LIMIT 1""")


def _create(client, token: str, layout_id: int, codes: list[str], party: str = "SQ330781102"):
    return _post(client, token, f"/plan/api/layouts/{layout_id}/responsibility",
                 {"codes": codes, "code": "R-WEB", "name": "游埠一片", "kind": "squad", "party": party})


@pytest.mark.parametrize("role", ["dispatcher", "squad_leader", "viewer"])
def test_only_planners_create_responsibility_grids(client, draft, role: str) -> None:
    login(client, role)
    response = client.post(f"/plan/api/layouts/{draft.id}/responsibility", json={}, headers=JSON)
    assert response.status_code in (400, 403)  # CSRF or role: never created
    assert response.status_code == 403 or "csrf" in response.get_data(as_text=True).lower()


def test_editor_creates_a_responsibility_grid_drawn_as_a_tile(client, session, draft) -> None:
    login(client, "planner")
    token, data = _editor(client, draft.id)
    assert data["map"]["responsibility"] and {d["code"] for d in data["departments"]}
    a, b, lon, lat = session.execute(_NEIGHBOURS, {"l": draft.id}).one()
    response = _create(client, token, draft.id, [a, b])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["grids"] == 2
    assert session.scalar(select(ResponsibilityGrid.kind).where(ResponsibilityGrid.code == "R-WEB")) == "squad"
    z, x, y = tile_of(lon, lat, 14)
    body = client.get(f"/tiles/responsibility/{z}/{x}/{y}.pbf?layout={draft.id}")
    assert body.status_code == 200 and b"R-WEB" in body.data and b"squad" in body.data
    assert "R-WEB" in client.get(f"/plan/layouts/{draft.id}").get_data(as_text=True)


def test_a_wrong_party_is_refused_by_the_endpoint(client, session, draft) -> None:
    login(client, "planner")
    token, _ = _editor(client, draft.id)
    a, b, _, _ = session.execute(_NEIGHBOURS, {"l": draft.id}).one()
    response = _create(client, token, draft.id, [a, b], party="NO-SUCH-SQUAD")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_party"
    assert response.get_json()["error"]["display"] == "找不到所选的责任方，请刷新页面后重选。"


def test_the_frontage_page_lists_units_for_planners_only(client) -> None:
    login(client, "planner")
    page = client.get(f"/plan/frontage?township={TOWNSHIP}")
    assert page.status_code == 200 and 'id="page-data"' in page.get_data(as_text=True)
    login(client, "dispatcher")
    assert client.get("/plan/frontage").status_code == 403


def _unit(session, name: str, x: float, y: float) -> FrontageUnit:
    """A shop in 游埠 with a 20 m x 20 m area at (x, y) (the demo has no 门前三包 units)."""
    township = session.scalar(select(Division).where(Division.code == TOWNSHIP))
    unit = FrontageUnit(city_code="330781", name=name, location=from_shape(Point(x, y), 4326),
                        area=from_shape(MultiPolygon([box(x, y, x + 2e-4, y + 2e-4)]), 4326),
                        township_id=township.id)
    session.add(unit)
    session.commit()
    return unit


def test_a_planner_redraws_a_frontage_area_and_an_overlap_is_refused(client, session, draft) -> None:
    outline = to_shape(session.scalar(select(Division.geom).where(Division.code == TOWNSHIP)))
    x, y = outline.representative_point().coords[0]
    mine = _unit(session, "甲商店", x, y)
    _unit(session, "乙商店", x + 4e-4, y)
    login(client, "planner")
    page = client.get(f"/plan/frontage?township={TOWNSHIP}").get_data(as_text=True)
    token = META_CSRF.search(page).group(1)
    assert "甲商店" in page and "乙商店" in page
    path = f"/plan/api/frontage/units/{mine.id}/area"
    clash = _post(client, token, path, {"polygon": mapping(box(x, y, x + 5e-4, y + 1e-4))})
    assert clash.status_code == 422 and "乙商店" in clash.get_json()["error"]["message"]
    # the planner's page reads it in Chinese (it showed "the area overlaps other units' areas")
    assert clash.get_json()["error"]["display"].startswith("所画范围与其他单位的责任区重叠：乙商店 ")
    saved = _post(client, token, path, {"polygon": mapping(box(x, y, x + 3e-4, y + 1e-4))})
    assert saved.status_code == 200, saved.get_data(as_text=True)
    session.expire_all()
    assert session.get(FrontageUnit, mine.id).area_manual and saved.get_json()["grid"] is not None
