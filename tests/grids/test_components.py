"""The component register (部件): imports all or nothing with every bad row named, idempotent by code, and a
case naming a component goes to the component's maintainer with the reason stored."""

import csv
import json

import pytest
from click.testing import CliRunner
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import func, select

from gis.crs import from_wgs84
from grids.components import component_by_code, import_components, list_components
from grids.demo import DAMAGED_COMPONENT, DEMO_COMPONENTS
from grids.errors import Invalid
from grids.incidents import locate, open_case
from grids.layouts import grid_at
from grids.models import Category, Component, Department, Division, Incident

CITY = "330781"
YOUBU = "330781102"
COLUMNS = ["code", "category", "name", "owner", "maintainer", "status", "lon", "lat", "address"]
METRE = 1 / 111_320  # degrees of latitude in a metre


def inner_point(db, code: str = YOUBU) -> Point:
    x, y = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                             func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.code == code)).one()
    return Point(x, y)


def write_csv(path, rows: list[list]) -> str:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def good_rows(db) -> list[list]:
    """Three components 150-170 m north of 游埠's inner point (clear of the demo register)."""
    here = inner_point(db)
    return [
        ["3307810101900001", "C0101", "测试上水井盖1", "兰溪市水务集团", "utilities", "在用",
         here.x, here.y + 150 * METRE, "游埠镇测试路 1 号"],
        ["3307810103900001", "路灯", "测试路灯1", "兰溪市住房和城乡建设局", "住房和城乡建设局 城建", "",
         here.x, here.y + 160 * METRE, "游埠镇测试路 3 号"],
        ["3307810103900002", "C0103", "小区路灯", "某小区物业", "", "damaged",
         here.x, here.y + 170 * METRE, ""],
    ]


def stored(db, code: str) -> Component:
    return db.scalar(select(Component).where(Component.code == code).execution_options(populate_existing=True))


def test_a_register_file_is_imported_and_importing_it_again_adds_nothing(db, demo_city, tmp_path) -> None:
    path = write_csv(tmp_path / "components.csv", good_rows(db))
    assert import_components(db, CITY, path) == {"rows": 3, "created": 3, "updated": 0, "unchanged": 0}
    assert import_components(db, CITY, path) == {"rows": 3, "created": 0, "updated": 0, "unchanged": 3}
    lamp = stored(db, "3307810103900001")
    assert lamp.category.code == "C0103" and lamp.maintainer.code == "construction" and lamp.status == "in_use"
    estate = stored(db, "3307810103900002")
    assert estate.maintainer is None and estate.status == "damaged" and estate.owner_name == "某小区物业"
    rows = good_rows(db)
    rows[0][5] = "损坏"
    assert import_components(db, CITY, write_csv(tmp_path / "v2.csv", rows))["updated"] == 1
    assert stored(db, "3307810101900001").status == "damaged"
    listed = {r["code"]: r for r in list_components(db, CITY)}
    assert listed["3307810101900001"]["maintainer"] == "utilities"
    assert listed["3307810101900001"]["lat"] == pytest.approx(rows[0][7])


