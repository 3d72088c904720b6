"""/api/v1: take in, list, read and act on cases, and locate points, over real HTTP with real PostGIS."""

import pytest
from sqlalchemy import func, select

from grids.apikeys import create_key
from grids.errors import Conflict, Invalid
from grids.models import Category, Division
from tests.conftest import login

YOUBU = "330781102"
ZHUGE = "330781104"


def inner(db, code: str) -> tuple[float, float]:
    return db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                             func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == code)).one()


@pytest.fixture()
def key(db, app) -> str:
    return create_key(db, "330781", "hotline", "dispatcher")[1]


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def submit(client, raw: str, lon, lat, **extra):
    body = {"category": "E0101", "lon": lon, "lat": lat, "description": "垃圾满溢 <img src=x onerror=alert(1)>",
            **extra}
    return client.post("/api/v1/incidents", json=body, headers=bearer(raw))


def test_a_case_is_taken_in_routed_and_readable_with_its_history(client, db, key) -> None:
    lon, lat = inner(db, YOUBU)
    created = submit(client, key, lon, lat, reporter_contact="138 0000 0000")
    assert created.status_code == 201, created.json
    case = created.json
    assert case["status"] == "reported" and case["township"] == YOUBU and case["department"] == "sanitation"
    assert case["owner_type"] == "department" and not case["needs_triage"] and case["grid"].startswith(YOUBU)
    assert "owner: department" in case["routing_reason"]
    assert created.headers["Location"] == f"/api/v1/incidents/{case['id']}"
    detail = client.get(created.headers["Location"], headers=bearer(key)).json
    assert detail["description"].startswith("垃圾满溢 <img") and detail["reporter_contact"] == "138 0000 0000"
    assert [e["action"] for e in detail["events"]] == ["report"]


def test_gcj02_points_are_converted_and_the_input_is_recorded(client, db, key) -> None:
    from gis.crs import from_wgs84

    lon, lat = inner(db, YOUBU)
    case = submit(client, key, *from_wgs84(lon, lat, "gcj02"), crs="gcj02").json
    assert abs(case["lon"] - lon) < 1e-6 and case["input"]["crs"] == "gcj02"


@pytest.mark.parametrize(("lon", "lat", "code"), [
    (29.2, 119.5, "swapped_coordinates"), ("east", 29.2, "bad_coordinates"), (None, 29.2, "bad_coordinates"),
    (116.4, 39.9, "outside_city"), (119.5, 91, "bad_coordinates"), (119.5, "2_9.29", "bad_coordinates"),
])
def test_bad_points_get_422_with_an_actionable_message(client, key, lon, lat, code) -> None:
    response = submit(client, key, lon, lat)
    assert response.status_code == 422 and response.json["error"]["code"] == code
    assert response.json["error"]["message"]


def test_keys_are_required_checked_and_revocable(client, db, key) -> None:
    from grids.apikeys import revoke_key

    assert client.get("/api/v1/incidents").status_code == 401
    assert client.get("/api/v1/incidents", headers=bearer("glk_guess")).status_code == 401
    assert client.get("/api/v1/incidents", headers=bearer(key)).status_code == 200
    revoke_key(db, "330781", "hotline")
    assert client.get("/api/v1/incidents", headers=bearer(key)).status_code == 401
    with pytest.raises(Conflict, match="was revoked; names are not reused"):
        create_key(db, "330781", "hotline", "dispatcher")


@pytest.mark.parametrize(("city", "name", "code"), [
    ("999999", "hotline-2", "unknown_city"), ("330781", " ", "bad_key_name"), ("330781", "x" * 101, "bad_key_name")])
def test_a_key_for_no_city_or_without_a_usable_name_is_refused_in_words(db, city, name, code) -> None:
    """These printed an 88-line database traceback (city, length) or made a key nobody could name (blank)."""
    with pytest.raises(Invalid) as refused:
        create_key(db, city, name, "dispatcher")
    assert refused.value.code == code


def test_a_key_in_the_address_of_the_json_api_is_refused_saying_how_to_send_it(client, key) -> None:
    """/api/v1?api_key=... worked, and left the key in every proxy's access log."""
    refused = client.get(f"/api/v1/incidents?api_key={key}")
    assert refused.status_code == 400 and refused.json["error"]["code"] == "key_in_query"
    assert "Authorization: Bearer" in refused.json["error"]["message"]
    both = client.get(f"/api/v1/incidents?api_key={key}", headers=bearer(key))  # the header does not unlog it
    assert both.status_code == 400 and both.json["error"]["code"] == "key_in_query"


