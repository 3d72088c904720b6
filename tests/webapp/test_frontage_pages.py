"""门前三包 pages over real West Oakland shops: who sees which units, personal data, the inspection form,
the zone-scoped download and hostile names shown as text.

West Oakland is split at -122.2955 into two townships (9 named shops west, 11 east), each with a published
square grid layout; staff are bound to the west township unless their role is city-wide.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
import shapely
from PIL import Image
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from grids.divisions import upsert_division
from grids.frontage import generate_areas, import_units, read_unit_file
from grids.layouts import generate_layout, publish_layout
from grids.models import Category, City, Division, FrontageInspection, FrontageUnit, Incident
from grids.org import add_user
from tests.conftest import CSRF_RE, SHARED_DATA, login

CITY, WEST, EAST = "999602", "999602001", "999602002"
SPLIT_LON = -122.2955
DATA = SHARED_DATA / "west-oakland"
ROADS, BUILDINGS, SHOPS = (DATA / f"west_oakland_{n}.geojson" for n in ("roads", "buildings_and_poi_areas",
                                                                       "poi_points"))
PASSWORD = "frontage-test-pw"
HOSTILE = "<img src=x onerror=alert(1)>"
# username, role, township (None: city-wide)
STAFF = (("w_comgr", "co_manager", WEST), ("w_officer", "officer", WEST), ("w_inspector", "inspector", WEST),
         ("w_leader", "squad_leader", WEST), ("e_comgr", "co_manager", EAST), ("c_dispatcher", "dispatcher", None),
         ("c_supervisor", "supervisor", None), ("c_planner", "planner", None), ("c_admin", "admin", None),
         ("c_viewer", "viewer", None))
CATEGORIES = (("E0101", "暴露垃圾"), ("E0105", "乱堆物堆料"), ("E0501", "店外经营"), ("E0201", "非法小广告"))


def build_oakland(session: Session) -> None:
    """The test city: two townships, their grids, the shops with generated frontage areas, and staff."""
    session.add(City(code=CITY, name="West Oakland (frontage pages)"))
    session.flush()
    session.add_all([Category(city_code=CITY, code=c, name=n, type="event", time_limit="4h") for c, n in CATEGORIES])
    roads = json.loads(ROADS.read_text(encoding="utf-8"))["features"]
    west, south, east, north = shapely.total_bounds([shapely.geometry.shape(f["geometry"]) for f in roads])
    city = upsert_division(session, CITY, CITY, "West Oakland", "city", MultiPolygon([box(west, south, east, north)]))
    for code, name, outline in ((WEST, "West township", box(west, south, SPLIT_LON, north)),
                                (EAST, "East township", box(SPLIT_LON, south, east, north))):
        upsert_division(session, CITY, code, name, "township", MultiPolygon([outline]), parent=city)
        publish_layout(session, generate_layout(session, CITY, code, method="square").id)
    import_units(session, CITY, read_unit_file(SHOPS), "name", "shop", "wgs84")
    for code in (WEST, EAST):
        generate_areas(session, CITY, code, BUILDINGS, ROADS, "wgs84", 15.0)
    for username, role, township in STAFF:
        add_user(session, CITY, username, role, PASSWORD, display_name=username, township_code=township)
    session.flush()


@pytest.fixture(scope="module")
def oakland(engine: Engine) -> Iterator[Connection]:
    """A connection holding the built city in a transaction rolled back after the module."""
    connection = engine.connect()
    transaction = connection.begin()
    try:  # a setup that fails must still roll back: its open transaction would hold up every later test
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            build_oakland(session)
            session.commit()
        yield connection
    finally:
        transaction.rollback()
        connection.close()


@pytest.fixture()
def db(oakland: Connection) -> Iterator[Session]:
    """Each test's changes (inspections, cases) are rolled back to the built city."""
    nested = oakland.begin_nested()
    session = Session(bind=oakland, join_transaction_mode="create_savepoint")
    yield session
    session.close()
    nested.rollback()


@pytest.fixture()
def client(db: Session, oakland: Connection, tmp_path: Path):
    from webapp import create_app

    app = create_app({"DB_BIND": oakland, "GRIDLINK_MODE": "test", "SECRET_KEY": "test-secret",
                      "GRIDLINK_CITY": CITY, "GRIDLINK_UPLOAD_DIR": str(tmp_path)})
    return app.test_client()


def township_units(db: Session, code: str) -> list[FrontageUnit]:
    return list(db.scalars(select(FrontageUnit).join(Division, Division.id == FrontageUnit.township_id)
                           .where(Division.code == code).order_by(FrontageUnit.id)))


def as_user(client, username: str):
    assert login(client, username, PASSWORD).status_code == 302
    return client


