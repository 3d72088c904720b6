"""Open311 GeoReport v2: every JSON answer validates against the official schemas in shared/data/open311."""

import io
import json
from datetime import UTC, datetime
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from sqlalchemy import func, select

from grids.apikeys import create_key
from grids.incidents import Actor, record_event
from grids.models import Division, Incident, User
from grids.photos import photos_of
from grids.workflow import act
from tests.conftest import SHARED_DATA, csrf_token
from tests.webapp.test_intake import jpeg

SCHEMAS = {p.name: json.loads(p.read_text()) for p in (SHARED_DATA / "open311").glob("*.json")}
REGISTRY = Registry().with_resources(
    (name, Resource.from_contents(schema, default_specification=DRAFT7)) for name, schema in SCHEMAS.items())
ERRORS_SCHEMA = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["code", "description"],
    "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}


def valid(schema: str | dict, data) -> None:
    schema = SCHEMAS[schema] if isinstance(schema, str) else schema
    errors = list(Draft7Validator(schema, registry=REGISTRY).iter_errors(data))
    assert errors == [], [e.message for e in errors]


@pytest.fixture()
def api_key(db, app) -> str:
    return create_key(db, "330781", "fixmystreet", "reporter")[1]


@pytest.fixture()
def point(db, demo_city) -> tuple[float, float]:
    inner = func.ST_PointOnSurface(Division.geom)
    return db.execute(select(func.ST_X(inner), func.ST_Y(inner)).where(Division.code == "330781102")).one()


def post(client, key, point, **extra):
    form = {"api_key": key, "service_code": "E0101", "lat": point[1], "long": point[0],
            "description": "垃圾满溢", "jurisdiction_id": "330781", **extra}
    return client.post("/open311/v2/requests.json", data=form)


def test_services_and_definitions_validate_in_json_and_parse_in_xml(client) -> None:
    services = client.get("/open311/v2/services.json").json
    valid("services.json", services)
    garbage = next(s for s in services if s["service_code"] == "E0101")
    assert garbage["service_name"] == "暴露垃圾" and garbage["group"] == "市容环境"
    assert garbage["keywords"] == "暴露垃圾, Exposed garbage, 市容环境"  # words a citizen searches, not "event"
    assert garbage["description"].startswith("Exposed garbage")
    xml = ET.fromstring(client.get("/open311/v2/services.xml").data)
    assert xml.tag == "services" and "E0101" in {e.text for e in xml.iterfind("service/service_code")}
    valid("service-definition.json", client.get("/open311/v2/services/E0101.json").json)
    missing = client.get("/open311/v2/services/ZZZ.json")
    assert missing.status_code == 404
    valid(ERRORS_SCHEMA, missing.json)
    assert client.get("/open311/v2/discovery.json").json["endpoints"][0]["formats"]


def test_a_request_is_created_and_read_back_valid(client, api_key, point) -> None:
    created = post(client, api_key, point, email="a@example.org")
    assert created.status_code == 201
    request_id = created.json[0]["service_request_id"]
    one = client.get(f"/open311/v2/requests/{request_id}.json").json
    valid("requests.json", one)
    assert one[0]["status"] == "open" and one[0]["agency_responsible"] == "环境卫生管理处 环卫"
    assert one[0]["requested_datetime"].endswith("+00:00") and "reporter" not in json.dumps(one)
    listed = client.get("/open311/v2/requests.json?status=open&service_code=E0101").json
    valid("requests.json", listed)
    assert request_id in {r["service_request_id"] for r in listed}
    assert client.get("/open311/v2/requests.json?status=closed&service_code=E0101").json == []
    by_id = client.get(f"/open311/v2/requests.xml?service_request_id={request_id}")
    assert ET.fromstring(by_id.data).find("request/service_request_id").text == request_id