def test_a_key_is_rate_limited(client, db, monkeypatch) -> None:
    monkeypatch.setattr("grids.apikeys.time.time", lambda: 1_800_000_030.0)  # one minute, whenever it runs
    raw = create_key(db, "330781", "tight", "viewer", rate_per_minute=2)[1]
    answers = [client.get("/api/v1/incidents", headers=bearer(raw)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60  # what client libraries wait by
    open311 = client.post("/open311/v2/requests.json", data={"api_key": raw, "service_code": "E0101"})
    assert open311.status_code == 429 and open311.headers["Retry-After"].isdigit()


def test_list_filters_by_status_category_township_bbox_and_pages(client, db, key) -> None:
    lon, lat = inner(db, YOUBU)
    ids = [submit(client, key, lon, lat).json["id"] for _ in range(3)]
    listed = client.get(f"/api/v1/incidents?township={YOUBU}&category=E0101&status=reported&per_page=2",
                        headers=bearer(key)).json
    assert listed["total"] >= 3 and len(listed["items"]) == 2 and listed["items"][0]["id"] == ids[-1]
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    in_box = client.get(f"/api/v1/incidents?bbox={box}&per_page=100", headers=bearer(key)).json
    assert set(ids) <= {i["id"] for i in in_box["items"]}
    assert client.get("/api/v1/incidents?bbox=1,2,3", headers=bearer(key)).status_code == 422
    assert client.get("/api/v1/incidents?per_page=1000", headers=bearer(key)).status_code == 422


def test_the_list_takes_the_exports_filters_and_refuses_what_would_silently_match_nothing(client, db, key) -> None:
    """category=E01 (a major class) listed nothing and an unknown code, since, source and triage=yes were
    ignored or matched nothing: the list now reads its query as the export does."""
    lon, lat = inner(db, YOUBU)
    made = submit(client, key, lon, lat).json["id"]

    def ids(query: str) -> set[int]:
        answer = client.get(f"/api/v1/incidents?per_page=100&{query}", headers=bearer(key))
        assert answer.status_code == 200, answer.json
        return {item["id"] for item in answer.json["items"]}

    assert made in ids("category=E01") and made in ids("source=api") and made not in ids("triage=true")
    assert made not in ids("source=open311")  # a channel no case may have come by yet: listed empty, not refused
    today = db.scalar(select(func.timezone("Asia/Shanghai", func.now()))).date()
    assert made in ids(f"since={today}") and made not in ids(f"until={today.replace(year=today.year - 1)}")
    for query, code in (("category=ZZZ", "bad_filter"), ("source=fax", "bad_filter"), ("since=yesterday", "bad_filter"),
                        ("bbox=a,b,c,d", "bad_bbox"), ("catgory=E0101", "bad_filter"),
                        ("per_page=%D9%A3", "bad_paging")):
        answer = client.get(f"/api/v1/incidents?{query}", headers=bearer(key))
        assert answer.status_code == 422 and answer.json["error"]["code"] == code, query
    misspelt = client.get("/api/v1/incidents/export.csv?catgory=E0101", headers=bearer(key))  # answered every case
    assert misspelt.status_code == 422 and misspelt.json["error"]["details"] == ["catgory"]
    assert ids("status=reported&status=closed") == ids("status=reported,closed") > ids("status=closed")


def test_a_system_syncs_the_cases_changed_since_its_last_call_by_the_event_cursor(client, db, key) -> None:
    """Neither API could say what changed since a time: a hotline system re-read every case to sync."""
    lon, lat = inner(db, YOUBU)
    quiet, busy = (submit(client, key, lon, lat).json for _ in range(2))
    cursor = client.get("/api/v1/incidents?per_page=1", headers=bearer(key)).json["last_event"]
    assert client.get(f"/api/v1/incidents?after_event={cursor}", headers=bearer(key)).json["items"] == []
    filed = client.post(f"/api/v1/incidents/{busy['id']}/actions", json={"action": "file", "version": 1},
                        headers=bearer(key))
    assert filed.status_code == 200, filed.json
    changed = client.get(f"/api/v1/incidents?after_event={cursor}", headers=bearer(key)).json
    assert [item["id"] for item in changed["items"]] == [busy["id"]] and changed["last_event"] > cursor
    assert quiet["id"] not in {item["id"] for item in changed["items"]}
    touched = client.post(f"/api/v1/incidents/{quiet['id']}/actions", json={"action": "file", "version": 1},
                          headers=bearer(key))
    assert touched.status_code == 200  # a step taken while the client pages through the first answer
    page_two = client.get(f"/api/v1/incidents?after_event={cursor}&through_event={changed['last_event']}",
                          headers=bearer(key)).json
    assert [item["id"] for item in page_two["items"]] == [busy["id"]]  # the same range on every page
    assert page_two["last_event"] == changed["last_event"]
    twice = client.get(f"/api/v1/incidents?township={YOUBU}&township=330781104", headers=bearer(key))
    assert twice.status_code == 422 and twice.json["error"]["code"] == "repeated_field"  # not the first kept
    for bad in ("-1", "abc", "99999999999999999999"):
        refused = client.get(f"/api/v1/incidents?after_event={bad}", headers=bearer(key))
        assert refused.status_code == 422 and refused.json["error"]["details"] == ["after_event"], bad


def test_a_field_given_twice_in_the_json_body_is_refused_naming_it(client, db, key) -> None:
    """The last value won: {"lat": 29.29, "lat": 39.9} was stored at whichever came last."""
    lon, lat = inner(db, YOUBU)
    body = f'{{"category": "E0101", "lon": {lon}, "lat": {lat}, "lat": {lat + 0.001}}}'
    answer = client.post("/api/v1/incidents", data=body, content_type="application/json", headers=bearer(key))
    assert answer.status_code == 422 and answer.json["error"]["code"] == "repeated_field"
    assert answer.json["error"]["details"] == ["lat"]


def test_actions_over_http_conflict_illegal_forbidden_and_zone(client, db, key) -> None:
    lon, lat = inner(db, ZHUGE)
    case = submit(client, key, lon, lat).json
    url = f"/api/v1/incidents/{case['id']}/actions"
    filed = client.post(url, json={"action": "file", "version": 1}, headers=bearer(key))
    assert filed.status_code == 200 and filed.json["status"] == "filed" and filed.json["deadline_at"]
    stale = client.post(url, json={"action": "dispatch", "version": 1}, headers=bearer(key))
    assert stale.status_code == 409 and stale.json["error"]["message"] == "case changed, reload"
    illegal = client.post(url, json={"action": "close", "version": 2}, headers=bearer(key))
    assert illegal.status_code == 422 and illegal.json["error"]["code"] == "illegal_action"
    as_text = client.post(url, json={"action": "dispatch", "version": "2"}, headers=bearer(key))
    assert as_text.status_code == 422 and as_text.json["error"]["code"] == "bad_field"  # was "version is required"
    assert "a whole number such as 3, not '2'" in as_text.json["error"]["message"]
    login(client, "officer")  # 游埠镇's squad: the 诸葛镇 case is not in its zone
    assert client.get(f"/api/v1/incidents/{case['id']}").status_code == 404
    assert client.post(url, json={"action": "dispatch", "version": 2}).status_code == 404
    assert case["id"] not in {i["id"] for i in client.get("/api/v1/incidents?per_page=100").json["items"]}


def test_a_session_changes_data_only_with_json_and_its_role(client, db, key) -> None:
    lon, lat = inner(db, YOUBU)
    case = submit(client, key, lon, lat).json
    url = f"/api/v1/incidents/{case['id']}/actions"
    login(client, "officer")
    assert client.post(url, data={"action": "file", "version": 1}).status_code == 403
    forbidden = client.post(url, json={"action": "file", "version": 1})
    assert forbidden.status_code == 403 and forbidden.json["error"]["code"] == "role_forbidden"
    login(client, "dispatcher")
    assert client.post(url, json={"action": "file", "version": 1}).json["version"] == 2


def test_locate_answers_path_owner_and_reason(client, db, key) -> None:
    lon, lat = inner(db, YOUBU)
    where = client.get(f"/api/v1/locate?lon={lon}&lat={lat}&category=E0503", headers=bearer(key)).json
    assert [d["level"] for d in where["divisions"]] == ["city", "township"]
    assert where["squad"]["code"] == f"SQ{YOUBU}" and where["department"]["code"] == "traffic_police"
    assert not where["needs_triage"] and where["grid"]["code"].startswith(YOUBU) and where["co_manager"]
    assert f"grid {where['grid']['code']}" in where["routing_reason"]
    bad = client.get("/api/v1/locate?lon=nan&lat=29.2", headers=bearer(key))
    assert bad.status_code == 422 and "finite" in bad.json["error"]["message"]
    assert client.get(f"/api/v1/locate?lon={lon}&lat={lat}&category=nope", headers=bearer(key)).status_code == 422


def test_an_unknown_status_filter_is_refused_naming_the_statuses(client, key) -> None:
    answer = client.get("/api/v1/incidents?status=reported,bogus", headers=bearer(key))
    assert answer.status_code == 422 and answer.json["error"]["code"] == "bad_filter"
    assert "bogus" in answer.json["error"]["message"] and "dispatched" in answer.json["error"]["message"]


def test_an_address_only_case_is_placed_by_the_centre_and_routed_there(client, db, key) -> None:
    form = {"api_key": key, "service_code": "E0101", "description": "某路口垃圾", "address_string": "游埠镇老街"}
    created = client.post("/open311/v2/requests.json", data=form)  # Open311 may send an address alone
    assert created.status_code == 201, created.json
    case_id = int(created.json[0]["service_request_id"])
    before = client.get(f"/api/v1/incidents/{case_id}", headers=bearer(key)).json
    assert before["needs_triage"] and before["grid"] is None
    version = before["version"]
    url = f"/api/v1/incidents/{case_id}/actions"
    lon, lat = inner(db, YOUBU)
    outside = client.post(url, json={"action": "relocate", "version": version, "lon": 116.4, "lat": 39.9},
                          headers=bearer(key))
    assert outside.status_code == 422 and outside.json["error"]["code"] == "outside_city"
    placed = client.post(url, json={"action": "relocate", "version": version, "lon": lon, "lat": lat,
                                    "note": "按地址定位"}, headers=bearer(key))
    assert placed.status_code == 200, placed.json
    case = placed.json
    assert not case["needs_triage"] and case["grid"].startswith(YOUBU) and case["township"] == YOUBU
    assert case["department"] == "sanitation" and case["status"] == "reported"
    history = client.get(f"/api/v1/incidents/{case_id}", headers=bearer(key)).json
    assert history["version"] == version + 1


HUGE = "100000000000000000000"  # past a bigint


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/incidents", {"category": "E0101", "lon": 119.72, "lat": 29.29, "description": "nul\x00byte"},
     "description"),
    ("/api/v1/incidents?category=E01%00", None, "category"),
    ("/api/v1/incidents?township=33%00", None, "township"),
    ("/api/v1/locate?lon=119.72&lat=29.29&category=E%00", None, "category"),
    ("/open311/v2/requests.json?service_code=E%00", None, "service_code"),
])
def test_a_nul_character_anywhere_gets_422_naming_the_field(client, key, path, body, field) -> None:
    """PostgreSQL text cannot hold U+0000: refused up front on every surface, never a 500."""
    answer = (client.post(path, json=body, headers=bearer(key)) if body is not None
              else client.get(path, headers=bearer(key)))
    assert answer.status_code == 422
    if path.startswith("/api/"):
        assert answer.json["error"]["code"] == "nul_character" and answer.json["error"]["details"] == [field]
        assert "空字符（U+0000）" in answer.json["error"]["display"]
    else:
        assert field in answer.json[0]["description"]


