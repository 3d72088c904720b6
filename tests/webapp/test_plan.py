"""/plan through the test client: who may open it, the editor's JSON edits with their 409, publishing
blocked by problems, the boundary upload that stores nothing on a bad file, and the export download."""

from __future__ import annotations

import json
import re
from io import BytesIO

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import LineString, mapping
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from grids.layouts import generate_layout
from grids.models import Division, Grid, GridLayout
from tests.conftest import CSRF_RE, login

CITY, TOWNSHIP = "330781", "330781102"
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
JSON = {"Accept": "application/json"}


@pytest.fixture()
def session(connection) -> Session:
    return Session(bind=connection, join_transaction_mode="create_savepoint")


@pytest.fixture()
def draft(session: Session) -> GridLayout:
    layout = generate_layout(session, CITY, TOWNSHIP, target_area=1_000_000, method="square")
    session.commit()
    return layout


def _editor(client, layout_id: int) -> tuple[str, dict]:
    """The editor page's CSRF token and data island."""
    page = client.get(f"/plan/layouts/{layout_id}").get_data(as_text=True)
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', page, re.S).group(1))
    return META_CSRF.search(page).group(1), data


def _post(client, token: str, path: str, body: dict):
    return client.post(path, json=body, headers={**JSON, "X-CSRFToken": token})


def _line_across(session: Session, layout_id: int) -> tuple[int, dict]:
    grid = session.scalar(select(Grid).where(Grid.layout_id == layout_id, Grid.area_m2 > 999_000)
                          .order_by(Grid.code))
    minx, miny, maxx, maxy = to_shape(grid.geom).bounds
    y = (miny + maxy) / 2
    return grid.id, mapping(LineString([(minx - 0.001, y), (maxx + 0.001, y)]))


@pytest.mark.parametrize("role, status", [("planner", 200), ("admin", 200), ("dispatcher", 403), ("supervisor", 403),
                                          ("squad_leader", 403), ("department", 403), ("viewer", 403),
                                          ("co_manager", 403)])
def test_only_planners_and_admins_open_plan(client, draft, role: str, status: int) -> None:
    login(client, role)
    assert client.get("/plan").status_code == status
    assert client.get(f"/plan/layouts/{draft.id}").status_code == status
    assert client.get(f"/plan/api/layouts/{draft.id}/impact", headers=JSON).status_code == status
    assert client.get(f"/tiles/grids/13/6815/3436.pbf?layout={draft.id}").status_code in (
        (200, 204) if status == 200 else (403,))


def test_edits_refuse_other_roles_and_missing_tokens(client, draft, session) -> None:
    login(client, "dispatcher")
    grid_id, line = _line_across(session, draft.id)
    body = {"grids": [grid_id], "line": line, "revision": draft.revision}
    assert client.post(f"/plan/api/layouts/{draft.id}/split", json=body, headers=JSON).status_code in (400, 403)
    client.get("/logout")
    login(client, "planner")
    assert client.post(f"/plan/api/layouts/{draft.id}/split", json=body, headers=JSON).status_code == 400  # no CSRF


def test_a_stale_revision_gets_409_through_http(client, draft, session) -> None:
    login(client, "planner")
    token, data = _editor(client, draft.id)
    assert data["revision"] == draft.revision and data["check"]["ok"]
    grid_id, line = _line_across(session, draft.id)
    first = _post(client, token, f"/plan/api/layouts/{draft.id}/split",
                  {"grids": [grid_id], "line": line, "revision": data["revision"]})
    assert first.status_code == 200, first.get_json()
    result = first.get_json()
    assert result["revision"] == data["revision"] + 1 and result["check"]["ok"] and len(result["created"]) == 2
    other, other_line = _line_across(session, draft.id)
    second = _post(client, token, f"/plan/api/layouts/{draft.id}/split",
                   {"grids": [other], "line": other_line, "revision": data["revision"]})
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "stale_revision"


def test_publish_is_blocked_while_check_finds_problems(client, draft, session) -> None:
    session.execute(delete(Grid).where(Grid.id == _line_across(session, draft.id)[0]))
    session.commit()
    login(client, "planner")
    token, data = _editor(client, draft.id)
    preview = client.get(f"/plan/api/layouts/{draft.id}/impact", headers=JSON).get_json()
    assert not preview["check"]["ok"] and preview["check"]["gap_area_m2"] > 900_000
    assert [f["properties"]["kind"] for f in preview["problems"]["features"]] == ["gap"]
    refused = _post(client, token, f"/plan/api/layouts/{draft.id}/publish",
                    {"revision": data["revision"], "effective": "2030-01-01"})
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "layout_has_problems" and error["details"]["gaps"][0]["location"]
    assert session.get(GridLayout, draft.id).status == "draft"


def test_publish_shows_impact_then_publishes(client, draft) -> None:
    login(client, "planner")
    token, data = _editor(client, draft.id)
    preview = client.get(f"/plan/api/layouts/{draft.id}/impact", headers=JSON).get_json()
    assert preview["check"]["ok"] and preview["impact"]["replaces"] is not None
    assert preview["impact"]["open_cases"]["count"] >= 1  # the demo's open case in 游埠 moves to a new grid
    done = _post(client, token, f"/plan/api/layouts/{draft.id}/publish",
                 {"revision": data["revision"], "effective": "2030-01-01"})
    assert done.status_code == 200 and done.get_json()["retired"] == preview["impact"]["replaces"]


