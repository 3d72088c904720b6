"""A case about a component (部件), named by its 16-digit code, over /api/v1 and Open311."""

import pytest

from gis.crs import from_wgs84
from grids.apikeys import create_key
from grids.demo import DAMAGED_COMPONENT
from grids.models import Department, Incident
from tests.webapp.test_open311 import valid

ESTATE_LAMP = "3307810103000009"  # a demo lamp whose estate registered no maintainer


@pytest.fixture()
def key(db, app) -> str:
    return create_key(db, "330781", "hotline", "dispatcher")[1]


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_a_case_naming_a_component_needs_no_coordinates_and_goes_to_its_maintainer(client, db, key) -> None:
    created = client.post("/api/v1/incidents", headers=bearer(key), json={
        "category": "C0102", "component_code": DAMAGED_COMPONENT, "description": "井盖松动，有响声"})
    assert created.status_code == 201, created.json
    case = created.json
    assert case["department"] == "utilities" and case["owner_type"] == "department"
    assert case["grid"].startswith("330781102") and case["lon"] is not None
    assert f"maintainer of component {DAMAGED_COMPONENT}" in case["routing_reason"]
    assert db.get(Incident, case["id"]).component_id is not None
    assert case["component"] == DAMAGED_COMPONENT
    assert client.get(f"/api/v1/incidents/{case['id']}", headers=bearer(key)).json["component"] == DAMAGED_COMPONENT


def test_a_component_without_maintainer_is_routed_by_the_rules(client, key) -> None:
    case = client.post("/api/v1/incidents", headers=bearer(key), json={
        "category": "C0103", "component_code": ESTATE_LAMP, "description": "路灯不亮"}).json
    assert case["department"] == "construction"
    assert f"component {ESTATE_LAMP} has no maintainer" in case["routing_reason"]


def test_an_unknown_component_code_gets_422_naming_the_fix(client, key) -> None:
    refused = client.post("/api/v1/incidents", headers=bearer(key), json={
        "category": "C0102", "component_code": "3307810102999999", "description": "井盖"})
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "unknown_component"
    assert "gridlink components import" in refused.json["error"]["message"]


def test_without_coordinates_or_component_the_api_names_both_ways_to_give_a_place(client, key) -> None:
    refused = client.post("/api/v1/incidents", headers=bearer(key), json={"category": "E0101", "description": "x"})
    assert refused.status_code == 422 and refused.json["error"]["code"] == "missing_location"
    assert "send lon and lat, or the 16-digit code of a component" in refused.json["error"]["message"]
    half = client.post("/api/v1/incidents", headers=bearer(key), json={"category": "E0101", "lat": 29.2})
    assert half.status_code == 422 and half.json["error"]["code"] == "bad_coordinates"


def test_locate_by_component_answers_its_place_and_maintainer(client, db, key) -> None:
    where = client.get(f"/api/v1/locate?component={DAMAGED_COMPONENT}", headers=bearer(key)).json
    assert where["component"]["code"] == DAMAGED_COMPONENT and where["department"]["code"] == "utilities"
    assert where["grid"]["code"].startswith("330781102") and where["input"]["crs"] is None
    near = client.get(f"/api/v1/locate?lon={where['lon']}&lat={where['lat']}&category=C0102",
                      headers=bearer(key)).json
    assert near["component"] is None and near["suggested_component"]["code"] == DAMAGED_COMPONENT
    wrong = client.get(f"/api/v1/locate?component={DAMAGED_COMPONENT}&category=E0101", headers=bearer(key))
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "component_class_mismatch"  # as on report


def test_open311_takes_the_component_as_an_attribute_of_component_services(client, db) -> None:
    definition = client.get("/open311/v2/services/C0102.json").json
    valid("service-definition.json", definition)
    assert [a["code"] for a in definition["attributes"]] == ["component_code"]
    assert client.get("/open311/v2/services/E0101.json").json["attributes"] == []
    services = {s["service_code"]: s for s in client.get("/open311/v2/services.json").json}
    assert services["C0102"]["metadata"] is True and services["E0101"]["metadata"] is False
    raw = create_key(db, "330781", "fixmystreet", "reporter")[1]
    created = client.post("/open311/v2/requests.json", data={
        "api_key": raw, "service_code": "C0102", "attribute[component_code]": DAMAGED_COMPONENT,
        "description": "井盖松动", "jurisdiction_id": "330781"})
    assert created.status_code == 201, created.json
    incident = db.get(Incident, int(created.json[0]["service_request_id"]))
    assert db.get(Department, incident.department_id).code == "utilities" and not incident.needs_triage
    answer = client.get(f"/open311/v2/requests/{incident.id}.json").json
    valid("requests.json", answer)
    assert answer[0]["agency_responsible"] == "水务集团 供水排水"


