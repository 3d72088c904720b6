"""附近已有同类案件 and 标记为重复 over HTTP: suggestions within the caller's zone, linking with 409 on stale."""

import pytest

from grids.apikeys import create_key
from tests.conftest import login
from tests.grids.test_duplicates import METRE, spot  # noqa: F401 (fixture)
from tests.webapp.test_api import bearer


@pytest.fixture()
def key(db, app) -> str:
    return create_key(db, "330781", "hotline", "dispatcher")[1]


def submit(client, key: str, lon: float, lat: float, category: str = "E0101") -> dict:
    body = {"category": category, "lon": lon, "lat": lat, "description": "垃圾满溢"}
    created = client.post("/api/v1/incidents", json=body, headers=bearer(key))
    assert created.status_code == 201, created.json
    return created.json


def nearby(client, key: str, lon: float, lat: float, **extra):
    return client.get("/api/v1/incidents/nearby", query_string={"category": "E0101", "lon": lon, "lat": lat,
                                                                 **extra}, headers=bearer(key))


def test_nearby_lists_same_category_cases_with_distance_and_age(client, key, spot) -> None:  # noqa: F811
    lon, lat = spot
    first = submit(client, key, lon, lat + 20 * METRE)
    submit(client, key, lon, lat + 80 * METRE)
    submit(client, key, lon, lat, category="E0102")
    answer = nearby(client, key, lon, lat)
    assert answer.status_code == 200
    [item] = answer.json["items"]
    assert item["id"] == first["id"] and 19 < item["distance_m"] < 21 and item["age_hours"] < 1


def test_nearby_checks_its_inputs(client, key, spot) -> None:  # noqa: F811
    lon, lat = spot
    assert nearby(client, key, lon, lat, category="NOPE").status_code == 422
    assert nearby(client, key, lat, lon).status_code == 422
    assert client.get("/api/v1/incidents/nearby").status_code == 401


def test_marking_a_duplicate_links_it_and_a_stale_version_gets_409(client, key, spot) -> None:  # noqa: F811
    lon, lat = spot
    original, duplicate = submit(client, key, lon, lat), submit(client, key, lon, lat + 10 * METRE)
    url = f"/api/v1/incidents/{duplicate['id']}/duplicate-of"
    stale = client.post(url, json={"original": original["id"], "version": duplicate["version"] + 1},
                        headers=bearer(key))
    assert stale.status_code == 409
    linked = client.post(url, json={"original": original["id"], "version": duplicate["version"]},
                         headers=bearer(key))
    assert linked.status_code == 200 and linked.json["status"] == "cancelled"
    events = client.get(f"/api/v1/incidents/{original['id']}", headers=bearer(key)).json["events"]
    assert events[-1]["action"] == "absorb_duplicate"
    login(client, "dispatcher")  # the drawer's history names the other case, in words, and no status change
    taken_in = client.get(f"/dispatch/cases/{original['id']}").json["history"][-1]
    assert (taken_in["action_label"], taken_in["to_status"]) == (f"合并重复上报（#{duplicate['id']}）", None)
    cancelled = client.get(f"/dispatch/cases/{duplicate['id']}").json["history"][-1]
    assert (cancelled["action_label"], cancelled["to_status"]) == (f"作废（重复于 #{original['id']}）", "已作废")
    assert [i["id"] for i in nearby(client, key, lon, lat).json["items"]] == [original["id"]]
    assert client.post(url, json={"original": original["id"]}, headers=bearer(key)).status_code == 422


def test_a_merged_duplicates_phone_number_is_only_for_the_roles_that_see_contacts(client, db, key, spot) -> None:  # noqa: F811
    """The original's history names the other reporter's contact: a co-manager (no CONTACT_ROLES) reading the
    case over the API must not get it there either."""
    lon, lat = spot
    original = submit(client, key, lon, lat)
    duplicate = client.post("/api/v1/incidents", headers=bearer(key), json={
        "category": "E0101", "lon": lon, "lat": lat + 10 * METRE, "description": "又一处",
        "reporter_contact": "139 1234 5678"}).json
    client.post(f"/api/v1/incidents/{duplicate['id']}/duplicate-of",
                json={"original": original["id"], "version": duplicate["version"]}, headers=bearer(key))
    as_centre = client.get(f"/api/v1/incidents/{original['id']}", headers=bearer(key)).json["events"][-1]
    assert as_centre["data"]["reporter_contact"] == "139 1234 5678"
    login(client, "dispatcher")  # the drawer's 报告人联系方式 lists whom to call back about it
    drawer = client.get(f"/dispatch/cases/{original['id']}").json
    assert drawer["reporter_contact"] == f"139 1234 5678（重复上报 #{duplicate['id']}）"
    login(client, "co_manager")
    as_co_manager = client.get(f"/api/v1/incidents/{original['id']}")
    assert as_co_manager.status_code == 200 and "139 1234 5678" not in as_co_manager.get_data(as_text=True)
