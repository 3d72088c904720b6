"""责任网格 in /plan through the test client: planners only, created through the editor endpoint, drawn as tiles;
and the 门前三包 redraw page with its area endpoint."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from grids.models import ResponsibilityGrid
from tests.conftest import login
from tests.webapp import test_plan
from tests.webapp.test_plan import JSON, TOWNSHIP, _editor, _post
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


def test_the_frontage_page_lists_units_for_planners_only(client) -> None:
    login(client, "planner")
    page = client.get(f"/plan/frontage?township={TOWNSHIP}")
    assert page.status_code == 200 and 'id="page-data"' in page.get_data(as_text=True)
    login(client, "dispatcher")
    assert client.get("/plan/frontage").status_code == 403