def test_a_component_of_another_class_is_refused_not_routed_to_its_maintainer(client, db, key) -> None:
    """A 暴露垃圾 report naming a manhole's code went to the water company and sat at the manhole; now the
    caller is told the component's class, on /api/v1 and Open311 alike, and no case is stored."""
    before = db.query(Incident).count()
    refused = client.post("/api/v1/incidents", headers=bearer(key), json={
        "category": "E0101", "component_code": DAMAGED_COMPONENT, "description": "垃圾"})
    assert refused.status_code == 422 and refused.json["error"]["code"] == "component_class_mismatch"
    assert f"component {DAMAGED_COMPONENT} is a " in refused.json["error"]["message"]
    assert "report it under C0102" in refused.json["error"]["message"]
    assert "请按该类上报" in refused.json["error"]["display"]
    open311 = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "E0101", "attribute[component_code]": DAMAGED_COMPONENT})
    assert open311.status_code == 422 and "report it under C0102" in open311.json[0]["description"]
    assert db.query(Incident).count() == before


def test_open311_takes_a_crs_for_citizen_apps_on_chinese_maps(client, db, key) -> None:
    """An app on Amap sends GCJ-02: with crs=gcj02 the point is converted (300-600 m off otherwise), as on
    /api/v1, and the refusal's advice to check crs can be followed."""
    where = client.get(f"/api/v1/locate?component={DAMAGED_COMPONENT}", headers=bearer(key)).json
    lon, lat = from_wgs84(where["lon"], where["lat"], "gcj02")
    created = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "E0101", "lat": lat, "long": lon, "crs": "gcj02", "description": "垃圾"})
    assert created.status_code == 201, created.json
    case = client.get(f"/api/v1/incidents/{created.json[0]['service_request_id']}", headers=bearer(key)).json
    assert case["input"]["crs"] == "gcj02"
    assert abs(case["lon"] - where["lon"]) < 1e-5 and abs(case["lat"] - where["lat"]) < 1e-5


def test_a_case_stored_with_a_component_of_another_class_can_still_be_relocated(client, db, key) -> None:
    """Cases stored before the class check (or whose component a re-imported register moved to another class)
    are refused nothing when the centre moves them: the check is the report's."""
    from grids.components import component_by_code

    where = client.get(f"/api/v1/locate?component={DAMAGED_COMPONENT}", headers=bearer(key)).json
    case = client.post("/api/v1/incidents", headers=bearer(key), json={
        "category": "E0101", "lon": where["lon"], "lat": where["lat"], "description": "垃圾"}).json
    db.get(Incident, case["id"]).component_id = component_by_code(db, "330781", DAMAGED_COMPONENT).id
    db.flush()
    moved = client.post(f"/api/v1/incidents/{case['id']}/actions", headers=bearer(key), json={
        "action": "relocate", "version": case["version"], "lon": where["lon"] + 0.0001, "lat": where["lat"]})
    assert moved.status_code == 200, moved.json
    far = client.post(f"/api/v1/incidents/{case['id']}/actions", headers=bearer(key), json={  # 1 km: not a report
        "action": "relocate", "version": moved.json["version"], "lon": where["lon"] + 0.01, "lat": where["lat"]})
    assert far.status_code == 200, far.json


def test_a_point_far_from_the_component_it_names_is_refused_saying_how_far(client, db, key) -> None:
    """A code mistyped by a digit named a component 25 km away: the case went to its maintainer, in another
    township, without a word. A point a few metres off (a phone's fix) is still taken."""
    at = client.get(f"/api/v1/locate?component={DAMAGED_COMPONENT}", headers=bearer(key)).json
    far = client.get(f"/api/v1/locate?component={DAMAGED_COMPONENT}&lon={at['lon'] + 0.01}&lat={at['lat']}",
                     headers=bearer(key))
    assert far.status_code == 422 and far.json["error"]["code"] == "component_far"
    assert far.json["error"]["details"]["distance_m"] > 900 and "send the code alone" in far.json["error"]["message"]
    report = {"category": "C0102", "component_code": DAMAGED_COMPONENT, "lon": at["lon"] + 0.01, "lat": at["lat"]}
    assert client.post("/api/v1/incidents", headers=bearer(key), json=report).status_code == 422
    near = client.post("/api/v1/incidents", headers=bearer(key), json={**report, "lon": at["lon"] + 0.0003})
    assert near.status_code == 201 and near.json["component"] == DAMAGED_COMPONENT
