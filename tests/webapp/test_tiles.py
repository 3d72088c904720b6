"""Vector tiles over the demo city: they decode, carry the expected features, respect zones, revalidate."""

import math
from datetime import timedelta

import mapbox_vector_tile
import pytest
from sqlalchemy import event, func, select, text, update

from grids.editing import copy_layout_as_draft
from grids.incidents import Actor
from grids.layouts import city_date, grid_at, publish_layout
from grids.models import Division, Grid, Incident, User
from grids.responsibility import create_responsibility_grid
from grids.workflow import BEFORE_DISPATCH, act, report
from tests.conftest import login
from webapp import auth, create_app

YOUBU = "330781102"
CITY = "330781"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile holding a point (Web Mercator, as Leaflet numbers them)."""
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


@pytest.fixture()
def city_tile(db) -> tuple[int, int, int]:
    """The zoom-7 tile holding all of Lanxi (so also its simplified, low-zoom geometry)."""
    lon, lat = db.execute(select(func.ST_X(func.ST_Centroid(Division.geom)), func.ST_Y(func.ST_Centroid(Division.geom)))
                          .where(Division.level == "city")).one()
    return tile_of(lon, lat, 7)


def features(client, layer: str, tile: tuple[int, int, int], query: str = "") -> list[dict]:
    response = client.get("/tiles/{}/{}/{}/{}.pbf".format(layer, *tile) + query)
    assert response.status_code in (200, 204)
    if response.status_code == 204:
        return []
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.data)[layer]["features"]


def test_divisions_and_cases_tiles_decode_with_plain_properties(client, city_tile) -> None:
    login(client, "dispatcher")
    townships = [f for f in features(client, "divisions", city_tile) if f["properties"]["level"] == "township"]
    assert len(townships) >= 6
    assert {"code", "name", "level"} <= set(townships[0]["properties"])
    cases = features(client, "cases", city_tile)
    assert len(cases) >= 5
    assert {"status", "category", "deadline"} <= set(cases[0]["properties"])
    assert cases[0]["properties"]["deadline"] in ("none", "on_time", "due_soon", "overdue")
    assert all("description" not in c["properties"] for c in cases)


def test_squad_user_gets_only_their_township(client, db, city_tile) -> None:
    login(client, "squad_leader")
    youbu = db.scalar(select(Division.id).where(Division.code == YOUBU))
    own = set(db.scalars(select(Incident.id).where(Incident.township_id == youbu)))
    assert own
    assert {f["id"] for f in features(client, "cases", city_tile)} <= own
    assert [f["properties"]["code"] for f in features(client, "divisions", city_tile)] in ([YOUBU], [])
    login(client, "dispatcher")
    assert len({f["id"] for f in features(client, "cases", city_tile)} - own) >= 3


def test_department_sees_only_cases_dispatched_to_it(client, db, city_tile) -> None:
    """Routed to it but not yet filed and dispatched, a case is the centre's: not on the department's map."""
    department = db.scalar(select(User.department_id).where(User.username == "department"))
    centre = Actor(city_code=CITY, role="dispatcher", label="test")
    lon, lat = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                 func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == YOUBU)).one()
    sent = report(db, centre, "E0101", lon, lat, source="test", description="垃圾")
    for action in ("file", "dispatch"):
        act(db, sent.id, action, centre, sent.version)
    waiting = report(db, centre, "E0101", lon, lat, source="test", description="垃圾")
    db.flush()
    assert sent.department_id == waiting.department_id == department and waiting.status == "reported"
    routed = set(db.scalars(select(Incident.id).where(Incident.department_id == department,
                                                      Incident.status.not_in(BEFORE_DISPATCH))))
    login(client, "department")
    assert {f["id"] for f in features(client, "cases", city_tile)} == routed and sent.id in routed


def test_etag_revalidates_with_304_and_cache_is_private(client, city_tile) -> None:
    login(client, "dispatcher")
    url = "/tiles/divisions/{}/{}/{}.pbf".format(*city_tile)
    first = client.get(url)
    assert first.status_code == 200 and first.headers["ETag"]
    assert "private" in first.headers["Cache-Control"] and "max-age" in first.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_bad_tiles_and_anonymous_requests_are_refused(client) -> None:
    assert client.get("/tiles/cases/9/1/1.pbf").status_code == 401
    login(client, "dispatcher")
    assert client.get("/tiles/users/9/1/1.pbf").status_code == 404
    assert client.get("/tiles/cases/3/8/1.pbf").status_code == 404
    assert client.get("/tiles/grids/5/1/1.pbf").status_code == 204


def test_a_tile_costs_one_sql_statement_and_no_transaction(client, connection, city_tile) -> None:
    """After the first tile (which also looks the user up) each tile is its one ST_AsMVT statement:
    no user query, no BEGIN/SAVEPOINT/COMMIT."""
    login(client, "dispatcher")
    client.get("/tiles/divisions/{}/{}/{}.pbf".format(*city_tile))
    statements: list[str] = []
    event.listen(connection, "before_cursor_execute", lambda *args: statements.append(args[2]))
    z, x, y = city_tile
    for dx in (-1, 0, 1):
        assert client.get(f"/tiles/cases/{z}/{x + dx}/{y}.pbf").status_code in (200, 204)
    assert len(statements) == 3 and all("ST_AsMVT" in s for s in statements)


def test_a_deactivated_user_loses_tiles_once_the_cache_expires(client, db, city_tile, monkeypatch) -> None:
    monkeypatch.setattr(auth, "VIEWER_TTL", 0.0)  # expire at once instead of within 5 s
    login(client, "squad_leader")
    url = "/tiles/divisions/{}/{}/{}.pbf".format(*city_tile)
    assert client.get(url).status_code == 200
    db.execute(update(User).where(User.username == "squad_leader").values(active=False))
    db.flush()
    assert client.get(url).status_code == 401


def test_tiles_survive_a_dropped_database_connection(database_url, demo_city, connection, city_tile) -> None:
    """The read pool does not ping before each use; a connection the server dropped (a restart, an idle
    timeout) fails once, is thrown away, and the tile is served from a fresh one."""
    app = create_app({"DATABASE_URL": database_url, "GRIDLINK_MODE": "test", "SECRET_KEY": "test-secret",
                      "GRIDLINK_CITY": "330781"})
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = connection.scalar(select(User.id).where(User.username == "dispatcher"))
    url = "/tiles/divisions/{}/{}/{}.pbf".format(*city_tile)
    assert client.get(url).status_code == 200
    with app.extensions["gridlink.reads"].connect() as pooled:
        pid = pooled.scalar(text("SELECT pg_backend_pid()"))
    assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert client.get(url).status_code == 200
    app.extensions["gridlink.reads"].dispose()


def test_a_layout_published_for_next_month_is_on_the_map_only_from_its_first_day(client, db) -> None:
    """Publishing with a later effective date retires the old layout at once on paper (effective_to), but
    the old grids stay in force, in lookups and on the map, until that day; a planner sees the new one."""
    lon, lat = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                 func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == YOUBU)).one()
    tile = tile_of(lon, lat, 13)
    login(client, "dispatcher")
    before = {f["id"] for f in features(client, "grids", tile)}
    assert before, "the demo's grids of 游埠镇 are on the map"
    here = grid_at(db, "330781", lon, lat)
    duty = create_responsibility_grid(db, "330781", "R-TILE", "游埠一片", "squad", [here.id], squad_id=here.squad_id)
    assert [f["id"] for f in features(client, "responsibility", tile)] == [duty.id]
    redraw = copy_layout_as_draft(db, here.layout_id)  # same grids under new ids: the duty area carries over
    publish_layout(db, redraw.id, city_date(db, "330781") + timedelta(days=30))
    db.flush()
    new = set(db.scalars(select(Grid.id).where(Grid.layout_id == redraw.id)))
    assert {f["id"] for f in features(client, "grids", tile)} == before
    # its members moved onto the redraw's grids at publishing: the duty area stays on the map meanwhile
    assert [f["id"] for f in features(client, "responsibility", tile)] == [duty.id]
    login(client, "planner")
    drafted = {f["id"] for f in features(client, "grids", tile, f"?layout={redraw.id}")}
    assert drafted and drafted <= new