def test_a_lone_surrogate_or_json_nested_too_deep_is_refused_not_500(client, key) -> None:
    body = '{"category": "E0101", "lon": 119.72, "lat": 29.29, "description": "x\\ud800"}'
    surrogate = client.post("/api/v1/incidents", data=body, content_type="application/json", headers=bearer(key))
    assert surrogate.status_code == 422 and surrogate.json["error"]["code"] == "bad_character"
    error = surrogate.json["error"]
    assert error["details"]["fields"] == ["description"] and "U+D800" in error["message"]
    deep = client.post("/api/v1/incidents", data="[" * 100_000 + "]" * 100_000, content_type="application/json",
                       headers=bearer(key))
    assert deep.status_code == 422 and deep.json["error"]["code"] == "bad_json"
    assert "nested too deeply" in deep.json["error"]["message"]


@pytest.mark.parametrize(("body", "says"), [
    (b'{"category": "E0101", "lon": 119.72,\n "lat": 29.29,}', "not JSON (Expecting property name enclosed in double "
                                                              "quotes at line 2 column 15)"),
    ('{"category": "E0101", "description": "垃圾"}'.encode("gbk"), "not UTF-8 (byte 38"),
    (b'[{"category": "E0101"}]', "a JSON array, not an object"),
    ("\ufeff[1]".encode(), "a JSON array, not an object")])  # a BOM, as Flask reads it: not a syntax error
