"""Configuration errors, health check, error rendering and security headers."""

import io

import pytest
from sqlalchemy import create_engine, func, select, text

from grids.apikeys import create_key
from grids.errors import ConfigError
from grids.models import Incident
from webapp import create_app
from webapp.config import load_config


def test_production_without_secret_key_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_config({"GRIDLINK_MODE": "production"})


def test_unknown_mode_is_named() -> None:
    with pytest.raises(ConfigError, match="GRIDLINK_MODE='staging'"):
        load_config({"GRIDLINK_MODE": "staging"})


@pytest.mark.parametrize(("name", "value"), [("GRIDLINK_PROXIES", "one"), ("GRIDLINK_ANONYMOUS_RATE", "-5"),
                                             ("GRIDLINK_SWEEP_SECONDS", "1.5")])
def test_a_number_setting_that_is_no_whole_number_stops_start_up_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}='{value}' must be a whole number"):
        load_config({"GRIDLINK_MODE": "demo", name: value})


def test_demo_mode_generates_and_keeps_a_secret() -> None:
    first = load_config({"GRIDLINK_MODE": "demo"})["SECRET_KEY"]
    assert len(first) >= 32 and load_config({"GRIDLINK_MODE": "demo"})["SECRET_KEY"] == first


def test_production_cookies_are_secure() -> None:
    config = load_config({"GRIDLINK_MODE": "production", "SECRET_KEY": "x" * 40})
    assert config["SESSION_COOKIE_SECURE"] and config["SESSION_COOKIE_HTTPONLY"]


def test_a_login_link_in_english_stays_english_after_logging_in(client) -> None:
    """/login?lang=en (a link sent to an English-speaking colleague): the pages after the login are English too."""
    from tests.conftest import login

    assert "Log in" in client.get("/login?lang=en").get_data(as_text=True)
    landing = login(client, "dispatcher")
    page = client.get(landing.headers["Location"]).get_data(as_text=True)
    assert "Dispatch" in page and "指挥调度" not in page


def test_a_basemap_without_its_attribution_stops_start_up_naming_the_setting() -> None:
    basemap = {"GRIDLINK_MODE": "demo", "GRIDLINK_BASEMAP_URL": "https://tiles.example.cn/{z}/{x}/{y}.png"}
    with pytest.raises(ConfigError, match="GRIDLINK_BASEMAP_ATTRIBUTION is not"):
        load_config(basemap)
    assert load_config({**basemap, "GRIDLINK_BASEMAP_ATTRIBUTION": "© 天地图"})["GRIDLINK_BASEMAP_ATTRIBUTION"]


def test_the_language_cookie_is_secure_when_the_session_cookie_is(app) -> None:
    client = app.test_client()
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        cookie = client.get("/lang/en").headers["Set-Cookie"]
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False
    assert "lang=en" in cookie and "Secure" in cookie and "HttpOnly" in cookie


def test_healthz_reports_database_and_postgis(client) -> None:
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["postgis"].startswith("3.")