def test_the_split_gives_each_township_its_shops(db) -> None:
    assert (len(township_units(db, WEST)), len(township_units(db, EAST))) == (9, 11)
    assert all(u.area is not None for u in township_units(db, WEST) + township_units(db, EAST))


@pytest.mark.parametrize(("username", "sees_east"), [
    ("w_comgr", False), ("w_officer", False), ("w_inspector", False), ("w_leader", False),
    ("c_dispatcher", True), ("c_supervisor", True), ("c_planner", True), ("c_admin", True)])
def test_list_and_unit_pages_follow_the_zone(client, db, username: str, sees_east: bool) -> None:
    as_user(client, username)
    page = client.get("/frontage").get_data(as_text=True)
    assert 'data-nav="frontage"' in page
    west, east = township_units(db, WEST)[0], township_units(db, EAST)[0]
    assert f'data-unit="{west.id}"' in page
    assert (f'data-unit="{east.id}"' in page) is sees_east
    assert client.get(f"/frontage/units/{west.id}").status_code == 200
    assert client.get(f"/frontage/units/{east.id}").status_code == (200 if sees_east else 404)


def test_another_city_is_not_credited_with_the_demo_citys_data(client, db) -> None:
    """Every page's footer and map credited Lanxi's outline and called the townships illustrative, whatever city
    was served; another city's credit is GRIDLINK_DATA_ATTRIBUTION (the e2e frontage server sets OSM's)."""
    as_user(client, "c_admin")
    page = client.get("/frontage").get_data(as_text=True)
    assert "leaflet" in page and "兰溪" not in page and "示意" not in page and "关于与数据来源" in page
    about = client.get("/about").get_data(as_text=True)  # the shipped demo data is listed as the software's only
    assert "data-city-credit" not in about and "随软件提供的演示与测试数据" in about


def test_roles_without_the_page_are_refused_and_have_no_menu_entry(client, db) -> None:
    as_user(client, "c_viewer")
    unit = township_units(db, WEST)[0]
    assert client.get("/frontage").status_code == 403
    assert client.get(f"/frontage/units/{unit.id}").status_code == 403
    assert 'data-nav="frontage"' not in client.get("/reports").get_data(as_text=True)


@pytest.mark.parametrize(("username", "status"), [
    ("w_comgr", 200), ("w_officer", 200), ("w_inspector", 200), ("c_admin", 200), ("e_comgr", 404),
    ("c_planner", 403), ("c_dispatcher", 403), ("w_leader", 403)])
def test_who_may_open_the_inspection_form(client, db, username: str, status: int) -> None:
    as_user(client, username)
    assert client.get(f"/frontage/units/{township_units(db, WEST)[0].id}/inspect").status_code == status


@pytest.mark.parametrize(("username", "shown"), [
    ("w_officer", True), ("w_comgr", True), ("c_planner", False), ("c_dispatcher", False), ("w_inspector", False),
    ("c_viewer", False)])
def test_contact_details_only_for_roles_with_the_grant(client, db, username: str, shown: bool) -> None:
    unit = township_units(db, WEST)[0]
    unit.contact_name, unit.contact_phone = "王先生", "13800000000"
    db.commit()
    as_user(client, username)
    response = client.get(f"/frontage/units/{unit.id}")
    page = response.get_data(as_text=True)
    assert ("13800000000" in page and "王先生" in page) is shown
    if response.status_code == 200:
        assert ("仅授权角色可见" in page) is not shown


def _form(client, path: str, **fields) -> dict:
    token = CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)
    return {"csrf_token": token, **fields}


def test_an_inspection_scores_links_a_case_and_shows_both(client, db) -> None:
    unit = township_units(db, WEST)[0]
    unit.address = "1200 7th St"
    db.flush()
    path = f"/frontage/units/{unit.id}/inspect"
    as_user(client, "w_comgr")
    response = client.post(path, data=_form(client, path, **{"count-O1": "1", "count-S2": "2", "count-G1": "5",
                                                             "note": "门前摆摊"}))
    assert response.status_code == 302
    inspection = db.scalar(select(FrontageInspection).where(FrontageInspection.unit_id == unit.id))
    assert response.headers["Location"].endswith(f"/frontage/inspections/{inspection.id}")
    assert inspection.score == 1000 - 100 - 2 * 30 - 200  # the greening section loses at most its 200
    case = db.get(Incident, inspection.incident_ids[0])
    assert case.frontage_unit_id == unit.id and case.category.code == "E0501"
    assert case.address == "1200 7th St"  # the case said 地址 未填写 beside a unit with its address
    result = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<span data-score>640</span>" in result and f'href="/township/cases/{case.id}"' in result
    assert client.get(f"/township/cases/{case.id}").status_code == 200
    unit_page = client.get(f"/frontage/units/{unit.id}").get_data(as_text=True)
    assert f"#{case.id} 店外经营" in unit_page and "门前摆摊" in unit_page
    as_user(client, "c_dispatcher")  # the centre opens the case in its drawer
    centre_page = client.get(f"/frontage/units/{unit.id}").get_data(as_text=True)
    assert f'href="/dispatch#case-{case.id}"' in centre_page
    english = client.get(f"/frontage/inspections/{inspection.id}?lang=en").get_data(as_text=True)
    assert "Trading outside the shop or on the street" in english and "店外经营、占道经营" not in english