def test_a_body_that_is_no_json_object_is_refused_saying_where(client, key, body, says) -> None:
    """All three got the same 'send a JSON object with Content-Type: application/json', which the caller had."""
    answer = client.post("/api/v1/incidents", data=body, content_type="application/json", headers=bearer(key))
    assert answer.status_code == 422 and answer.json["error"]["code"] == "bad_json"
    assert says in answer.json["error"]["message"]


def test_a_repeated_external_id_names_the_case_that_has_it(client, db, key) -> None:
    lon, lat = inner(db, YOUBU)
    first = submit(client, key, lon, lat, external_id="12345-2026-0001")
    again = submit(client, key, lon, lat, external_id="12345-2026-0001")
    assert again.status_code == 409 and again.json["error"]["details"] == {"id": first.json["id"]}
    spaced = submit(client, key, lon, lat, external_id=" 12345-2026-0001 ")  # was stored as another id
    assert spaced.status_code == 409 and spaced.json["error"]["details"] == {"id": first.json["id"]}


def test_a_category_is_found_whatever_its_letter_case_as_the_import_finds_it(client, db, key) -> None:
    lon, lat = inner(db, YOUBU)
    for named in ("e0101", " Exposed garbage ", "E0101 暴露垃圾"):
        created = submit(client, key, lon, lat, category=named)
        assert created.status_code == 201 and created.json["category"] == "E0101", (named, created.json)


