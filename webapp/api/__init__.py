"""The machine edge: the JSON API under /api/v1 and Open311 GeoReport v2 under /open311/v2.

Both authenticate with keys or a session, never with a CSRF token (see principal.py for why that is
safe for cookie sessions too), so both blueprints are CSRF-exempt.
"""

from __future__ import annotations

from flask import Flask

from grids.apikeys import FixedWindowLimiter


def register(app: Flask) -> None:
    from webapp import csrf
    from webapp.api import open311, v1

    app.extensions["gridlink.ratelimit"] = FixedWindowLimiter()
    for blueprint in (v1.bp, open311.bp):
        csrf.exempt(blueprint)
        app.register_blueprint(blueprint)
