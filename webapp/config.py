"""Configuration from environment variables, with a clear message for anything missing.

Why modes: `demo` and `test` must start from nothing (a generated SECRET_KEY kept under var/), while
`production` must refuse to start without the operator's own secret.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grids.cluster import PROJECT_ROOT
from grids.errors import ConfigError

MODES = ("production", "demo", "test")
SECRET_FILE = PROJECT_ROOT / "var" / "secret_key"

# name -> (default, meaning); the README's configuration table is this list.
SETTINGS: dict[str, tuple[str | None, str]] = {
    "GRIDLINK_MODE": ("production", "production, demo or test; demo/test generate a SECRET_KEY under var/"),
    "SECRET_KEY": (None, "signs sessions and CSRF tokens; required in production"),
    "DATABASE_URL": (None, "PostgreSQL+PostGIS URL; unset = the embedded cluster under var/postgres"),
    "GRIDLINK_DB_PORT": (None, "port of the embedded cluster (default derived from the checkout path)"),
    "GRIDLINK_CITY": ("330781", "6-digit code of the city this server serves (Open311 jurisdiction_id)"),
    "GRIDLINK_BASEMAP_URL": (None, "XYZ tile URL template of the basemap; unset = plain background, no "
                                   "request leaves the server's origin"),
    "GRIDLINK_BASEMAP_ATTRIBUTION": ("", "attribution shown for the basemap"),
    "GRIDLINK_DATA_ATTRIBUTION": (None, "who the city's boundaries and grids come from, shown on every map and in "
                                        "the footer; unset = the demo's sources for the demo city 330781, none "
                                        "for another"),
    "GRIDLINK_UPLOAD_DIR": (None, "where case and inspection photos are stored; unset = var/uploads of the checkout"),
    "GRIDLINK_HOST": ("127.0.0.1", "address `gridlink serve` listens on"),
    "GRIDLINK_PORT": ("5000", "port `gridlink serve` listens on"),
    "GRIDLINK_SECURE_COOKIES": (None, "1/0: Secure flag on cookies; default on in production (needs HTTPS)"),
    "GRIDLINK_SWEEP_SECONDS": ("60", "how often `gridlink serve` runs the overdue sweep (督办); 0 = never (use cron "
                                     "with `gridlink sla sweep`)"),
    "GRIDLINK_ANONYMOUS_RATE": ("120", "Open311 reads without an API key: requests a minute per client address, "
                                       "beyond it 429 `rate_limited`; 0 refuses them all"),
    "GRIDLINK_PROXIES": ("0", "reverse proxies in front of the server: the client's address (for that limit) and "
                              "scheme are read from their X-Forwarded-For/-Proto; 0: the connection's own address"),
}


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value not in (None, "") else SETTINGS[name][0]


def _whole(env: Mapping[str, str], name: str, hint: str) -> int:
    value = _env(env, name)
    if not (value or "").isdigit():
        raise ConfigError(f"{name}={value!r} must be a whole number ({hint})")
    return int(value or 0)


def _generated_secret() -> str:
    """A secret generated once per checkout and kept, so demo sessions survive a restart."""
    if SECRET_FILE.exists():
        return SECRET_FILE.read_text().strip()
    SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    SECRET_FILE.write_text(secret)
    SECRET_FILE.chmod(0o600)
    return secret


TRANSLATIONS = Path(__file__).parent / "translations"


def translation_domains() -> dict[str, str]:
    """One gettext domain per feature catalog (messages.po, plan.po ...), merged by Flask-Babel.

    Why several: each surface keeps its own catalog, so work on one page never conflicts with another's.
    """
    domains = sorted({p.stem for p in TRANSLATIONS.glob("*/LC_MESSAGES/*.po")}) or ["messages"]
    return {"BABEL_DOMAIN": ";".join(domains),
            "BABEL_TRANSLATION_DIRECTORIES": ";".join([str(TRANSLATIONS)] * len(domains))}


def load_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask config built from the environment; raises ConfigError naming the missing setting."""
    env = os.environ if env is None else env
    mode = _env(env, "GRIDLINK_MODE")
    if mode not in MODES:
        raise ConfigError(f"GRIDLINK_MODE={mode!r} is not one of {', '.join(MODES)}")
    secret = _env(env, "SECRET_KEY")
    if not secret:
        if mode == "production":
            raise ConfigError("SECRET_KEY is not set: export SECRET_KEY=<a long random string> "
                              "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`), "
                              "or run with GRIDLINK_MODE=demo")
        secret = _generated_secret()
    basemap, attribution = _env(env, "GRIDLINK_BASEMAP_URL"), _env(env, "GRIDLINK_BASEMAP_ATTRIBUTION")
    if basemap and not attribution:  # tile licences (OSM, Tianditu, Amap) require their credit on the map
        raise ConfigError("GRIDLINK_BASEMAP_URL is set but GRIDLINK_BASEMAP_ATTRIBUTION is not: export it with "
                          "the credit the tiles' licence requires (e.g. '© 天地图' or '© OpenStreetMap contributors')")
    secure = _env(env, "GRIDLINK_SECURE_COOKIES")
    secure_cookies = mode == "production" if secure is None else secure == "1"
    return {
        "GRIDLINK_MODE": mode,
        "SECRET_KEY": secret,
        "DATABASE_URL": _env(env, "DATABASE_URL"),
        "GRIDLINK_CITY": _env(env, "GRIDLINK_CITY"),
        "GRIDLINK_BASEMAP_URL": basemap,
        "GRIDLINK_BASEMAP_ATTRIBUTION": attribution,
        "GRIDLINK_DATA_ATTRIBUTION": _env(env, "GRIDLINK_DATA_ATTRIBUTION"),
        "GRIDLINK_UPLOAD_DIR": _env(env, "GRIDLINK_UPLOAD_DIR"),
        "GRIDLINK_SWEEP_SECONDS": _whole(env, "GRIDLINK_SWEEP_SECONDS", "seconds; 0 disables"),
        "GRIDLINK_ANONYMOUS_RATE": _whole(env, "GRIDLINK_ANONYMOUS_RATE", "requests a minute"),
        "GRIDLINK_PROXIES": _whole(env, "GRIDLINK_PROXIES", "how many proxies; 0 when clients connect directly"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        # A page's CSRF token lasts as long as the login (the session cookie), not Flask-WTF's default hour: a
        # department inbox or dispatch board stays open all day, and its actions must not start failing at 10:00.
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 60 * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        **translation_domains(),
        "TESTING": mode == "test",
    }