def test_of_two_codes_differing_in_letter_case_the_one_written_so_is_taken(client, db, key) -> None:
    garbage = db.scalar(select(Category).where(Category.code == "E0101"))
    db.add(Category(city_code=garbage.city_code, code="e0101", name="小写编码", type="event",
                    parent_id=garbage.parent_id, time_limit="2h"))
    db.flush()
    lon, lat = inner(db, YOUBU)
    for written in ("e0101", "E0101", " e0101 "):
        created = submit(client, key, lon, lat, category=written)
        assert created.status_code == 201 and created.json["category"] == written.strip(), created.json


@pytest.mark.parametrize(("path", "status"), [
    (f"/api/v1/incidents?page={HUGE}", 422), (f"/api/v1/incidents/{HUGE}", 404),
    (f"/open311/v2/requests/{HUGE}.json", 404), (f"/open311/v2/requests.json?service_request_id={HUGE}", 422),
    ("/open311/v2/requests.json?start_date=9999-12-31T00:00:00Z", 422),
    ("/open311/v2/requests.json?end_date=0001-01-01T00:00:00Z", 422),
])
def test_numbers_and_dates_past_their_range_are_refused_not_500(client, key, path, status) -> None:
    assert client.get(path, headers=bearer(key)).status_code == status


def test_a_misspelt_field_is_refused_not_lost(client, db, key) -> None:
    lon, lat = inner(db, "330781102")
    answer = submit(client, key, lon, lat, adress="游埠镇老街口")
    assert answer.status_code == 422 and answer.json["error"]["details"] == ["adress"]
    assert "address" in answer.json["error"]["message"]


@pytest.mark.parametrize("bbox", ["nan,nan,nan,nan", "119,29,inf,30", "120,29,119,30", "119,29,120"])
def test_a_bbox_that_is_no_box_is_refused(client, key, bbox) -> None:
    answer = client.get(f"/api/v1/incidents?bbox={bbox}", headers=bearer(key))
    assert answer.status_code == 422 and answer.json["error"]["code"] == "bad_bbox"