def test_a_bad_file_stores_nothing_and_names_every_bad_row_with_its_reasons(db, demo_city, tmp_path) -> None:
    here = inner_point(db)
    good = good_rows(db)[0]
    rows = [
        good,
        ["330781010190001", "C0101", "", "", "", "", here.x, here.y, ""],  # 15 digits
        ["3307810102900009", "C0101", "", "", "", "", here.x, here.y, ""],  # 0102 is not C0101's 0101
        ["3307810101900002", "C9999", "", "", "", "", here.x, here.y, ""],
        ["3307810101900003", "C0101", "", "", "water_works", "", here.x, here.y, ""],
        ["3307810101900004", "C0101", "", "", "", "", 116.40, 39.90, ""],  # Beijing
        ["3307810101900001", "C0101", "", "", "", "", here.x, here.y, ""],  # again
        ["3307810101900005", "E0101", "", "", "", "broken", "x", here.y, ""],
        ["3307820101900006", "C0101", "", "", "", "", here.x, here.y, ""],  # 330782 is another county
    ]
    before = db.scalar(select(func.count()).select_from(Component))
    with pytest.raises(Invalid) as caught:
        import_components(db, CITY, write_csv(tmp_path / "bad.csv", rows))
    error = caught.value
    assert error.status == 422 and error.code == "bad_components" and "nothing was stored" in error.message
    problems = {b["row"]: " | ".join(b["problems"]) for b in error.details["rows"]}
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9, 10]  # spreadsheet rows: the header is row 1
    assert "not 16 digits" in problems[3]
    assert "class digits 0102 but class C0101" in problems[4]
    assert "unknown component class 'C9999'" in problems[5]
    assert "unknown maintainer 'water_works'" in problems[6]
    assert "outside the city" in problems[7]
    assert "appears again (first on row 2)" in problems[8]
    assert "unknown component class 'E0101'" in problems[9] and "status 'broken'" in problems[9]
    assert "must be numbers" in problems[9]
    assert "starts with 330782" in problems[10]
    assert db.scalar(select(func.count()).select_from(Component)) == before


def test_geojson_points_in_amap_coordinates_are_stored_in_wgs84(db, demo_city, tmp_path) -> None:
    here = inner_point(db)
    gcj = from_wgs84(here.x, here.y + 200 * METRE, "gcj02")
    path = tmp_path / "bins.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(gcj)},
         "properties": {"code": "3307810301900001", "category": "垃圾箱", "maintainer": "sanitation"}}]}),
        encoding="utf-8")
    assert import_components(db, CITY, path, crs="gcj02")["created"] == 1
    point = to_shape(stored(db, "3307810301900001").location)
    assert (point.x, point.y) == pytest.approx((here.x, here.y + 200 * METRE), abs=1e-6)


def test_a_case_naming_a_component_goes_to_its_maintainer_at_its_place(db, demo_city) -> None:
    cover = component_by_code(db, CITY, DAMAGED_COMPONENT)
    sewer = db.scalar(select(Category).where(Category.code == "C0102"))
    case = open_case(db, CITY, sewer, None, None, source="test", description="井盖松动", component_code=cover.code)
    stored_case = db.get(Incident, case.id)
    assert stored_case.component_id == cover.id
    assert db.get(Department, stored_case.department_id).code == "utilities" == cover.maintainer.code
    assert stored_case.owner_type == "department" and not stored_case.needs_triage
    assert to_shape(stored_case.location).equals(to_shape(cover.location))
    assert ["component_maintainer", {"name": cover.maintainer.name, "code": cover.code}] in stored_case.routing_steps
    assert f"maintainer of component {cover.code}" in stored_case.routing_reason
    assert stored_case.input_crs is None  # nothing was typed: the place is the component's


def test_a_component_without_maintainer_falls_back_to_the_routing_rules(db, demo_city, tmp_path) -> None:
    import_components(db, CITY, write_csv(tmp_path / "c.csv", good_rows(db)))
    loc = locate(db, CITY, None, None, component_code="3307810103900002")
    assert loc.department.code == "construction"  # the city-wide rule of C0103, the component's class
    assert [key for key, _ in loc.steps][-3:] == ["component_no_maintainer", "city_rule", "owner"]
    assert loc.to_dict()["component"]["code"] == "3307810103900002"


@pytest.mark.parametrize("code", ["3307810101999999", "33078101", "井盖"])
def test_an_unknown_component_code_is_refused_saying_how_to_fix_it(db, demo_city, code) -> None:
    with pytest.raises(Invalid, match="component") as caught:
        locate(db, CITY, None, None, component_code=code)
    assert caught.value.status == 422 and caught.value.code == "unknown_component"