def test_an_address_only_request_waits_in_triage(client, api_key) -> None:
    created = client.post("/open311/v2/requests.json", data={"api_key": api_key, "service_code": "E0501",
                                                             "address_string": "兰江街道解放路 12 号"})
    assert created.status_code == 201 and created.json[0]["service_notice"].startswith("按地址定位")  # not 在网格外


@pytest.mark.parametrize(("change", "status"), [
    # the spec's statuses: 403 for a wrong or missing api_key, 404 for an unknown service_code or jurisdiction
    ({"api_key": ""}, 403), ({"api_key": "glk_wrong"}, 403), ({"jurisdiction_id": "110000"}, 404),
    ({"description": "x" * 4001}, 422), ({"lat": "", "long": ""}, 422), ({"service_code": "E01"}, 404),
    ({"service_code": ""}, 422),
    ({"lat": 91}, 422), ({"lat": 39.9, "long": 116.4}, 422), ({"description": "nul\x00byte"}, 422),
    ({"email": "a" * 190 + "@example.com", "phone": "13800000000"}, 422),  # cut short, the phone would be lost
])
def test_bad_submissions_get_errors_in_the_spec_format(client, api_key, point, change, status) -> None:
    response = post(client, api_key, point, **change)
    assert response.status_code == status
    valid(ERRORS_SCHEMA, response.json)


def test_date_windows_are_at_most_90_days_and_errors_have_an_xml_form(client) -> None:
    too_long = client.get("/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z")
    assert too_long.status_code == 422
    valid(ERRORS_SCHEMA, too_long.json)
    ok = client.get("/open311/v2/requests.json?start_date=2026-01-01T00:00:00%2B08:00&end_date=2026-02-01T00:00:00Z")
    assert ok.status_code == 200
    valid("requests.json", ok.json)
    xml_error = client.get("/open311/v2/requests.xml?status=pending")
    assert ET.fromstring(xml_error.data).find("error/code").text == "422"


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/open311/v2/requests/abc.json", 404), ("get", "/open311/v2/nothing.json", 404),
    ("delete", "/open311/v2/requests.json", 405), ("get", "/open311/v2/requests/abc.xml", 404),
])
def test_unknown_paths_and_methods_answer_in_the_spec_error_format(client, method, path, status) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    if path.endswith(".xml"):
        assert ET.fromstring(response.data).find("error/code").text == str(status)
    else:
        valid(ERRORS_SCHEMA, response.json)


def test_status_takes_a_comma_list(client) -> None:
    both = client.get("/open311/v2/requests.json?status=open,closed")
    assert both.status_code == 200 and {r["status"] for r in both.json} <= {"open", "closed"}
    assert len(both.json) == len(client.get("/open311/v2/requests.json").json)
    assert client.get("/open311/v2/requests.json?status=open,pending").status_code == 422


def test_a_filter_declared_several_times_keeps_every_value(client, api_key, point) -> None:
    """The spec: status "can be declared multiple times"; a repeated one used to keep only its first value."""
    post(client, api_key, point)
    assert len(client.get("/open311/v2/requests.json?status=open&status=closed").json) == \
        len(client.get("/open311/v2/requests.json?status=open,closed").json) > 0
    garbage = client.get("/open311/v2/requests.json?service_code=E0101").json
    assert len(client.get("/open311/v2/requests.json?service_code=E0101&service_code=e0501").json) == \
        len(client.get("/open311/v2/requests.json?service_code=E0101,E0501").json) >= len(garbage) > 0
    unknown = client.get("/open311/v2/requests.json?service_code=E0101&service_code=NOPE")
    assert unknown.status_code == 404 and "NOPE" in unknown.json[0]["description"]  # not [] as if none came


def test_an_end_date_without_a_time_holds_that_whole_day(client, api_key, point) -> None:
    created = post(client, api_key, point).json[0]["service_request_id"]
    today = client.get(f"/open311/v2/requests/{created}.json").json[0]["requested_datetime"]
    day = datetime.fromisoformat(today).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    listed = client.get(f"/open311/v2/requests.json?start_date={day}&end_date={day}").json
    assert created in {r["service_request_id"] for r in listed}
    assert client.get("/open311/v2/requests.json?start_date=2026-09-01&end_date=2026-11-30").status_code == 200
    assert client.get("/open311/v2/requests.json?start_date=2026-09-01&end_date=2026-12-01").status_code == 422