def test_an_unknown_coordinate_system_is_named_as_such(client, db, key) -> None:
    lon, lat = inner(db, "330781102")
    answer = submit(client, key, lon, lat, crs="foo")
    assert answer.status_code == 422 and answer.json["error"]["code"] == "unknown_crs"
    assert "“foo”" in answer.json["error"]["display"] and "gcj02" in answer.json["error"]["message"]


def test_a_department_sees_a_case_routed_to_it_only_once_it_is_dispatched(client, db, key) -> None:
    """Until 立案 and 派遣 the case is the centre's: the department's inbox, list, export and case page agree
    (the list and the export showed it from the report on)."""
    lon, lat = inner(db, YOUBU)
    case = submit(client, key, lon, lat).json
    assert case["department"] == "sanitation"  # the rules' suggestion
    login(client, "department")
    listed = {item["id"] for item in client.get("/api/v1/incidents?per_page=100").json["items"]}
    exported = client.get("/api/v1/incidents/export.csv").get_data(as_text=True)
    assert case["id"] not in listed and f"\n{case['id']}," not in exported
    assert client.get(f"/api/v1/incidents/{case['id']}").status_code == 404
    for action in ("file", "dispatch"):
        version = client.get(f"/api/v1/incidents/{case['id']}", headers=bearer(key)).json["version"]
        chosen = {"department": "sanitation"} if action == "dispatch" else {}
        client.post(f"/api/v1/incidents/{case['id']}/actions", json={"action": action, "version": version, **chosen},
                    headers=bearer(key))
    listed = {item["id"] for item in client.get("/api/v1/incidents?per_page=100").json["items"]}
    assert case["id"] in listed
    escalate = client.post(f"/api/v1/incidents/{case['id']}/actions", json={"action": "escalate", "version": 3})
    assert escalate.status_code == 403 and escalate.json["error"]["display"].endswith("需要：派遣员或值班长。")


def test_a_pages_own_api_calls_speak_the_pages_language_not_the_browsers(client, db) -> None:
    """A browser preferring English, a page in Chinese (no language chosen): its refusals stayed English."""
    login(client, "dispatcher")
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    answer = client.post("/api/v1/incidents/999999/actions", json={"action": "file", "version": 1},
                         headers=english_browser)
    assert answer.status_code == 404 and answer.json["error"]["display"] == "没有这个案件，或它不在你的辖区内。"


def test_a_case_parked_before_it_was_dispatched_is_not_the_departments(client, db, key) -> None:
    """Routed to 环卫 by the rules, filed and parked (挂账) by the centre: never dispatched, so not theirs."""
    lon, lat = inner(db, YOUBU)
    case = submit(client, key, lon, lat).json
    url = f"/api/v1/incidents/{case['id']}/actions"
    assert client.post(url, json={"action": "file", "version": 1}, headers=bearer(key)).status_code == 200
    supervisor = create_key(db, "330781", "leader", "supervisor")[1]
    parked = client.post(url, json={"action": "park", "version": 2, "reason": "冬季停工"}, headers=bearer(supervisor))
    assert parked.status_code == 200 and parked.json["status"] == "parked"
    login(client, "department")
    assert client.get(f"/api/v1/incidents/{case['id']}").status_code == 404
    assert f'data-case="{case["id"]}"' not in client.get("/department").get_data(as_text=True)


def test_a_body_of_many_made_up_keys_is_refused_in_a_line_not_read_for_minutes(client, db) -> None:
    """Finding repeated keys counted each name anew: 60,000 keys (769 KB) held a worker 35 s, even from a
    read-only key, and the answer listed every key (1.5 MB)."""
    viewer = create_key(db, "330781", "probe", "viewer")[1]
    lon, lat = inner(db, YOUBU)
    body = {"category": "E0101", "lon": lon, "lat": lat, **{f"k{i}": 1 for i in range(60_000)}}
    answer = client.post("/api/v1/incidents", json=body, headers=bearer(viewer))
    assert answer.status_code in (403, 422)
    assert len(answer.get_data()) < 2000, "the refusal names a few keys and how many more, not all of them"
    keys = ", ".join(f'"k{i % 30_000}": 1' for i in range(60_000))  # each name twice, inside an allowed field
    repeated = f'{{"category": "E0101", "lon": {lon}, "lat": {lat}, "description": {{{keys}}}}}'
    answer = client.post("/api/v1/incidents", data=repeated, content_type="application/json", headers=bearer(viewer))
    assert answer.json["error"]["code"] == "repeated_field" and len(answer.json["error"]["details"]) == 10
    assert "and 29990 more" in answer.json["error"]["message"]