def test_reporting_a_component_class_near_a_component_suggests_it_without_forcing_it(db, demo_city) -> None:
    cover = to_shape(component_by_code(db, CITY, DAMAGED_COMPONENT).location)
    sewer = db.scalar(select(Category).where(Category.code == "C0102"))
    near = locate(db, CITY, cover.x, cover.y + 4 * METRE, category=sewer)
    assert near.suggested_component["code"] == DAMAGED_COMPONENT
    assert near.suggested_component["distance_m"] == pytest.approx(4, abs=0.2)
    assert near.component is None and near.department.code == "utilities"  # routed by the rule, not the suggestion
    assert locate(db, CITY, cover.x, cover.y + 30 * METRE, category=sewer).suggested_component is None


def test_the_demo_register_lies_in_youbu_grids(db, demo_city) -> None:
    components = db.scalars(select(Component).where(Component.city_code == CITY)).all()
    assert len(components) == sum(count for *_, count in DEMO_COMPONENTS)
    for component in components:
        point = to_shape(component.location)
        assert grid_at(db, CITY, point.x, point.y).code.startswith(YOUBU), component.code
    case = db.scalar(select(Incident).where(Incident.source == "demo", Incident.component_id.is_not(None)))
    assert case.component_id == component_by_code(db, CITY, DAMAGED_COMPONENT).id


def test_components_commands_import_list_and_refuse(tmp_path, empty_database_url, monkeypatch) -> None:
    """As an operator types them, on a database of its own (commands commit)."""
    from grids.migrate import upgrade
    from webapp.cli import main

    upgrade(empty_database_url)
    monkeypatch.setenv("DATABASE_URL", empty_database_url)

    def run(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    assert run("demo", "load", "--no-grids").exit_code == 0
    lon, lat = 119.7234, 29.2934  # in 游埠镇
    path = write_csv(tmp_path / "c.csv", [["3307810101900001", "C0101", "井盖", "", "utilities", "", lon, lat, ""]])
    first = json.loads(run("components", "import", str(path), "--json").stdout)
    assert first == {"rows": 1, "created": 1, "updated": 0, "unchanged": 0}
    assert json.loads(run("components", "import", str(path), "--json").stdout)["unchanged"] == 1
    listed = run("components", "list", "--json")
    assert "3307810101900001" in {c["code"] for c in json.loads(listed.stdout)["components"]}
    bad = write_csv(tmp_path / "bad.csv", [["123", "C0101", "", "", "", "", lon, lat, ""]])
    refused = run("components", "import", str(bad))
    assert refused.exit_code == 1 and "row 2" in refused.output and "not 16 digits" in refused.output
    located = json.loads(run("locate", "--component", "3307810101900001", "--json").stdout)
    assert located["component"]["code"] == "3307810101900001" and located["department"]["code"] == "utilities"
    wrong = run("locate", "--component", "3307810101900001", "--category", "E0101")  # as a report would be refused
    assert wrong.exit_code == 1 and "is a 上水井盖 (C0101), not E0101" in wrong.output
    said = run("locate", str(lon), str(lat)).output  # the text names who answers there, the co-manager too
    assert "squad: 游埠中队" in said and "co-manager: " in said
    south = run("locate", str(lon), str(-lat))  # a negative number is a number, not an unknown option
    assert south.exit_code == 1 and "outside the boundary" in south.output


def test_relocating_a_component_case_keeps_the_component_and_its_maintainer(db, demo_city) -> None:
    from grids.workflow import act
    from tests.grids.test_workflow import actor

    cover = component_by_code(db, CITY, DAMAGED_COMPONENT)
    sewer = db.scalar(select(Category).where(Category.code == "C0102"))
    case = open_case(db, CITY, sewer, None, None, source="test", description="井盖松动", component_code=cover.code)
    db.flush()
    spot = to_shape(cover.location)
    moved = act(db, case.id, "relocate", actor(db, "dispatcher"), case.version, lon=spot.x + 0.00005, lat=spot.y)
    assert moved.component_id == cover.id and moved.department_id == cover.maintainer.id
    assert to_shape(moved.location).x == pytest.approx(spot.x + 0.00005)