def _upload(client, content: bytes, **fields: str):
    token = CSRF_RE.search(client.get("/plan").get_data(as_text=True)).group(1)
    return client.post("/plan/divisions/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (BytesIO(content), "towns.geojson"), "level": "township", "crs": "wgs84",
        "code_field": "code", "name_field": "name", **fields})


def test_a_bad_upload_lists_every_problem_and_stores_nothing(client, tmp_path) -> None:
    login(client, "planner")
    bowtie = {"type": "Polygon", "coordinates": [[[119.5, 29.2], [119.6, 29.3], [119.6, 29.2], [119.5, 29.3],
                                                  [119.5, 29.2]]]}
    features = [{"type": "Feature", "properties": {"code": "330781999", "name": "坏<b>边界"}, "geometry": bowtie},
                {"type": "Feature", "properties": {"code": "330781998", "name": "空"}, "geometry": None}]
    upload = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    response = _upload(client, upload, parent=CITY, invalid="refuse")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="import-problems"' in page
    assert "330781999" in page and "330781998" in page and "坏&lt;b&gt;边界" in page
    response = client.get("/plan")
    assert "330781999" not in response.get_data(as_text=True)
    # the coordinate systems by the names planners know their files by (the selects showed "gcj02")
    assert '<option value="gcj02">GCJ-02（高德、腾讯地图）</option>' in response.get_data(as_text=True)


def test_communities_under_a_township_chosen_as_townships_are_refused_in_the_planners_words(client) -> None:
    """A plausible slip (level 乡镇/街道, parent 兰江街道) stored two communities as townships of a township."""
    login(client, "planner")
    square = {"type": "Polygon", "coordinates": [[[119.47, 29.21], [119.48, 29.21], [119.48, 29.22], [119.47, 29.21]]]}
    features = [{"type": "Feature", "properties": {"code": "330781001201", "name": "社区"}, "geometry": square}]
    upload = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    page = _upload(client, upload, parent="330781001").get_data(as_text=True)
    assert "330781001 兰江街道（示意） 是乡镇/街道：乡镇/街道须位于更高一级的区划内" in page
    client.get("/plan?lang=en")
    english = _upload(client, upload, parent="330781001").get_data(as_text=True)
    assert "is a Township/subdistrict: a Township/subdistrict lies in a division of a higher level" in english


def test_one_division_imported_and_one_grid_read_in_the_singular_in_english(client, session) -> None:
    login(client, "planner")
    inner = func.ST_PointOnSurface(Division.geom)
    x, y = session.execute(select(func.ST_X(inner), func.ST_Y(inner)).where(Division.code == TOWNSHIP)).one()
    square = {"type": "Polygon", "coordinates": [[[x, y], [x + 0.002, y], [x + 0.002, y + 0.002], [x, y]]]}
    features = [{"type": "Feature", "properties": {"code": f"{TOWNSHIP}999", "name": "测试社区"}, "geometry": square}]
    client.get("/plan?lang=en")
    page = _upload(client, json.dumps({"type": "FeatureCollection", "features": features}).encode(),
                   parent=TOWNSHIP, level="community").get_data(as_text=True)
    assert "Imported 1 division: 1 created, 0 updated" in page
    generate_layout(session, CITY, f"{TOWNSHIP}999", target_area=10_000_000, method="square")
    session.commit()
    assert ">1 grid</span>" in client.get("/plan").get_data(as_text=True)


def test_upload_stores_nothing_in_the_database(client, session) -> None:
    login(client, "planner")
    count = session.scalar(select(func.count()).select_from(Division))
    response = _upload(client, b"{not json")
    assert response.status_code == 422 and 'id="import-problems"' in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Division)) == count


def test_export_downloads_the_layout(client, draft) -> None:
    login(client, "planner")
    response = client.get(f"/plan/layouts/{draft.id}/export?format=geojson")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    features = json.loads(response.data)["features"]
    assert features and {"code", "squad", "co_manager"} <= set(features[0]["properties"])
    assert client.get(f"/plan/layouts/{draft.id}/export?format=shp").data[:2] == b"PK"


def test_bulk_assignment_by_selected_codes(client, draft, session) -> None:
    login(client, "planner")
    token, data = _editor(client, draft.id)
    codes = session.scalars(select(Grid.code).where(Grid.layout_id == draft.id).order_by(Grid.code).limit(3)).all()
    squads, managers = ([p for p in data[kind] if p["here"]] for kind in ("squads", "coManagers"))
    assert [s["code"] for s in squads] == ["SQ330781102"]  # only the township's own are offered
    manager = managers[0]
    response = _post(client, token, f"/plan/api/layouts/{draft.id}/assign",
                     {"codes": codes, "squad": squads[0]["code"], "co_manager": manager["username"]})
    assert response.status_code == 200 and response.get_json()["assigned"] == 3
    elsewhere = next(s for s in data["squads"] if not s["here"])
    refused = _post(client, token, f"/plan/api/layouts/{draft.id}/assign", {"codes": codes, "squad": elsewhere["code"]})
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "outside_township"
    assert set(session.scalars(select(Grid.co_manager_id).where(Grid.layout_id == draft.id,
                                                                Grid.code.in_(codes)))) == {manager["id"]}