def test_healthz_names_the_fix_when_postgis_is_missing(empty_database_url: str) -> None:
    app = create_app({"DATABASE_URL": empty_database_url, "SECRET_KEY": "t", "GRIDLINK_MODE": "test"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert "gridlink db upgrade" in response.get_json()["message"]


def test_logging_in_before_any_city_is_loaded_says_what_to_run(empty_database_url: str) -> None:
    """A fresh install, migrated but empty: the login answers 503 with the command that sets the city up (it
    used to fail with 500 recording the failed login for a city that does not exist), and writes nothing."""
    from grids.migrate import upgrade
    from tests.conftest import login

    upgrade(empty_database_url)
    app = create_app({"DATABASE_URL": empty_database_url, "SECRET_KEY": "t", "GRIDLINK_MODE": "test",
                      "GRIDLINK_CITY": "330781"})
    response = login(app.test_client(), "dispatcher")
    assert response.status_code == 503
    assert "gridlink demo load" in response.get_data(as_text=True)
    engine = create_engine(empty_database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_throttle")).scalar() == 0
    engine.dispose()


def test_unreachable_database_gives_503_not_500() -> None:
    app = create_app({"DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:1/none", "SECRET_KEY": "t"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "unavailable" and error["message"].startswith("the database is unavailable")


def test_a_transaction_that_lost_a_race_is_a_conflict_to_retry_not_a_database_down(app, client) -> None:
    """PostgreSQL rolls back one of two deadlocked transactions: the database is up, the caller retries."""
    from webapp import db

    @app.get("/api/v1/lost-race")
    def lost_race():  # the error PostgreSQL raises for the deadlock's victim
        db().execute(text("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = 'deadlock_detected'; END $$"))

    error = client.get("/api/v1/lost-race")
    assert error.status_code == 409 and error.get_json()["error"]["code"] == "concurrent_change"
    assert "reload them and try again" in error.get_json()["error"]["message"]


def test_api_errors_are_json_and_pages_are_html(client) -> None:
    assert client.get("/api/v1/no-such-thing").get_json()["error"]["code"] == "not_found"
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "text/html" in page.content_type


def test_security_headers_and_csp_without_unsafe_inline_scripts(client) -> None:
    headers = client.get("/login").headers
    csp = headers["Content-Security-Policy"]
    script_src = next(part for part in csp.split(";") if "script-src" in part)
    assert "unsafe-inline" not in script_src and "'nonce-" in script_src
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"


def test_an_upload_over_the_limit_says_the_limit_with_a_valid_policy(app, client) -> None:
    """A body past MAX_CONTENT_LENGTH is refused before any hook ran: the page names the limit and its CSP
    carries no empty nonce (which the browser reports as an invalid source)."""
    app.config["MAX_CONTENT_LENGTH"] = 1024
    refused = client.post("/login", data={"username": "x" * 4096})
    assert refused.status_code == 413 and "上传的内容太大" in refused.get_data(as_text=True)
    assert "'nonce-'" not in refused.headers["Content-Security-Policy"]


def test_a_json_body_past_a_megabyte_is_refused_as_it_arrives(client) -> None:
    """Reports and actions are a few KB: a 3 MB JSON body (of 60 MB allowed for photo uploads) was read and
    parsed before its 422; now it is 413 naming the JSON limit, before the key is even checked."""
    body = '{"category": "E0101", "description": "' + "x" * (3 * 1024 * 1024) + '"}'
    refused = client.post("/api/v1/incidents", data=body, content_type="application/json",
                          headers={"Accept-Language": "zh"})
    assert refused.status_code == 413 and refused.json["error"]["code"] == "request_entity_too_large"
    assert refused.json["error"]["display"] == "上传的内容太大：每次最多 1 MB。"
    assert refused.json["error"]["message"] == "the request body is over its limit of 1 MB"  # for programs
    chunked = client.post("/api/v1/incidents", input_stream=io.BytesIO(body.encode()),  # no Content-Length:
                          content_type="application/json",  # Werkzeug stopped reading at 1 MB, and the cut
                          environ_overrides={"wsgi.input_terminated": True},  # body was 422 bad_json
                          headers={"Transfer-Encoding": "chunked"})
    assert chunked.status_code == 413, chunked.json


def test_a_chunked_form_past_the_limit_is_refused_not_cut_into_a_case(app, client, db) -> None:
    """A chunked Open311 form past the limit was cut there without a word, and a case was made of its start
    (its description, sent after the padding, lost)."""
    app.config["MAX_CONTENT_LENGTH"] = 4096
    key = create_key(db, "330781", "citizen app", "reporter")[1]
    before = db.scalar(select(func.count()).select_from(Incident))
    form = f"api_key={key}&service_code=E0101&lat=29.21&long=119.46&pad={'x' * 8192}&description=must-not-be-lost"
    cut = client.post("/open311/v2/requests.json", input_stream=io.BytesIO(form.encode()),
                      content_type="application/x-www-form-urlencoded",
                      environ_overrides={"wsgi.input_terminated": True},
                      headers={"Transfer-Encoding": "chunked"})
    assert cut.status_code == 413 and cut.json[0]["code"] == 413
    assert db.scalar(select(func.count()).select_from(Incident)) == before


def test_the_pages_pool_survives_a_database_restart(database_url, demo_city, connection) -> None:
    """RELIABILITY 19: after PostgreSQL restarts (here: every connection of the app's pools terminated by the
    server), the next requests succeed on fresh connections; no stale one is used."""
    from sqlalchemy import func, select

    from grids.models import Division, User

    backends = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND backend_type = 'client backend'")
    others = set(connection.scalars(backends))
    app = create_app({"DATABASE_URL": database_url, "GRIDLINK_MODE": "test", "SECRET_KEY": "test-secret",
                      "GRIDLINK_CITY": "330781"})
    try:
        client = app.test_client()
        with client.session_transaction() as session:
            session["user_id"] = connection.scalar(select(User.id).where(User.username == "dispatcher"))
        inside = func.ST_PointOnSurface(Division.geom)
        lon, lat = connection.execute(select(func.ST_X(inside), func.ST_Y(inside))
                                      .where(Division.code == "330781102")).one()
        url = f"/api/v1/locate?lon={lon}&lat={lat}"
        assert client.get(url).status_code == 200
        connection.execute(text("SELECT pg_stat_clear_snapshot()"))  # a transaction reads one snapshot of the stats
        pids = set(connection.scalars(backends)) - others  # the app's own
        assert pids and all(connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": p}) for p in pids)
        for _ in range(3):
            assert client.get(url).json["township"]["code"] == "330781102"
    finally:
        app.extensions["gridlink.sessions"].kw["bind"].dispose()
        app.extensions["gridlink.reads"].dispose()