def test_a_second_inspection_finding_the_same_problem_files_no_second_case(client, db) -> None:
    """Three inspectors at the same shop in one minute opened three 店外经营 cases at one point: now the unit's
    open case of the category takes the later findings, and the result page says so."""
    unit = township_units(db, WEST)[0]
    path = f"/frontage/units/{unit.id}/inspect"
    cases_of_unit = select(func.count()).select_from(Incident).where(Incident.frontage_unit_id == unit.id)
    before = db.scalar(cases_of_unit)
    as_user(client, "w_comgr")
    first = client.post(path, data=_form(client, path, **{"count-O1": "1"}))
    as_user(client, "w_officer")
    again = client.post(path, data=_form(client, path, **{"count-O1": "2", "count-S1": "1"}))
    inspections = db.scalars(select(FrontageInspection).where(FrontageInspection.unit_id == unit.id)
                             .order_by(FrontageInspection.id)).all()
    assert [i.violations for i in inspections] == [1, 2]
    by_category = {db.get(Incident, i).category.code: i for i in inspections[1].incident_ids}
    kept, rubbish = by_category["E0501"], by_category["E0101"]
    assert kept == inspections[0].incident_ids[0]  # the same 店外经营 case; the rubbish is a new one
    assert db.scalar(cases_of_unit) == before + 2
    result = client.get(again.headers["Location"]).get_data(as_text=True)
    assert f"#{kept} 是此前上报、尚未结案的同类问题" in result and f"#{rubbish} 是" not in result
    assert first.status_code == again.status_code == 302


def test_invalid_counts_are_shown_next_to_their_items_and_nothing_is_stored(client, db) -> None:
    unit = township_units(db, WEST)[0]
    path = f"/frontage/units/{unit.id}/inspect"
    as_user(client, "w_officer")
    response = client.post(path, data=_form(client, path, **{"count-S1": "abc", "count-O2": "99", "count-S2": "1"}))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "未提交：请改正标出的内容后再提交。" in page
    assert page.count('class="field-error"') == 2 and 'id="err-S1"' in page and 'id="err-O2"' in page
    assert 'value="abc"' in page and 'name="count-S2" type="number"' in page
    assert db.scalar(select(FrontageInspection.id).where(FrontageInspection.unit_id == unit.id)) is None


def test_a_form_without_its_csrf_token_is_refused(client, db) -> None:
    as_user(client, "w_comgr")
    response = client.post(f"/frontage/units/{township_units(db, WEST)[0].id}/inspect", data={"count-S1": "1"})
    assert response.status_code == 400


def test_photos_must_be_images_and_are_stored_re_encoded(client, db, tmp_path: Path) -> None:
    unit = township_units(db, WEST)[0]
    path = f"/frontage/units/{unit.id}/inspect"
    as_user(client, "w_comgr")
    fake = _form(client, path, photos=(io.BytesIO(b"<?php echo 1; ?>"), "shot.jpg"))
    refused = client.post(path, data=fake, content_type="multipart/form-data")
    assert refused.status_code == 422 and "shot.jpg" in refused.get_data(as_text=True)
    summary = refused.get_data(as_text=True).split('id="form-errors"')[1].split("</div>")[0]
    assert 'href="#photos"' in summary and "shot.jpg" in summary  # said at the top, not only below the fold
    png = io.BytesIO()
    Image.new("RGB", (640, 480), "orange").save(png, "PNG")
    real = _form(client, path, photos=(io.BytesIO(png.getvalue()), "shot.png"))
    assert client.post(path, data=real, content_type="multipart/form-data").status_code == 302
    stored = db.scalar(select(FrontageInspection.photos).where(FrontageInspection.unit_id == unit.id))
    assert len(stored) == 1 and re.fullmatch(r"frontage/\d{4}/\d{2}/[0-9a-f]{32}\.jpg", stored[0])
    with Image.open(tmp_path / stored[0]) as saved:
        assert (saved.format, saved.size) == ("JPEG", (640, 480))
    inspection = db.scalar(select(FrontageInspection).where(FrontageInspection.unit_id == unit.id))
    # an inspection that filed no case: its photo was stored where no page showed it
    for page in (f"/frontage/inspections/{inspection.id}", f"/frontage/units/{unit.id}"):
        assert f'href="/frontage/inspections/{inspection.id}/photos/0"' in client.get(page).get_data(as_text=True)
    shown = client.get(f"/frontage/inspections/{inspection.id}/photos/0/thumb")
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    assert client.get(f"/frontage/inspections/{inspection.id}/photos/1").status_code == 404
    as_user(client, "e_comgr")  # the other township's
    assert client.get(f"/frontage/inspections/{inspection.id}/photos/0").status_code == 404


