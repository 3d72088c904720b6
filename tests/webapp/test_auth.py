"""Login, logout, role navigation and the server-side permission matrix."""

import time
from datetime import UTC, datetime, timedelta

import itsdangerous
import pytest

from grids.errors import TooManyRequests, Unauthorized
from grids.org import authenticate, lockout_delay
from tests.conftest import csrf_token, login
from webapp.auth import PAGES, ROLE_PAGES

PAGE_PATHS = {"dispatch": "/dispatch", "township": "/township", "department": "/department", "plan": "/plan",
              "reports": "/reports"}


def test_dispatcher_login_reaches_the_dispatch_page(client) -> None:
    response = login(client, "dispatcher")
    assert response.status_code == 302 and response.headers["Location"].endswith("/dispatch")
    page = client.get("/dispatch").get_data(as_text=True)
    assert "指挥调度" in page and 'data-role="dispatcher"' in page


def test_wrong_password_and_unknown_user_get_the_same_answer(client) -> None:
    wrong_password = login(client, "dispatcher", "not-the-password")
    unknown_user = login(client, "nobody-here", "not-the-password")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert "用户名或密码错误" in wrong_password.get_data(as_text=True)
    assert wrong_password.get_data(as_text=True).count("alert") == unknown_user.get_data(as_text=True).count("alert")


def test_repeated_failures_are_slowed_down_even_with_the_right_password(client) -> None:
    for _ in range(3):
        assert login(client, "planner", "wrong-password").status_code == 401
    blocked = login(client, "planner")
    assert blocked.status_code == 429
    assert "请稍后再试" in blocked.get_data(as_text=True)


def test_backoff_doubles_and_expires(db, demo_city) -> None:
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            authenticate(db, "330781", "viewer", "wrong", now=t0)
    with pytest.raises(TooManyRequests):
        authenticate(db, "330781", "viewer", "gridlink-demo", now=t0 + timedelta(seconds=1))
    assert authenticate(db, "330781", "viewer", "gridlink-demo", now=t0 + lockout_delay(3)).username == "viewer"
    assert lockout_delay(4) == 2 * lockout_delay(3)


def test_login_form_without_csrf_token_is_refused(client) -> None:
    response = client.post("/login", data={"username": "dispatcher", "password": "gridlink-demo"})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)


def test_logout_ends_the_session(client) -> None:
    login(client, "dispatcher")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dispatch")})
    assert client.get("/dispatch").status_code == 302


def test_anonymous_visitor_is_sent_to_login(client) -> None:
    response = client.get("/plan")
    assert response.status_code == 302 and "/login?next=/plan" in response.headers["Location"]


def test_open_redirect_after_login_is_ignored(client) -> None:
    response = client.post("/login?next=//evil.example/", data={
        "username": "dispatcher", "password": "gridlink-demo", "csrf_token": csrf_token(client)})
    assert response.headers["Location"].endswith("/dispatch")


@pytest.mark.parametrize("role", sorted(ROLE_PAGES))
def test_each_role_sees_and_may_open_exactly_its_pages(client, role: str) -> None:
    assert login(client, role).status_code == 302
    home = client.get("/dispatch" if role == "admin" else "/about").get_data(as_text=True)
    shown = {key for key in PAGES if f'data-nav="{key}"' in home}
    assert shown == set(ROLE_PAGES[role])
    for key, path in PAGE_PATHS.items():
        allowed = role == "admin" or key in ROLE_PAGES[role]
        assert client.get(path).status_code == (200 if allowed else 403), (role, path)


def test_english_switch(client) -> None:
    login(client, "dispatcher")
    client.get("/lang/en")
    page = client.get("/dispatch").get_data(as_text=True)
    assert "<h1>Dispatch</h1>" in page and "Log out" in page
    client.get("/lang/zh_CN")
    assert "<h1>指挥调度</h1>" in client.get("/dispatch").get_data(as_text=True)


def test_a_page_left_open_for_hours_can_still_act(client, monkeypatch) -> None:
    """The department inbox and the dispatch board stay open all day: their token is the login's, not an
    hour's (Flask-WTF's default failed every action after an hour, in English)."""
    login(client, "dispatcher")
    token = csrf_token(client, "/dispatch")  # the page loaded at 7:00
    later = int(time.time()) + 5 * 3600
    monkeypatch.setattr(itsdangerous.TimestampSigner, "get_timestamp", lambda signer: later)  # acted at 12:00
    answer = client.post("/api/v1/incidents/999999/actions", data={"action": "file", "version": "1"},
                         headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    assert answer.status_code == 404  # past the token check: there is no such case
    forged = client.post("/api/v1/incidents/999999/actions", data={"action": "file", "version": "1"},
                         headers={"X-CSRFToken": "forged"}, content_type="multipart/form-data")
    assert forged.status_code == 403 and "刷新页面" in forged.json["error"]["display"]
