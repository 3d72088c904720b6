"""Login, logout, the current user, role checks and per-role navigation."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from grids.errors import Forbidden, TooManyRequests, Unauthorized
from grids.incidents import Actor
from grids.models import User
from grids.org import authenticate
from webapp import db, read_one

bp = Blueprint("auth", __name__)

# Pages of the platform: endpoint and label. Which role sees which is data, below.
PAGES = {
    "dispatch": ("dispatch.board", _l("指挥调度")),
    "township": ("township.home", _l("乡镇中队")),
    "department": ("pages.department", _l("部门待办")),
    "plan": ("plan.home", _l("网格规划")),
    "frontage": ("frontage.index", _l("门前三包")),
    "reports": ("pages.reports", _l("统计评价")),
    "about": ("pages.about", _l("关于与数据来源")),
}
ROLE_PAGES: dict[str, tuple[str, ...]] = {
    "admin": ("dispatch", "township", "department", "plan", "frontage", "reports", "about"),
    "dispatcher": ("dispatch", "frontage", "reports", "about"),
    "supervisor": ("dispatch", "frontage", "reports", "about"),
    "inspector": ("township", "frontage", "about"),
    "squad_leader": ("township", "frontage", "reports", "about"),
    "officer": ("township", "frontage", "about"),
    "co_manager": ("township", "frontage", "about"),
    "department": ("department", "reports", "about"),  # departments are ranked too: they see the tables
    "planner": ("plan", "frontage", "reports", "about"),
    "viewer": ("reports", "about"),
}


def nav_for(user: User | None) -> list[tuple[str, str, str]]:
    """(key, url, label) of the pages the user's role may open, in menu order."""
    if user is None:
        return []
    return [(key, url_for(PAGES[key][0]), str(PAGES[key][1])) for key in ROLE_PAGES[user.role]]


def current_user() -> User | None:
    if "user" not in g:
        user_id = session.get("user_id")
        user = db().get(User, user_id) if user_id else None
        g.user = user if user is not None and user.active else None
    return g.user


#: Seconds a read-only hot path (tiles) trusts a cached role and zone: deactivating a user or changing
#: their role or township reaches their tile requests within this; every page and write reads the user afresh.
VIEWER_TTL = 5.0


def cached_viewer() -> Actor | None:
    """The logged-in user's role and zone from a short-lived per-process cache, else one indexed read.

    A map pan asks for 10-20 tiles at once; loading the user through the ORM session for each (BEGIN,
    SELECT, COMMIT) cost more than most tiles' own query. The cache lives in the app (one per process,
    one per test) and is keyed by the session's user id, so logging in as someone else never reuses it.
    """
    user_id = session.get("user_id")
    if not user_id:
        return None
    cache: dict[int, tuple[float, Actor | None]] = current_app.extensions.setdefault("gridlink.viewers", {})
    now = time.monotonic()
    hit = cache.get(user_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = read_one(select(User.city_code, User.role, User.township_id, User.department_id, User.username)
                   .where(User.id == user_id, User.active))
    viewer = None if row is None else Actor(city_code=row.city_code, role=row.role, user_id=user_id,
                                            township_id=row.township_id, department_id=row.department_id,
                                            label=row.username)
    cache[user_id] = (now + VIEWER_TTL, viewer)
    return viewer


def require_roles(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse unless logged in with one of `roles` (admin always passes); checked on the server."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.path.startswith(("/api/", "/tiles/")):
                    raise Unauthorized("log in or send an API key")
                return redirect(url_for("auth.login", next=request.path))
            if user.role != "admin" and user.role not in roles:
                raise Forbidden("your role may not open this page", code="page_forbidden")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def home_url(user: User) -> str:
    return url_for(PAGES[ROLE_PAGES[user.role][0]][0])


def _safe_next(target: str | None) -> str | None:
    """Only local paths: an open redirect after login would help phishing."""
    return target if target and target.startswith("/") and not target.startswith("//") else None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    if request.method == "POST":
        try:
            user = authenticate(db(), current_app.config["GRIDLINK_CITY"], request.form.get("username", "").strip(),
                                request.form.get("password", ""))
        except (Unauthorized, TooManyRequests) as exc:
            db().commit()  # keep the failure count even though the answer is an error
            error, status = (_l("用户名或密码错误。") if isinstance(exc, Unauthorized)
                             else _l("登录失败次数过多，请稍后再试。")), exc.status
        else:
            session.clear()
            session["user_id"] = user.id
            return redirect(_safe_next(request.args.get("next")) or home_url(user))
    return render_template("login.html", error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"))