def test_errors_speak_the_language_the_client_names(client, api_key, point) -> None:
    """The spec means description for the user: a Chinese app gets Chinese, a client naming none our English."""
    far = {"lat": 39.9, "long": 116.4}
    assert "outside" in post(client, api_key, point, **far).json[0]["description"]
    form = {"api_key": api_key, "service_code": "E0101", "lat": 39.9, "long": 116.4}
    chinese = client.post("/open311/v2/requests.json", data=form, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert chinese.status_code == 422 and "边界之外" in chinese.json[0]["description"]
    french = client.post("/open311/v2/requests.json?lang=fr", data=form)  # a language we lack: our English
    assert "outside" in french.json[0]["description"]
    missing = client.get("/open311/v2/nothing.json")
    assert missing.headers["Access-Control-Allow-Origin"] == "*"  # a browser app can read why


def test_a_photo_sent_as_a_media_file_is_stored_with_the_request(client, db, api_key, point) -> None:
    """It used to be answered 201 and dropped; a file under another name is refused, not lost."""
    form = {"api_key": api_key, "service_code": "E0101", "lat": point[1], "long": point[0], "description": "带照片"}
    created = client.post("/open311/v2/requests.json", content_type="multipart/form-data",
                          data={**form, "media": (io.BytesIO(jpeg()), "photo.jpg")})
    assert created.status_code == 201
    case_id = int(created.json[0]["service_request_id"])
    assert [p.kind for p, _stale in photos_of(db, [case_id])[case_id]] == ["before"]
    wrong = client.post("/open311/v2/requests.json", content_type="multipart/form-data",
                        data={**form, "photo": (io.BytesIO(jpeg()), "photo.jpg")})
    assert wrong.status_code == 422 and "media" in wrong.json[0]["description"]
    text = client.post("/open311/v2/requests.json", content_type="multipart/form-data",
                       data={**form, "media": (io.BytesIO(b"not a photo"), "photo.jpg")})
    assert text.status_code == 422 and "photo.jpg" in text.json[0]["description"]


def test_a_replayed_answer_keeps_the_specs_element_order(client, api_key, point) -> None:
    form = {"api_key": api_key, "service_code": "E0101", "lat": point[1], "long": point[0]}
    answers = [client.post("/open311/v2/requests.xml", data=form, headers={"Idempotency-Key": "order-1"})
               for _ in range(2)]
    orders = [[e.tag for e in ET.fromstring(a.data).find("request")] for a in answers]
    assert orders[0] == orders[1] == ["service_request_id", "service_notice", "account_id"]


def test_a_list_says_how_many_requests_match_beyond_its_limit(client, api_key, point, monkeypatch) -> None:
    """At most MAX_REQUESTS come back, newest first; X-Total-Count tells a syncing client to narrow the window."""
    from webapp.api import open311

    for _ in range(3):
        assert post(client, api_key, point).status_code == 201
    monkeypatch.setattr(open311, "MAX_REQUESTS", 2)
    listed = client.get("/open311/v2/requests.json?service_code=E0101")
    assert len(listed.json) == 2 and int(listed.headers["X-Total-Count"]) >= 3


def test_each_listed_request_is_updated_at_its_own_latest_step(client, db, api_key, point) -> None:
    """updated_datetime is the request's last step (read for the whole list at once), not another's."""
    first, second = (int(post(client, api_key, point).json[0]["service_request_id"]) for _ in range(2))
    noted = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    record_event(db, db.get(Incident, first), "note", note="已电话回访", at=noted)
    listed = client.get(f"/open311/v2/requests.json?service_request_id={first},{second}").json
    valid("requests.json", listed)
    updated = {int(r["service_request_id"]): r["updated_datetime"] for r in listed}
    assert updated[first] == "2026-11-26T09:30:00+00:00"
    assert updated[second] == client.get(f"/open311/v2/requests/{second}.json").json[0]["requested_datetime"]


def test_another_jurisdiction_or_a_json_body_is_told_what_to_send(client, api_key, point) -> None:
    for path in ("/open311/v2/services.json?jurisdiction_id=110000",
                 "/open311/v2/services/E0101.json?jurisdiction_id=110000",
                 "/open311/v2/requests/1.json?jurisdiction_id=110000"):
        wrong = client.get(path)
        assert wrong.status_code == 404 and "330781" in wrong.json[0]["description"]
    as_json = client.post("/open311/v2/requests.json", json={"api_key": api_key, "service_code": "E0101",
                                                             "lat": point[1], "long": point[0]})
    assert as_json.status_code == 422 and "form-encoded" in as_json.json[0]["description"]
    valid(ERRORS_SCHEMA, as_json.json)


def test_discovery_xml_names_its_endpoints_and_formats_as_the_spec_shows(client) -> None:
    xml = ET.fromstring(client.get("/open311/v2/discovery.xml").data)
    assert xml.find("endpoints/endpoint/url") is not None
    assert {e.text for e in xml.iterfind("endpoints/endpoint/formats/format")} == {"application/json", "text/xml"}


def test_a_control_character_never_reaches_the_xml_lists(client, db, api_key, point) -> None:
    """One report holding U+000B (allowed in JSON, not in XML 1.0) made every XML list unreadable: refused up
    front like NUL; text an import stored before that is dropped from the XML."""
    refused = post(client, api_key, point, description="a\x0bb")
    assert refused.status_code == 422 and "U+000B" in refused.json[0]["description"]
    case_id = int(post(client, api_key, point).json[0]["service_request_id"])
    db.execute(Incident.__table__.update().where(Incident.id == case_id).values(description="旧\x0c数据"))
    got = ET.fromstring(client.get(f"/open311/v2/requests/{case_id}.xml").data)
    assert got.find("request/description").text == "旧数据"
    ET.fromstring(client.get("/open311/v2/requests.xml").data)  # the whole list parses


@pytest.mark.parametrize(("extra", "code"), [
    ({"address_string": "x" * 301}, "address"),  # was a 500: the column holds 300
    ({"description": "d" * 4001}, "description"),
])
def test_text_longer_than_a_case_keeps_is_refused_naming_the_field(client, api_key, point, extra, code) -> None:
    answer = post(client, api_key, point, **extra)
    assert answer.status_code == 422 and code in answer.json[0]["description"]


def test_ids_of_other_digits_than_ascii_are_refused_not_500(client) -> None:
    answer = client.get("/open311/v2/requests.json?service_request_id=%C2%B2")  # ², a digit to str.isdigit
    assert answer.status_code == 422
    valid(ERRORS_SCHEMA, answer.json)


@pytest.mark.parametrize("body", [
    "description=%B2%E2%CA%D4",  # 测试 in GBK, percent-encoded: was stored as the literal text %B2%E2%CA%D4
    "description=" + "测试".encode("gbk").decode("latin-1"),  # raw GBK bytes
])
def test_a_form_in_another_encoding_than_utf8_is_refused_saying_so(client, api_key, point, body) -> None:
    form = f"api_key={api_key}&service_code=E0101&lat={point[1]}&long={point[0]}&{body}"
    answer = client.post("/open311/v2/requests.json", data=form.encode("latin-1"),
                         content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and "UTF-8" in answer.json[0]["description"]
    declared = client.post("/open311/v2/requests.json", data=f"api_key={api_key}&description=x",
                           content_type="application/x-www-form-urlencoded; charset=gbk")
    assert declared.status_code == 400 and "charset=gbk" in declared.json[0]["description"]


def test_a_request_tells_when_it_is_expected_done_in_words_a_citizen_reads(client, db, api_key, point) -> None:
    """expected_datetime is the handling deadline (unknown before 派遣: null), not the running stage's (the
    1-hour filing clock of a new report); status_notes are words, not workflow codes."""
    request_id = int(post(client, api_key, point).json[0]["service_request_id"])
    fresh = client.get(f"/open311/v2/requests/{request_id}.json").json[0]
    assert fresh["expected_datetime"] is None and fresh["status_notes"] == "已上报"
    centre = Actor(city_code="330781", role="dispatcher", label="test")
    case = db.get(Incident, request_id)
    for action in ("file", "dispatch"):
        act(db, request_id, action, centre, case.version)
    sent = client.get(f"/open311/v2/requests/{request_id}.json").json[0]
    valid("requests.json", [sent])
    assert sent["expected_datetime"] == case.due_times["handle"]["due"] and sent["status_notes"] == "已派遣"
    assert datetime.fromisoformat(sent["expected_datetime"]) == case.deadline_at  # 处置 is the running stage now


def test_browsers_may_read_answers_and_a_wrong_method_names_the_right_ones(client) -> None:
    listed = client.get("/open311/v2/requests.json", headers={"Origin": "https://citizen.example"})
    assert listed.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Total-Count" in listed.headers["Access-Control-Expose-Headers"]
    preflight = client.options("/open311/v2/requests.json", headers={
        "Origin": "https://citizen.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "idempotency-key"})
    assert preflight.status_code == 200 and "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    wrong = client.put("/open311/v2/requests.json")
    assert wrong.status_code == 405 and set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert client.get("/api/v1/incidents").headers["WWW-Authenticate"].startswith("Bearer")


def test_a_date_without_an_offset_is_city_time_and_an_unencoded_plus_is_read(client, db, api_key, point) -> None:
    request_id = post(client, api_key, point).json[0]["service_request_id"]
    today = db.scalar(select(func.timezone("Asia/Shanghai", func.now()))).date().isoformat()
    for start in (today, f"{today}T00:00:00 08:00"):  # a + sent raw in a query string reads as a space
        answer = client.get(f"/open311/v2/requests.json?start_date={start}")
        assert answer.status_code == 200 and request_id in {r["service_request_id"] for r in answer.json}


def test_a_media_url_sent_with_a_request_is_kept_and_read_back(client, api_key, point) -> None:
    """A citizen app keeps its photo and sends the link: it was accepted and dropped (always null)."""
    link = "https://citizen.example/photos/垃圾.jpg"
    request_id = post(client, api_key, point, media_url=link).json[0]["service_request_id"]
    one = client.get(f"/open311/v2/requests/{request_id}.json").json
    valid("requests.json", one)
    assert one[0]["media_url"] == link
    xml = ET.fromstring(client.get(f"/open311/v2/requests/{request_id}.xml").data)
    assert xml.find("request/media_url").text == link
    for bad in ("javascript:alert(1)", "https://example.com/a b.jpg", "https:", "http://"):  # no URI to a strict client
        refused = post(client, api_key, point, media_url=bad)
        assert refused.status_code == 422 and "media_url" in refused.json[0]["description"], bad


def test_a_replayed_request_says_so_and_programs_get_their_language_without_a_cookie(client, api_key, point) -> None:
    form = {"api_key": api_key, "service_code": "E0101", "lat": point[1], "long": point[0]}
    first = client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "hotline-0001"})
    again = client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "hotline-0001"})
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    request_id = first.json[0]["service_request_id"]
    english = client.get(f"/open311/v2/requests/{request_id}.json", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert english.json[0]["status_notes"] == "Reported" and "Set-Cookie" not in english.headers
    asked = client.get(f"/open311/v2/requests/{request_id}.json?lang=en")
    assert asked.json[0]["status_notes"] == "Reported" and "Set-Cookie" not in asked.headers
    assert client.get(f"/open311/v2/requests/{request_id}.json").json[0]["status_notes"] == "已上报"


def test_a_form_posted_to_a_page_in_another_encoding_is_refused_too(client) -> None:
    """The check ran after CSRFProtect had parsed the form (the body was gone): pages' forms slipped past it."""
    token = csrf_token(client)
    answer = client.post("/login", data=f"csrf_token={token}&username=%B2%E2&password=x".encode(),
                         content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and "UTF-8" in answer.get_data(as_text=True)


def limited_app(connection, tmp_path, **config):
    from webapp import create_app

    return create_app({"DB_BIND": connection, "GRIDLINK_MODE": "test", "SECRET_KEY": "test-secret",
                       "GRIDLINK_CITY": "330781", "GRIDLINK_UPLOAD_DIR": str(tmp_path), **config})


@pytest.fixture()
def one_minute(monkeypatch) -> None:
    """The limiter's clock stands still mid-minute: a test run across a minute's end would start a new window."""
    monkeypatch.setattr("grids.apikeys.time.time", lambda: 1_800_000_030.0)


def test_reads_without_a_key_are_limited_per_address_and_a_key_lifts_it(connection, demo_city, db, tmp_path,
                                                                        one_minute) -> None:
    """The spec's GETs need no key: one address looping over requests.json had no limit at all."""
    client = limited_app(connection, tmp_path, GRIDLINK_ANONYMOUS_RATE=2).test_client()
    here = {"REMOTE_ADDR": "203.0.113.7"}
    answers = [client.get("/open311/v2/services.json", environ_base=here) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    valid(ERRORS_SCHEMA, answers[2].json)
    assert "send your api_key" in answers[2].json[0]["description"]
    elsewhere = client.get("/open311/v2/requests.xml", environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert elsewhere.status_code == 200  # another address has its own minute
    key = create_key(db, "330781", "citizen-app", "reporter")[1]
    assert client.get(f"/open311/v2/services.json?api_key={key}", environ_base=here).status_code == 200
    guesses = [client.get(f"/open311/v2/services.json?api_key=glk_{n}", environ_base={"REMOTE_ADDR": "192.0.2.9"})
               for n in range(3)]  # guessing keys is limited as reading without one
    assert [g.status_code for g in guesses] == [403, 403, 429]
    assert client.options("/open311/v2/requests.json", environ_base=here).status_code == 200  # a preflight


def test_an_ipv6_client_is_counted_by_its_network(connection, demo_city, tmp_path, one_minute) -> None:
    """Each IPv6 subscriber picks addresses from its /64 at will: a new one per request escaped the limit."""
    client = limited_app(connection, tmp_path, GRIDLINK_ANONYMOUS_RATE=1).test_client()
    statuses = [client.get("/open311/v2/services.json", environ_base={"REMOTE_ADDR": address}).status_code
                for address in ("2001:db8:1:2::1", "2001:db8:1:2:abcd::9", "2001:db8:1:3::1")]
    assert statuses == [200, 429, 200]


def test_the_address_comes_from_the_proxy_only_when_one_is_declared(connection, demo_city, tmp_path,
                                                                    one_minute) -> None:
    """Behind nginx every client has the proxy's address; without GRIDLINK_PROXIES a client cannot dodge the
    limit by sending its own X-Forwarded-For."""
    def statuses(app, forwarded_for: list[str]) -> list[int]:
        client = app.test_client()
        return [client.get("/open311/v2/discovery.json", headers={"X-Forwarded-For": f},
                           environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code for f in forwarded_for]

    clients = ["203.0.113.7", "203.0.113.8", "203.0.113.7"]
    assert statuses(limited_app(connection, tmp_path, GRIDLINK_ANONYMOUS_RATE=1), clients) == [200, 429, 429]
    behind = limited_app(connection, tmp_path, GRIDLINK_ANONYMOUS_RATE=1, GRIDLINK_PROXIES=1)
    assert statuses(behind, clients) == [200, 200, 429]


def test_a_field_sent_twice_is_refused_naming_it_and_no_case_is_made(client, db, api_key, point) -> None:
    before = db.scalar(select(func.count()).select_from(Incident))
    body = (f"api_key={api_key}&service_code=E0101&lat={point[1]}&long={point[0]}&lat=29.9&description=a"
            "&description=b")
    twice = client.post("/open311/v2/requests.json", data=body,
                        content_type="application/x-www-form-urlencoded")
    assert twice.status_code == 422 and twice.json[0]["code"] == 422
    assert "sent more than once: description, lat" in twice.json[0]["description"]
    valid(ERRORS_SCHEMA, twice.json)
    assert db.scalar(select(func.count()).select_from(Incident)) == before


@pytest.mark.parametrize("query, code", [("page=2", "bad_filter"), ("start_date=2026-11-01&start_date=2026-11-02",
                                                                    "repeated_field")])
def test_a_list_refuses_what_it_would_ignore_or_guess(client, query, code) -> None:
    """page=2 answered page 1 again (a client paging on it looped), and of two start_dates the first won."""
    refused = client.get(f"/open311/v2/requests.json?{query}")
    assert refused.status_code == 422 and refused.json[0]["code"] == 422
    valid(ERRORS_SCHEMA, refused.json)
    assert code.replace("_", " ").split()[-1] in refused.json[0]["description"] or "page" in refused.json[0][
        "description"]
    assert client.get("/open311/v2/requests.json?status=open&status=closed").status_code == 200  # a list: kept
    assert client.get("/open311/v2/requests/1.json?page=2").status_code == 422


def test_an_address_only_request_says_it_waits_in_triage_when_read_back_too(client, api_key) -> None:
    """The POST answer said 按地址定位，待指挥中心分拣; GET of the same request said nothing (null)."""
    created = client.post("/open311/v2/requests.json", data={"api_key": f" {api_key}\n", "service_code": "E0501",
                                                             "address_string": "兰江街道解放路 12 号"})
    assert created.status_code == 201  # a key pasted with a space and a line break, as a Bearer header may be
    number = created.json[0]["service_request_id"]
    read = client.get(f"/open311/v2/requests/{number}.json").json[0]
    assert read["service_notice"] == created.json[0]["service_notice"] and read["service_notice"].startswith("按地址")


@pytest.mark.parametrize("path, chinese", [("/open311/v2/requests.json?status=pending", "只能是 open、closed"),
                                           ("/open311/v2/requests.json?start_date=garbage", "start_date 须为 ISO 8601"),
                                           ("/open311/v2/requests/999999.json", "没有这个服务请求"),
                                           ("/open311/v2/requests.json?service_code=X99", "没有这个服务类别")])
def test_the_specs_errors_speak_chinese_to_a_chinese_client(client, path, chinese) -> None:
    answer = client.get(path, headers={"Accept-Language": "zh-CN"})
    assert chinese in answer.json[0]["description"]
    assert chinese not in client.get(path).json[0]["description"]  # a client naming no language: English


def test_swapped_coordinates_are_told_in_the_fields_of_the_spec(client, api_key, point) -> None:
    """The message said "send lon=119.4, lat=29.2"; an Open311 client has no lon field (it is long)."""
    swapped = post(client, api_key, point, lat=point[0], long=point[1])
    assert swapped.status_code == 422
    assert f"send {point[0]} as the longitude and {point[1]} as the latitude" in swapped.json[0]["description"]


def test_a_cancelled_request_no_longer_says_it_waits_in_triage(client, db, api_key) -> None:
    created = client.post("/open311/v2/requests.json", data={"api_key": api_key, "service_code": "E0501",
                                                             "address_string": "兰江街道解放路 12 号"}).json[0]
    number = int(created["service_request_id"])
    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    act(db, number, "cancel", dispatcher, db.get(Incident, number).version, reason="invalid")
    db.flush()
    read = client.get(f"/open311/v2/requests/{number}.json").json[0]
    assert (read["status"], read["service_notice"]) == ("closed", None)