def test_the_list_sorts_by_latest_score_and_shows_red_and_black_lists(client, db) -> None:
    from grids.frontage import inspect_unit

    good, poor, _ = township_units(db, WEST)[:3]
    inspect_unit(db, good.id, None, {})
    for _ in range(3):
        inspect_unit(db, poor.id, None, {"S1": 1, "O1": 1})
    db.commit()
    as_user(client, "w_leader")
    rows = re.findall(r'data-unit="(\d+)"', client.get("/frontage?sort=score_asc").get_data(as_text=True))
    assert rows[:2] == [str(poor.id), str(good.id)] and len(rows) == 9
    rows = re.findall(r'data-unit="(\d+)"', client.get("/frontage?sort=score_desc").get_data(as_text=True))
    assert rows[:2] == [str(good.id), str(poor.id)]
    assert good.name in client.get("/frontage?tab=red").get_data(as_text=True)
    black = client.get("/frontage?tab=black").get_data(as_text=True)
    assert poor.name in black and "90 天内违规 6 次" in black


@pytest.mark.parametrize(("username", "count"), [("w_comgr", 9), ("c_dispatcher", 20)])
def test_csv_download_is_scoped_to_the_zone(client, db, username: str, count: int) -> None:
    as_user(client, username)
    response = client.get("/frontage/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    names = {u.name for u in township_units(db, WEST)} if count == 9 else None
    assert len(rows) == count and (names is None or {r["name"] for r in rows} == names)
    assert "contact" not in ",".join(rows[0])
    geojson = client.get("/frontage/export.geojson").get_json(force=True)
    assert len(geojson["features"]) == count


def test_the_frontage_tile_carries_only_the_zone_and_the_latest_score(client, db) -> None:
    from grids.frontage import inspect_unit

    west, east = township_units(db, WEST), township_units(db, EAST)
    inspect_unit(db, west[0].id, None, {"S1": 1})
    db.commit()
    as_user(client, "w_comgr")
    units = {}
    for x, y in tiles_over(-122.302, 37.805, -122.289, 37.815, 14):
        response = client.get(f"/tiles/frontage/14/{x}/{y}.pbf")
        if response.status_code == 200:
            features = mapbox_vector_tile.decode(response.data)["frontage"]["features"]
            units |= {f["properties"]["unit"]: f["properties"].get("score") for f in features}
    assert units and set(units) <= {u.id for u in west}
    assert units[west[0].id] == 950 and not set(units) & {u.id for u in east}


def tiles_over(west: float, south: float, east: float, north: float, z: int) -> list[tuple[int, int]]:
    """The (x, y) of every web-mercator tile at zoom z over a lon/lat box."""
    def tile(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)

    (x0, y0), (x1, y1) = tile(west, north), tile(east, south)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def test_a_hostile_unit_name_is_shown_as_text(client, db) -> None:
    unit = township_units(db, WEST)[0]
    unit.name = HOSTILE
    db.commit()
    as_user(client, "w_comgr")
    for path in ("/frontage", f"/frontage/units/{unit.id}", f"/frontage/units/{unit.id}/inspect"):
        page = client.get(path).get_data(as_text=True)
        assert "<img src=x" not in page, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, path
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in client.get(f"/frontage/units/{unit.id}").get_data(as_text=True)


def test_the_pages_speak_english_from_their_own_catalog(client, db) -> None:
    as_user(client, "c_planner")
    unit = township_units(db, WEST)[0]
    page = client.get(f"/frontage/units/{unit.id}?lang=en").get_data(as_text=True)
    assert "Visible to authorised roles only" in page and ">Frontage duties<" in page
    listing = client.get("/frontage?lang=en").get_data(as_text=True)
    assert "Not inspected yet" in listing
    assert "Street appearance and order, " in listing and "Street appearance and order、" not in listing
    assert "Street appearance and order" in page and "包市容/秩序" not in page  # the sheet's duties, worded too
    as_user(client, "w_comgr")
    sheet = client.get(f"/frontage/units/{unit.id}/inspect?lang=en").get_data(as_text=True)
    assert "Clean and tidy" in sheet and "Exposed rubbish or clutter in front" in sheet and "包卫生整洁" not in sheet