def test_an_action_refuses_fields_it_does_not_take_instead_of_recording_them(client, db, key) -> None:
    """dispatch with duration=5d answered 200, kept the category's limit, and wrote the 5d on its event."""
    lon, lat = inner(db, YOUBU)
    case = submit(client, key, lon, lat).json
    url = f"/api/v1/incidents/{case['id']}/actions"
    assert client.post(url, json={"action": "file", "version": 1, "reason": "来电核实"},  # a reason is a note
                       headers=bearer(key)).status_code == 200
    answer = client.post(url, json={"action": "dispatch", "version": 2, "duration": "5d", "lon": lon},
                         headers=bearer(key))
    assert answer.status_code == 422 and answer.json["error"]["details"] == ["duration", "lon"]
    assert "action dispatch takes action, department, note, reason, version" in answer.json["error"]["message"]
    events = client.get(f"/api/v1/incidents/{case['id']}", headers=bearer(key)).json["events"]
    assert [e["action"] for e in events] == ["report", "file"]
    assert client.post(url, json={"action": "dispatch", "version": 2, "department": "sanitation"},
                       headers=bearer(key)).status_code == 200


def test_a_role_that_may_never_take_an_action_is_told_so_whatever_version_it_quotes(client, db, key) -> None:
    """A viewer quoting an old version was told to reload and retry (409), and got its 403 only after that."""
    lon, lat = inner(db, YOUBU)
    case = submit(client, key, lon, lat).json
    viewer = create_key(db, "330781", "wall screen", "viewer")[1]
    for version in (999, 1):
        answer = client.post(f"/api/v1/incidents/{case['id']}/actions",
                             json={"action": "escalate", "version": version}, headers=bearer(viewer))
        assert answer.status_code == 403 and answer.json["error"]["code"] == "role_forbidden"


@pytest.mark.parametrize("query, refused", [("catgory=E0101", "bad_filter"), ("crs=gcj02&crs=wgs84", "repeated_field"),
                                            ("lon=119.70", "repeated_field")])
@pytest.mark.parametrize("path", ["/api/v1/locate", "/api/v1/incidents/nearby"])
def test_locate_and_nearby_refuse_a_misspelt_or_repeated_parameter(client, db, key, path, query, refused) -> None:
    """locate?catgory=E0101 answered the owner without the category (a squad, not the sanitation department)."""
    lon, lat = inner(db, YOUBU)
    answer = client.get(f"{path}?lon={lon}&lat={lat}&category=E0101&{query}", headers=bearer(key))
    assert answer.status_code == 422 and answer.json["error"]["code"] == refused
    assert client.get(f"{path}?lon={lon}&lat={lat}&category=E0101", headers=bearer(key)).status_code == 200


def test_an_empty_date_filter_is_no_bound_as_the_other_empty_filters(client, db, key) -> None:
    """The export's documented URL, copied with its filters left empty, answered 422 for since=."""
    lon, lat = inner(db, YOUBU)
    made = submit(client, key, lon, lat).json["id"]
    for path in ("/api/v1/incidents", "/api/v1/incidents/export.csv"):
        answer = client.get(f"{path}?status=&category=&township=&since=&until=&source=", headers=bearer(key))
        assert answer.status_code == 200 and str(made) in answer.get_data(as_text=True)


def test_the_steps_other_calls_take_are_refused_here_naming_the_call(client, db, key) -> None:
    """absorb_duplicate sent with its `duplicate` answered missing_fields: duplicate, for the field it was sent."""
    lon, lat = inner(db, YOUBU)
    case = submit(client, key, lon, lat).json
    answer = client.post(f"/api/v1/incidents/{case['id']}/actions", headers=bearer(key),
                         json={"action": "absorb_duplicate", "version": 1, "duplicate": 1})
    assert answer.status_code == 422 and answer.json["error"]["code"] == "bad_action"
    assert "duplicate-of" in answer.json["error"]["message"]
