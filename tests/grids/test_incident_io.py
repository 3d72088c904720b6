"""Bulk import of a hotline export and export of cases: exact counts, reasons, places, round trip."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner
from shapely.geometry import Point
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from gis.crs import from_wgs84
from gis.readers import Feature
from grids.errors import Conflict, Invalid
from grids.evaluation import evaluate, parse_period
from grids.frontage import import_units
from grids.incident_io import (
    EXPORT_COLUMNS,
    CaseFilter,
    _time_parser,
    export_cases,
    import_cases,
    validate_mapping,
)
from grids.incidents import Location, locate
from grids.layouts import generate_layout, grid_at, publish_layout
from grids.models import CaseEvent, Category, Department, Division, FrontageUnit, Incident, RoutingRule
from grids.workflow import escalate_overdue
from tests.conftest import login
from tests.webapp.test_tiles import features, tile_of

CITY = "330781"
YOUBU = "330781102"  # gets a square layout below
ELSEWHERE = "330781001"  # not a pilot township, so never given grids: its cases wait in triage
SHANGHAI = (121.47, 31.23)
FORMULA = "=HYPERLINK(\"http://evil.example\",\"点我\")"
XSS = "<img src=x onerror=alert(1)> `${x}` </script>"
HEADER = ["工单编号", "受理时间", "办结时间", "问题类型", "纬度", "经度", "事发地址", "问题描述", "处理状态"]
MAPPING = {
    "external_id": "工单编号",
    "created": {"column": "受理时间", "format": "%Y/%m/%d %H:%M", "tz": "Asia/Shanghai"},
    "closed": {"column": "办结时间", "format": "%Y/%m/%d %H:%M", "tz": "Asia/Shanghai"},
    "category": "问题类型", "lat": "纬度", "lon": "经度", "address": "事发地址", "description": "问题描述",
    "status": {"column": "处理状态", "closed_values": ["已办结", "已归档"]},
}


def inner_gcj(session: Session, code: str, dx: float = 0.0, dy: float = 0.0) -> tuple[float, float]:
    """A GCJ-02 point (what Amap-based hotline systems store) near the inner point of a demo division."""
    lon, lat = session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                      func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                               .where(Division.code == code)).one()
    return from_wgs84(lon + dx, lat + dy, "gcj02")


def hotline_rows(session: Session) -> list[list[str]]:
    """11 data rows: 4 good (3 in 游埠's grids, 1 in a township with no grid), 6 bad, 1 repeated case number."""
    youbu, near = inner_gcj(session, YOUBU), inner_gcj(session, YOUBU, 0.002, 0.001)
    elsewhere = inner_gcj(session, ELSEWHERE)

    def row(no, created, closed, category, point, address, text, status):
        lat, lon = ("", "") if point is None else (str(point[1]), str(point[0]))
        return [no, created, closed, category, lat, lon, address, text, status]

    return [
        row("RX2025100801", "2025/10/08 14:30", "2025/10/09 09:15", "E0101", youbu, "游埠老街", "垃圾桶满溢", "已办结"),
        row("RX2025100802", "2025/10/08 15:02", "", "店外经营", near, "游埠镇菜场路", "沿街摆摊", "处理中"),
        row("RX2025100803", "2025/10/09 08:00", "", "Exposed garbage", elsewhere, "城区某路", "路边垃圾", "处理中"),
        row("RX2025100804", "2025/10/09 09:00", "", "E0101", None, "不详", "无坐标", "处理中"),
        row("RX2025100805", "2025/10/09 10:00", "", "E0101", (youbu[1], youbu[0]), "游埠", "经纬度颠倒", "处理中"),
        row("RX2025100806", "2025/10/09 11:00", "", "不存在的类别", youbu, "游埠", "类别未知", "处理中"),
        row("RX2025100807", "2025-13-45 99:99", "", "E0101", youbu, "游埠", "日期错误", "处理中"),
        row("RX2025100801", "2025/10/08 14:30", "", "E0101", youbu, "游埠老街", "重复工单", "处理中"),
        row("RX2025100808", "2025/10/10 16:45", "", "E0101", near, XSS, FORMULA, "处理中"),
        row("RX2025100809", "2025/10/10 17:00", "", "E0101", ("东经", "北纬"), "游埠", "坐标非数字", "处理中"),
        row("RX2025100810", "2025/10/10 18:00", "", "E0101", SHANGHAI, "上海", "市外", "处理中"),
    ]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def publish_square_layout(session: Session) -> None:
    """Few large square grids over 游埠镇, in force from the city's today (imports use the grids in force on the
    import day)."""
    layout = generate_layout(session, CITY, YOUBU, target_area=1_000_000, method="square")
    publish_layout(session, layout.id)


@pytest.fixture()
def hotline(db, demo_city, tmp_path) -> Path:
    publish_square_layout(db)
    return write_csv(tmp_path / "hotline.csv", hotline_rows(db))


def cases(db) -> dict[str, Incident]:
    rows = db.scalars(select(Incident).where(Incident.source == "import"))
    return {incident.external_id: incident for incident in rows}


def test_import_counts_every_row_once_and_reports_each_reject(db, hotline) -> None:
    result = import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    assert {k: result[k] for k in ("rows", "imported", "rejected", "duplicates", "located", "unlocated")} == {
        "rows": 11, "imported": 4, "rejected": 7, "duplicates": 1, "located": 3, "unlocated": 1}
    assert result["rows"] == result["imported"] + result["rejected"]
    assert result["reasons"] == {"bad_coordinates": 1, "bad_date": 1, "duplicate_external_id": 1,
                                 "missing_coordinates": 1, "outside_city": 1, "swapped_coordinates": 1,
                                 "unknown_category": 1}
    with open(result["report"], encoding="utf-8-sig", newline="") as handle:
        report = list(csv.reader(handle))
    assert report[0] == [*HEADER, "reject_row", "reject_reason", "reject_detail"]
    # in the file's order, each with its row as a spreadsheet numbers it: the duplicate (row 9) came first
    rows = [int(r[-3]) for r in report[1:]]
    assert rows == sorted(rows) and rows[-1] == 12 and [r[0] for r in report[1:] if r[-3] == "9"] == ["RX2025100801"]
    assert {r[0]: r[-2] for r in report[1:]} == {
        "RX2025100804": "missing_coordinates", "RX2025100805": "swapped_coordinates",
        "RX2025100806": "unknown_category", "RX2025100807": "bad_date", "RX2025100809": "bad_coordinates",
        "RX2025100810": "outside_city", "RX2025100801": "duplicate_external_id"}
    assert [r[-1] for r in report if r[0] == "RX2025100801"] == ["row 9 repeats row 2 of this file"]
    swapped = next(r for r in report if r[0] == "RX2025100805")
    assert swapped[1:9] == hotline_rows(db)[4][1:9] and "look swapped" in swapped[-1]


def test_imported_cases_land_in_the_grid_and_township_locate_gives(db, hotline) -> None:
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    imported = cases(db)
    assert set(imported) == {"RX2025100801", "RX2025100802", "RX2025100803", "RX2025100808"}
    first = imported["RX2025100801"]
    x, y = inner_gcj(db, YOUBU)
    where = locate(db, CITY, x, y, crs="gcj02", category=first.category)
    assert first.grid_id == where.grid.id == grid_at(db, CITY, where.lon, where.lat).id
    assert first.township_id == where.township.id and first.squad_id == where.squad.id
    assert first.department_id == where.department.id and first.owner_type == where.owner_type
    assert first.routing_reason == where.routing_reason
    assert first.routing_steps == [[key, params] for key, params in where.steps]
    assert first.input_crs == "gcj02" and (first.input_x, first.input_y) == pytest.approx((x, y))
    shanghai = ZoneInfo("Asia/Shanghai")
    assert first.status == "closed" and not first.needs_triage
    assert first.reported_at == datetime(2025, 10, 8, 14, 30, tzinfo=shanghai)
    assert first.closed_at == datetime(2025, 10, 9, 9, 15, tzinfo=shanghai)
    by_name = imported["RX2025100802"]
    assert by_name.category.code == "E0501" and by_name.status == "reported" and by_name.closed_at is None
    assert db.get(Department, by_name.department_id).code == "market"  # the rule scoped to 游埠镇 wins
    elsewhere = imported["RX2025100803"]
    assert elsewhere.category.code == "E0101" and elsewhere.grid_id is None and elsewhere.needs_triage
    assert db.get(Division, elsewhere.township_id).code == ELSEWHERE
    assert "in no published grid: triage" in elsewhere.routing_reason
    assert imported["RX2025100808"].description == FORMULA and imported["RX2025100808"].address == XSS


def by_code(db, model, code: str):
    return db.scalar(select(model).where(model.city_code == CITY, model.code == code))


def routed_live(db, case: Incident) -> Location:
    return locate(db, CITY, case.input_x, case.input_y, crs="gcj02", category=case.category)


def test_a_time_without_its_own_zone_is_read_in_the_zone_of_created(db, hotline) -> None:
    """A source system writes all its times in one zone: a closed time read in the city's zone instead of the
    created time's UTC would close a case eight hours before it was reported."""
    mapping = {**MAPPING, "created": {**MAPPING["created"], "tz": "UTC"},
               "closed": {k: v for k, v in MAPPING["closed"].items() if k != "tz"}}
    import_cases(db, CITY, hotline, mapping, crs="gcj02")
    first = cases(db)["RX2025100801"]
    assert first.reported_at == datetime(2025, 10, 8, 14, 30, tzinfo=UTC)
    assert first.closed_at == datetime(2025, 10, 9, 9, 15, tzinfo=UTC)


def test_a_grid_rule_routes_imported_cases_in_its_grid_only_as_live_cases(db, hotline) -> None:
    """Precedence as grids.incidents: grid rule > deepest division rule (游埠镇 -> market) > city rule > default."""
    x, y = inner_gcj(db, YOUBU, 0.002, 0.001)  # RX2025100802 (店外经营, E0501) and RX2025100808 (E0101)
    grid = locate(db, CITY, x, y, crs="gcj02").grid
    for code in ("E0501", "E0101"):
        db.add(RoutingRule(city_code=CITY, category_id=by_code(db, Category, code).id, grid_code=grid.code,
                           department_id=by_code(db, Department, "bureau").id))
    db.flush()
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    imported = cases(db)
    bureau = by_code(db, Department, "bureau")
    assert imported["RX2025100802"].department_id == imported["RX2025100808"].department_id == bureau.id
    assert ["grid_rule", {"name": bureau.name, "category": "E0501", "grid": grid.code}] in \
        imported["RX2025100802"].routing_steps
    for case in imported.values():  # in or out of the ruled grid, located or not: as the live routing says
        live = routed_live(db, case)
        assert (case.grid_id, case.township_id, case.department_id, case.owner_type) == (
            live.grid.id if live.grid else None, live.township.id, live.department.id, live.owner_type)
        assert case.routing_steps == [[key, params] for key, params in live.steps]
        assert case.routing_reason == live.routing_reason


def test_an_imported_case_explains_its_routing_in_the_readers_language(db, hotline, client) -> None:
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    case = cases(db)["RX2025100801"]
    login(client, "dispatcher")
    chinese = client.get(f"/dispatch/cases/{case.id}").get_json()["routing_reason"]
    english = client.get(f"/dispatch/cases/{case.id}?lang=en").get_json()["routing_reason"]
    assert chinese.startswith("乡镇：游埠镇") and "网格：330781102" in chinese and "责任主体：部门" in chinese
    assert english.startswith("township 游埠镇") and "grid 330781102" in english
    assert "：" not in english and english.endswith("owner: Department")


@pytest.mark.parametrize("fmt, value", [
    ("%Y/%m/%d %H:%M", "2025/10/08 14:30"), ("%Y/%m/%d %H:%M", "2025/1/8 4:5"),
    ("%Y/%m/%d %H:%M", "2025/02/30 10:00"), ("%Y/%m/%d %H:%M", "2025/10/08 24:00"),
    ("%Y/%m/%d %H:%M", "2025/10/08  14:30"), ("%Y%m%d", "2025131"), ("%Y%m%d", "202511"),
    ("%d.%m.%Y %H:%M:%S", "8.10.2025 23:59:60"), ("%Y-%m-%dT%H:%M:%S%z", "2025-10-08T14:30:00+0000")])
def test_times_read_exactly_as_strptime_reads_them(fmt: str, value: str) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    try:
        expected = datetime.strptime(value, fmt)
    except ValueError:
        with pytest.raises(ValueError):
            _time_parser(fmt, zone)(value)
        return
    assert _time_parser(fmt, zone)(value) == (expected if expected.tzinfo else expected.replace(tzinfo=zone))


def test_each_imported_case_gets_one_import_event(db, hotline) -> None:
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    ids = [c.id for c in cases(db).values()]
    events = db.scalars(select(CaseEvent).where(CaseEvent.incident_id.in_(ids))).all()
    assert sorted(e.incident_id for e in events) == sorted(ids)
    assert {(e.seq, e.action, e.data["source"], e.data["file"]) for e in events} == {(1, "import", "import",
                                                                                     "hotline.csv")}
    assert {e.to_status for e in events} == {"closed", "reported"}


def test_a_second_import_of_the_same_file_adds_nothing(db, hotline) -> None:
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    again = import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    assert (again["rows"], again["imported"], again["rejected"], again["duplicates"]) == (11, 0, 11, 5)
    assert again["reasons"]["duplicate_external_id"] == 5
    with open(again["report"], encoding="utf-8-sig", newline="") as handle:
        stored = next(r for r in csv.reader(handle) if r[0] == "RX2025100808")
    assert "has this external id already" in stored[-1]
    assert len(cases(db)) == 4


def test_progress_is_reported_in_bytes_up_to_the_file_size(db, hotline) -> None:
    seen: list[tuple[int, int]] = []
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02", report_path=hotline.with_name("r.csv"),
                 progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (hotline.stat().st_size, hotline.stat().st_size)
    assert hotline.with_name("r.csv").exists()


def test_an_export_reports_its_progress_up_to_the_cases_it_writes(db, hotline, monkeypatch) -> None:
    import grids.incident_io

    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    monkeypatch.setattr(grids.incident_io, "EXPORT_PROGRESS_ROWS", 2)
    seen: list[tuple[int, int]] = []
    result = export_cases(db, CITY, "csv", io.BytesIO(), CaseFilter.parse(township=YOUBU),
                          progress=lambda done, total: seen.append((done, total)))
    cases_written = result["cases"]
    assert cases_written >= 3 and seen[-1] == (cases_written, cases_written)
    assert [done for done, _ in seen] == [*range(2, cases_written + 1, 2), cases_written]
    assert all(done <= total for done, total in seen)
    seen.clear()
    assert export_cases(db, CITY, "csv", io.BytesIO(), CaseFilter.parse(township=YOUBU, since="2000-01-01",
                                                                         until="2000-01-02"),
                        progress=lambda done, total: seen.append((done, total)))["cases"] == 0
    assert seen == [(0, 0)]  # no case: the bar still ends


def test_a_bad_mapping_lists_every_problem() -> None:
    bad = {"external_id": "工单编号", "created": "受理时间", "closed": {"column": "办结时间", "format": "%Y/%Q",
                                                                     "tz": "Mars/Olympus"},
           "category": "问题类型", "lon": "经度", "status": {"column": "处理状态"}, "colour": "red"}
    with pytest.raises(Invalid) as caught:
        validate_mapping(bad)
    problems = "\n".join(caught.value.details)
    assert caught.value.code == "bad_mapping" and len(caught.value.details) == 6, problems
    for expected in ("'lat' is a required property", "created: '受理时间' is not of type 'object'",
                     "'closed_values' is a required property", "'colour' was unexpected", "Mars/Olympus",
                     "closed/format: '%Y/%Q' is not a strptime format"):
        assert expected in problems


def test_mapped_columns_missing_from_the_file_are_named_with_the_other_problems(db, demo_city, tmp_path) -> None:
    path = write_csv(tmp_path / "h.csv", [])
    mapping = {**MAPPING, "lat": "lat_wgs", "lon": "lon_wgs",
               "created": {**MAPPING["created"], "tz": "Asia/Shang_hai"}}
    with pytest.raises(Invalid) as caught:
        import_cases(db, CITY, path, mapping)
    problems = caught.value.details
    assert sorted(p.split(":")[0] for p in problems) == ["column 'lat_wgs'", "column 'lon_wgs'", "created/tz"]


def test_a_mapping_reading_one_column_twice_is_refused_before_any_row(db, demo_city, tmp_path) -> None:
    """lat and lon on one column rejected every row as outside the city; a header naming a column twice read
    the first without a word."""
    with pytest.raises(Invalid, match="lat and lon: both name the column '纬度'"):
        validate_mapping({**MAPPING, "lon": "纬度"})
    path = tmp_path / "twice.csv"
    path.write_text(",".join([*HEADER, "问题描述"]) + "\n", encoding="utf-8")
    with pytest.raises(Invalid, match="column '问题描述': the header has it 2 times; rename all but one"):
        import_cases(db, CITY, path, MAPPING)


def export_bytes(db, fmt: str, **filters) -> bytes:
    out = io.BytesIO()
    export_cases(db, CITY, fmt, out, CaseFilter.parse(**filters))
    return out.getvalue()


def export_text(db, fmt: str, **filters) -> str:
    return export_bytes(db, fmt, **filters).decode("utf-8")


def test_export_round_trip_keeps_text_as_data(db, hotline) -> None:
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    rows = list(csv.DictReader(io.StringIO(export_text(db, "csv", township=YOUBU, since="2025-10-08",
                                                       until="2025-10-10").lstrip("\ufeff"))))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    imported = {r["external_id"]: r for r in rows if r["source"] == "import"}
    assert set(imported) == {"RX2025100801", "RX2025100802", "RX2025100808"}
    first = imported["RX2025100801"]
    assert first["reported_at"] == "2025-10-08T14:30:00+08:00" and first["closed_at"] == "2025-10-09T09:15:00+08:00"
    assert first["township_code"] == YOUBU and first["city_code"] == CITY and first["grid_code"].startswith(YOUBU)
    assert first["category_code"] == "E0101" and first["department_code"] == "sanitation" and first["squad_code"]
    assert first["routing_reason"].endswith("owner: department") and first["needs_triage"] == "false"
    assert imported["RX2025100808"]["description"] == "'" + FORMULA and imported["RX2025100808"]["address"] == XSS
    features = json.loads(export_text(db, "geojson", status="reported", category="E0101"))["features"]
    by_id = {f["properties"]["external_id"]: f for f in features}
    assert by_id["RX2025100808"]["properties"]["description"] == FORMULA
    assert by_id["RX2025100808"]["properties"]["address"] == XSS
    assert by_id["RX2025100803"]["properties"]["grid_code"] is None
    assert by_id["RX2025100808"]["geometry"]["type"] == "Point" and "RX2025100801" not in by_id


def test_export_as_a_workbook_keeps_codes_as_text_and_times_as_dates(db, hotline) -> None:
    """What Excel does to the same data as CSV: a 15-digit grid code shows as 3.30781E+14, a formula-like
    description runs. In the workbook the code is text with every digit, the time a date, the formula text."""
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(db, "xlsx", township=YOUBU)), read_only=True)
    sheet = book["cases"]
    header, *rows = sheet.iter_rows(values_only=True)
    department = EXPORT_COLUMNS.index("department_code")
    assert header[0] == "案件编号\nid" and header[department] == "部门编码\ndepartment_code"  # words, codes kept
    assert tuple(cell.split("\n")[1] for cell in header) == EXPORT_COLUMNS
    by_external = {row[1]: dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in rows}
    first = by_external["RX2025100801"]
    assert isinstance(first["grid_code"], str) and re.fullmatch(YOUBU + r"\d{6}", first["grid_code"])
    assert first["reported_at"] == datetime(2025, 10, 8, 14, 30)  # city time, as the CSV's +08:00
    assert first["needs_triage"] is False and isinstance(first["lon"], float)
    assert by_external["RX2025100808"]["description"] == FORMULA and by_external["RX2025100808"]["address"] == XSS
    assert len(rows) == len(list(csv.DictReader(io.StringIO(export_text(db, "csv", township=YOUBU)))))


def test_export_filters_are_checked() -> None:
    with pytest.raises(Invalid, match="since must be a date"):
        CaseFilter.parse(since="yesterday")
    with pytest.raises(Invalid, match="unknown status open"):
        CaseFilter.parse(status="open")
    with pytest.raises(Invalid, match="since 2026-12-01 is after until 2026-11-01: swap them"):
        CaseFilter.parse(since="2026-12-01", until="2026-11-01")


@pytest.mark.parametrize(("filters", "words"), [
    ({"category": "E0101,ZZZ"}, "unknown category ZZZ"), ({"township": "999"}, "unknown township 999"),
    ({"township": "游埠镇"}, "unknown township 游埠镇"), ({"township": CITY}, f"unknown township {CITY}"),
    ({"source": "hotlne"}, "unknown source 'hotlne'; the sources: dispatcher, hotline, visit, field, api")])
def test_an_export_filter_the_city_does_not_have_is_named_not_an_empty_file(db, demo_city, filters, words) -> None:
    with pytest.raises(Invalid, match=words):
        export_text(db, "csv", **filters)


def test_a_major_class_exports_its_minor_classes_as_the_dispatch_page_shows_them(db, hotline) -> None:
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    major = {r["category_code"] for r in csv.DictReader(io.StringIO(export_text(db, "csv", category="E01")
                                                                    .lstrip("\ufeff")))}
    assert "E0101" in major and all(code.startswith("E01") for code in major)
    reported = [r["reported_at"] for r in csv.DictReader(io.StringIO(export_text(db, "csv").lstrip("\ufeff")))]
    assert reported and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", t) for t in reported), reported[:3]


def test_an_export_category_in_any_letter_case_is_the_class_the_import_would_read(db, hotline) -> None:
    """The import reads "e0101" as E0101; the export of "e01" used to be refused as an unknown category."""
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    assert export_text(db, "csv", category="e01 ,E01") == export_text(db, "csv", category="E01")
    assert len(export_text(db, "csv", category="e0101").splitlines()) > 1


@pytest.fixture()
def committed_hotline(empty_database_url, tmp_path, monkeypatch) -> Path:
    """The hotline file and its mapping (map.json beside it) for a committed demo city the CLI reaches."""
    from grids.demo import load_demo
    from grids.migrate import upgrade

    upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    with Session(engine) as session, session.begin():
        load_demo(session, grid_townships=())
        publish_square_layout(session)
        path = write_csv(tmp_path / "hotline.csv", hotline_rows(session))
    engine.dispose()
    # as Notepad saves it: UTF-8 with a BOM (refused as "Unexpected UTF-8 BOM" before)
    (tmp_path / "map.json").write_text(json.dumps(MAPPING, ensure_ascii=False), encoding="utf-8-sig")
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    return path


def test_cli_import_and_export_on_a_committed_database(committed_hotline, tmp_path) -> None:
    from grids.cli import incidents_group

    path = committed_hotline
    runner = CliRunner()

    def run(*args: str) -> dict:
        result = runner.invoke(incidents_group, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    first = run("import", str(path), "--map", str(tmp_path / "map.json"), "--crs", "gcj02",
                "--report", str(tmp_path / "rejects.csv"))
    assert (first["imported"], first["rejected"], first["duplicates"]) == (4, 7, 1)
    assert first["report"] == str(tmp_path / "rejects.csv")
    second = run("import", str(path), "--map", str(tmp_path / "map.json"), "--crs", "gcj02")
    assert (second["imported"], second["duplicates"]) == (0, 5)
    exported = run("export", "--format", "geojson", str(tmp_path / "out.geojson"), "--township", YOUBU)
    features = json.loads((tmp_path / "out.geojson").read_text(encoding="utf-8"))["features"]
    assert exported["cases"] == len(features) >= 3
    workbook = run("export", "--format", "xlsx", str(tmp_path / "out.xlsx"), "--township", YOUBU)
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True)["cases"]
    assert workbook["cases"] == sheet.max_row - 1 == len(features)
    run("export", "--format", "xlsx", str(tmp_path / "en.xlsx"), "--township", YOUBU, "--language", "en")
    english = openpyxl.load_workbook(tmp_path / "en.xlsx", read_only=True)["cases"]
    assert next(english.iter_rows(max_row=1, values_only=True))[-1] == "Latitude\nlat"
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    bad = runner.invoke(incidents_group, ["import", str(path), "--map", str(tmp_path / "bad.json"), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["error"]["code"] == "bad_mapping"



def test_nul_bytes_are_dropped_and_a_short_row_is_rejected_for_what_it_lacks(db, demo_city, tmp_path) -> None:
    publish_square_layout(db)
    good = hotline_rows(db)[0]
    nul = [good[0].replace("01", "91"), *good[1:6], "游埠\x00老街", "垃圾\x00桶满溢", good[8]]
    short = [good[0].replace("01", "92"), good[1], good[2], good[3]]  # cut after the category: no point
    path = tmp_path / "nul.csv"
    path.write_text(",".join(HEADER) + "\n" + ",".join(nul) + "\n" + ",".join(short) + "\n", encoding="utf-8")
    result = import_cases(db, CITY, path, MAPPING, crs="gcj02")
    assert (result["imported"], result["reasons"]) == (1, {"missing_cells": 1})
    with open(result["report"], encoding="utf-8-sig", newline="") as handle:
        assert "4 cells under a header of 9" in list(csv.reader(handle))[1][-1]
    case = cases(db)[nul[0]]
    assert (case.address, case.description) == ("游埠老街", "垃圾桶满溢")


def test_a_case_reported_or_closed_in_the_future_is_rejected_as_a_bad_date(db, demo_city, tmp_path) -> None:
    publish_square_layout(db)
    good = hotline_rows(db)[0]
    future_created = ["RX2030000001", "2030/10/01 09:00", "", *good[3:8], "处理中"]
    future_closed = ["RX2030000002", good[1], "2030/10/02 09:00", *good[3:]]
    path = write_csv(tmp_path / "future.csv", [future_created, future_closed, good])
    result = import_cases(db, CITY, path, MAPPING, crs="gcj02")
    assert (result["imported"], result["reasons"]) == (1, {"bad_date": 2})
    with open(result["report"], encoding="utf-8-sig", newline="") as handle:
        details = [row[-1] for row in csv.reader(handle)][1:]
    assert all("in the future" in detail for detail in details), details


def test_a_file_read_in_chunks_counts_and_reports_as_one(db, hotline, monkeypatch) -> None:
    """Chunks are placed and stored one by one: a repeat in a later chunk still names the row it repeats."""
    monkeypatch.setattr("grids.incident_io.CHUNK_ROWS", 3)
    seen: list[int] = []
    result = import_cases(db, CITY, hotline, MAPPING, crs="gcj02", progress=lambda done, total: seen.append(done))
    assert (result["rows"], result["imported"], result["rejected"], result["duplicates"]) == (11, 4, 7, 1)
    assert (result["located"], result["unlocated"]) == (3, 1) and len(seen) == 4 and seen == sorted(seen)
    with open(result["report"], encoding="utf-8-sig", newline="") as handle:
        report = list(csv.reader(handle))
    assert [r[-1] for r in report if r[0] == "RX2025100801"] == ["row 9 repeats row 2 of this file"]
    again = import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    assert (again["imported"], again["duplicates"]) == (0, 5) and len(cases(db)) == 4


def test_a_file_that_breaks_in_a_later_chunk_stores_nothing(committed_hotline, monkeypatch) -> None:
    """The first chunk (the 4 good rows) is stored before the reader meets the bad bytes 24 kB on (it runs at most
    two chunks ahead): the command's one transaction takes that chunk back."""
    from grids.cli import incidents_group

    monkeypatch.setattr("grids.incident_io.CHUNK_ROWS", 50)
    unknown = [f"RX2025200{n:03d},2025/10/10 18:00,,不存在的类别,29.2,119.5,某路,某事,处理中\n" for n in range(300)]
    with committed_hotline.open("ab") as handle:
        handle.write("".join(unknown).encode() + b"RX2025100899,2025/10/10 18:00,,E0101,29.2,119.5,\xff\xfe,x,\n")
    result = CliRunner().invoke(incidents_group, ["import", str(committed_hotline), "--map",
                                                  str(committed_hotline.with_name("map.json")), "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["error"]["code"] == "bad_encoding"
    assert "line 313 (byte " in json.loads(result.output)["error"]["message"]  # header, 11 + 300 rows, this one
    assert list(committed_hotline.parent.glob("*.rejects.csv*")) == []  # no report of an import that did not happen
    engine = create_engine(os.environ["DATABASE_URL"])
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Incident).where(Incident.source == "import")) == 0
    engine.dispose()


def test_a_row_with_extra_cells_or_closed_without_a_time_is_rejected(db, demo_city, tmp_path) -> None:
    """A broken quote spills cells past the header; a 已办结 row without its 办结时间 would be a closed case
    with no closing date in every export and Open311 answer."""
    publish_square_layout(db)
    good = hotline_rows(db)[0]
    spilled = [good[0].replace("01", "93"), *good[1:], "多出", "的格"]
    undated = [good[0].replace("01", "94"), good[1], "", *good[3:8], "已办结"]
    path = write_csv(tmp_path / "ragged.csv", [spilled, undated, good])
    result = import_cases(db, CITY, path, MAPPING, crs="gcj02")
    assert (result["rows"], result["imported"], result["reasons"]) == (3, 1, {"extra_cells": 1,
                                                                              "status_mismatch": 1})
    with open(result["report"], encoding="utf-8-sig", newline="") as handle:
        details = {row[0]: row[-1] for row in csv.reader(handle)}
    assert "11 cells under a header of 9" in details[spilled[0]]
    assert "closed time (办结时间) is empty" in details[undated[0]]


def test_a_quote_left_open_loses_no_row_without_saying_so(db, demo_city, tmp_path) -> None:
    """A quote opened and never closed used to swallow every line after it into one description: the file's
    last rows vanished and its first was imported without its status. Now each broken record is rejected
    with the lines it spans, and the rows before it still go in."""
    publish_square_layout(db)
    good, other, last = hotline_rows(db)[:3]
    glued = [good[0].replace("01", "95"), *good[1:7], '"垃圾"桶满溢', good[8]]  # text after a closing quote
    lines = [",".join(HEADER), ",".join(good), ",".join(glued), ",".join(other),
             ",".join([*last[:7], '"路边垃圾']), ",".join(last)]  # the quote opened in line 5 is never closed
    path = tmp_path / "open_quote.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_cases(db, CITY, path, MAPPING, crs="gcj02")
    assert (result["rows"], result["imported"], result["rejected"]) == (4, 2, 2)
    assert result["reasons"] == {"bad_quote": 2}
    with open(result["report"], encoding="utf-8-sig", newline="") as handle:
        details = [row[-1] for row in csv.reader(handle)][1:]
    assert details[0].startswith("line 3: ',' expected after '\"'")
    assert details[1].startswith("the quote opened in line 5 is never closed: lines 5-6")
    assert set(cases(db)) == {good[0], other[0]}
    long_tail = tmp_path / "long_tail.csv"  # an export's quote left open near the top: the cell outgrows the reader
    long_tail.write_text("\n".join([",".join(HEADER), ",".join([*last[:7], '"路边垃圾']),
                                    *[",".join(good)] * 3000]) + "\n", encoding="utf-8")
    swallowed = import_cases(db, CITY, long_tail, MAPPING, crs="gcj02", report_path=tmp_path / "tail.rejects.csv")
    with open(swallowed["report"], encoding="utf-8-sig", newline="") as handle:
        detail = list(csv.reader(handle))[1][-1]
    assert detail.startswith("a cell from line 2 runs past 131,072 characters: a quote opened there is probably")
    assert re.search(r"lines 2-\d{3,4} read as one cell", detail)


def test_the_import_refuses_to_overwrite_its_file_and_keeps_open311_texts_in_bounds(db, demo_city,
                                                                                     tmp_path) -> None:
    """A report path naming the CSV itself would have replaced the hotline's data with the rejects; a
    description over the API's 4,000 characters would have made the Open311 feed break its schema; a closed
    time under a status the mapping does not call closed would have imported a closed case as open."""
    publish_square_layout(db)
    good, other = hotline_rows(db)[:2]
    path = write_csv(tmp_path / "hotline.csv", [good])
    with pytest.raises(Invalid, match="would overwrite the file being imported") as refused:
        import_cases(db, CITY, path, MAPPING, crs="gcj02", report_path=tmp_path / "." / "hotline.csv")
    assert refused.value.code == "bad_report_path"
    assert path.read_text(encoding="utf-8-sig").splitlines()[1].startswith(good[0])
    long = [good[0].replace("01", "96"), *good[1:7], "满" * 4001, good[8]]
    closed_unnamed = [other[0], other[1], "2025/10/09 10:00", *other[3:8], "已办结（回访满意）"]
    result = import_cases(db, CITY, write_csv(tmp_path / "more.csv", [long, closed_unnamed]), MAPPING, crs="gcj02")
    assert (result["imported"], result["reasons"]) == (0, {"too_long": 1, "status_mismatch": 1})
    with open(result["report"], encoding="utf-8-sig", newline="") as handle:
        details = [row[-1] for row in csv.reader(handle)][1:]
    assert details[0] == "description over 4000 characters"
    assert "'已办结（回访满意）' is not one of closed_values ['已办结', '已归档']" in details[1]


def test_the_source_systems_deadline_is_what_on_time_and_overdue_are_judged_by(db, hotline, tmp_path,
                                                                                 client) -> None:
    """With a deadline column an imported case keeps the source's 应办结时间: closed after it is not 按期, open
    past it is 超期; it starts no clock, so the first sweep after a big import escalates none of the history;
    a deadline before the report is a bad date."""
    youbu = inner_gcj(db, YOUBU)
    path = tmp_path / "with_deadlines.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*HEADER, "应办结时间"])
        for no, created, closed, deadline, status in (
                ("DL1", "2025/10/08 14:30", "2025/10/09 09:15", "2025/10/08 18:30", "已办结"),  # closed late
                ("DL2", "2025/10/08 15:02", "", "2025/10/09 15:02", "处理中"),  # open, long past its deadline
                ("DL3", "2025/10/08 16:00", "", "2025/10/08 09:00", "处理中")):  # deadline before the report
            writer.writerow([no, created, closed, "E0101", youbu[1], youbu[0], "游埠老街", "垃圾", status, deadline])
    mapping = {**MAPPING, "deadline": {"column": "应办结时间", "format": "%Y/%m/%d %H:%M", "tz": "Asia/Shanghai"}}
    result = import_cases(db, CITY, path, mapping, crs="gcj02")
    assert (result["imported"], result["reasons"]) == (2, {"bad_date": 1})
    late, open_case = cases(db)["DL1"], cases(db)["DL2"]
    assert datetime.fromisoformat(late.due_times["handle"]["due"]) == datetime(2025, 10, 8, 10, 30, tzinfo=UTC)
    exported = {r["external_id"]: r for r in csv.DictReader(io.StringIO(export_text(db, "csv").lstrip("\ufeff")))}
    assert exported["DL1"]["handle_due_at"] == "2025-10-08T18:30:00+08:00"  # in city time, after closing too
    assert open_case.deadline_at is None and open_case.id not in escalate_overdue(db)
    october = [r for r in evaluate(db, CITY, parse_period("month", "2025-10-08"), "township") if r.code == YOUBU][0]
    assert (october.counts["due"], october.counts["on_time"], october.counts["overdue"]) == (2, 0, 2)
    overdue = export_text(db, "csv", only=["overdue"])  # the 只看超时 filter judges it by the same deadline
    assert "DL2" in overdue and "DL1" not in overdue
    login(client, "dispatcher")  # the row and the pin say what the filter says: late, since when it was due
    row = client.get(f"/dispatch/cases/{open_case.id}").get_json()
    assert (row["deadline_class"], row["due_at"]) == ("overdue", "10-09 15:02 到期")
    assert row["due_text"].startswith("超时") and row["stage_due"] == "立案，无时限"  # no gridlink clock yet
    pins = features(client, "cases", tile_of(*open_case_point(db, open_case), 12))
    assert [p["properties"]["deadline"] for p in pins if p["id"] == open_case.id] == ["overdue"]


def test_an_imported_case_is_due_by_its_sources_deadline_only_while_it_waits_for_the_centre() -> None:
    """A class without a time limit stores a null due (the rows raised on it); parked, nothing is due."""
    due = {"handle": {"due": "2025-10-09T07:02:00+00:00"}}
    assert Incident(source="import", status="reported", due_times=due).due_at == datetime(2025, 10, 9, 7, 2,
                                                                                          tzinfo=UTC)
    assert Incident(source="import", status="reported", due_times={"handle": {"due": None}}).due_at is None
    assert Incident(source="import", status="parked", due_times=due).due_at is None
    assert Incident(source="api", status="reported", due_times=due).due_at is None


def open_case_point(db, case: Incident) -> tuple[float, float]:
    return db.execute(select(func.ST_X(Incident.location), func.ST_Y(Incident.location))
                      .where(Incident.id == case.id)).one()


def test_of_two_codes_differing_in_letter_case_the_import_takes_the_one_written_so(db, demo_city, tmp_path) -> None:
    garbage = db.scalar(select(Category).where(Category.city_code == CITY, Category.code == "E0101"))
    db.add(Category(city_code=CITY, code="e0101", name="小写编码", type="event", parent_id=garbage.parent_id,
                    time_limit="2h"))
    db.flush()
    publish_square_layout(db)
    good = hotline_rows(db)[0]
    rows = [[f"RX-CASE-{n}", *good[1:3], written, *good[4:]] for n, written in enumerate(("e0101", "E0101", "Ｅ0101"))]
    result = import_cases(db, CITY, write_csv(tmp_path / "cased.csv", rows), MAPPING, crs="gcj02")
    assert result["imported"] == 2 and result["reasons"] == {"unknown_category": 1}
    stored = cases(db)
    assert [stored[f"RX-CASE-{n}"].category.code for n in (0, 1)] == ["e0101", "E0101"]


def test_a_second_import_into_a_city_while_one_runs_is_refused_and_counts_every_row_after(committed_hotline) -> None:
    """Run at once, the second waited on the first's case numbers and skipped them uncounted: 4,315 of 4,902
    rows were neither imported nor rejected."""
    engine = create_engine(os.environ["DATABASE_URL"])
    first, second = Session(engine), Session(engine)
    assert import_cases(first, CITY, committed_hotline, MAPPING, crs="gcj02")["imported"] == 4  # not committed yet
    with pytest.raises(Conflict, match="another import into city 330781 is running") as refused:
        import_cases(second, CITY, committed_hotline, MAPPING, crs="gcj02")
    assert refused.value.code == "import_running"
    second.rollback()
    first.commit()
    again = import_cases(second, CITY, committed_hotline, MAPPING, crs="gcj02")
    second.commit()
    first.close(), second.close(), engine.dispose()
    assert again["rows"] == again["imported"] + again["rejected"] == 11
    assert (again["imported"], again["duplicates"]) == (0, 5)


def test_a_mapping_is_read_as_editors_save_it_and_a_java_format_is_refused(db, demo_city, tmp_path) -> None:
    """Header names with an editor's trailing (full-width) space; a mapping saved with a BOM; `yyyy/MM/dd` passed
    the check and rejected every row as bad_date; a closed status without a closed time counted nowhere."""
    publish_square_layout(db)
    path = tmp_path / "spaced.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"{name}\u3000" if n % 2 else f" {name} " for n, name in enumerate(HEADER)])
        writer.writerows(hotline_rows(db)[:1])
    assert import_cases(db, CITY, path, MAPPING, crs="gcj02")["imported"] == 1
    with pytest.raises(Invalid, match="'yyyy/MM/dd HH:mm' is not a strptime format"):
        validate_mapping({**MAPPING, "created": {**MAPPING["created"], "format": "yyyy/MM/dd HH:mm"}})
    with pytest.raises(Invalid, match="status: its closed_values mark cases closed, but the mapping has no closed"):
        validate_mapping({key: value for key, value in MAPPING.items() if key != "closed"})
    with pytest.raises(Invalid) as both:  # a missing column is named beside a schema error
        validate_mapping({**MAPPING, "colour": "red", "lat": "纬度(WGS84)"}, HEADER)
    assert "'colour' was unexpected" in str(both.value.details) and "column '纬度(WGS84)'" in str(both.value.details)


def test_import_analyses_the_reference_tables_the_planner_would_guess_at(empty_database_url) -> None:
    """A city's dozen-row tables never reach autovacuum's threshold; unanalysed, a 100,000-row import ran 5x
    longer. demo load and the import analyse what has no statistics."""
    from grids.demo import load_demo
    from grids.migrate import upgrade

    upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    with Session(engine) as session, session.begin():
        load_demo(session, grid_townships=())
    with engine.connect() as conn:
        never = conn.scalars(text("SELECT relname FROM pg_class WHERE relname IN ('divisions', 'routing_rules', "
                                  "'squads', 'categories') AND reltuples < 0")).all()
    engine.dispose()
    assert never == []


def test_a_zero_zero_placeholder_is_no_position_and_digit_separators_are_no_number(db, demo_city, tmp_path) -> None:
    publish_square_layout(db)
    good = hotline_rows(db)[0]
    lon, lat = good[5], good[4]
    rows = [["Z1", *good[1:4], "0", "0", *good[6:]], ["Z2", *good[1:4], lat, lon[:1] + "_" + lon[1:], *good[6:]]]
    result = import_cases(db, CITY, write_csv(tmp_path / "zero.csv", rows), MAPPING, crs="gcj02")
    assert result["reasons"] == {"bad_coordinates": 1, "missing_coordinates": 1}
    with open(result["report"], encoding="utf-8-sig", newline="") as handle:
        details = {row[0]: row[-1] for row in list(csv.reader(handle))[1:]}
    assert "placeholder for no position" in details["Z1"]


def test_an_empty_file_says_so_and_imported_history_belongs_to_its_department(db, hotline, tmp_path) -> None:
    """An empty file listed ten "its header: empty" problems; imported cases without a mapped deadline had no
    handling clock, so --department left them out (3 of 9,521 routed to sanitation)."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(Invalid, match="empty.csv is empty: it has no header row"):
        import_cases(db, CITY, empty, MAPPING)
    import_cases(db, CITY, hotline, MAPPING, crs="gcj02")
    routed = cases(db)["RX2025100801"]
    assert routed.due_times is None and routed.department is not None
    assert "RX2025100801" in export_text(db, "csv", department=routed.department.code)


def test_a_point_on_two_townships_common_edge_lands_in_its_grids_township(db, hotline, tmp_path) -> None:
    """On the edge 兰江街道 (no grids, the lower division id) shares with 游埠镇, the grid there decides the
    township: the case was in 游埠's grid with 游埠's squad, yet under 兰江街道, whose squad list never showed it."""
    lon, lat = db.execute(text(  # a vertex both outlines have: exactly on both
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointN(l, ST_NPoints(l) / 2) AS p FROM (SELECT"
        " ST_LineMerge(ST_Intersection(a.geom, b.geom)) AS l FROM divisions a, divisions b"
        " WHERE a.code = :a AND b.code = :b) e) q"), {"a": ELSEWHERE, "b": YOUBU}).one()
    on = db.scalars(select(Division.code).where(func.ST_Covers(Division.geom, func.ST_SetSRID(
        func.ST_MakePoint(lon, lat), 4326))).order_by(Division.id)).all()
    assert ELSEWHERE in on and on.index(ELSEWHERE) < on.index(YOUBU)  # lowest id on the edge: 兰江街道
    where = locate(db, CITY, lon, lat, category=by_code(db, Category, "E0101"))
    assert where.grid is not None and where.grid.code.startswith(YOUBU)
    assert where.township.code == YOUBU and where.squad.code == f"SQ{YOUBU}"
    row = ["RX-EDGE", "2025/10/08 14:30", "", "E0101", str(lat), str(lon), "界路", "界上", "处理中"]
    import_cases(db, CITY, write_csv(tmp_path / "edge.csv", [row]), MAPPING, crs="wgs84")
    edge = cases(db)["RX-EDGE"]
    assert (edge.grid_id, edge.township_id, edge.squad_id) == (where.grid.id, where.township.id, where.squad.id)
    import_units(db, CITY, [Feature(1, {"name": "界路小卖部"}, Point(lon, lat), None)], "name")  # a shop there too
    shop = db.scalar(select(FrontageUnit).where(FrontageUnit.name == "界路小卖部"))
    assert shop.township_id == where.township.id  # its township's squad inspects it


def test_an_export_names_the_community_frontage_unit_and_component_of_each_case(db, demo_city) -> None:
    """The division codes down to the grid's community, and the 门前三包 unit and the component (部件) a case
    was routed by: what a bureau's monthly report groups by."""
    from shapely.geometry import MultiPolygon, box

    from grids.components import component_by_code
    from grids.demo import DAMAGED_COMPONENT
    from grids.divisions import upsert_division
    from grids.incidents import open_case
    from grids.models import FrontageUnit

    township = by_code(db, Division, ELSEWHERE)
    x, y = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                             func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(Division.id == township.id)).one()
    upsert_division(db, CITY, ELSEWHERE + "001", "测试社区", "community",
                    MultiPolygon([box(x - 0.004, y - 0.004, x + 0.004, y + 0.004)]), parent=township)
    layout = generate_layout(db, CITY, ELSEWHERE + "001", target_area=1_000_000, method="square")
    publish_layout(db, layout.id)
    garbage = by_code(db, Category, "E0101")
    in_community = open_case(db, CITY, garbage, x, y, source="test", description="社区里")
    shop = db.scalar(select(FrontageUnit).where(FrontageUnit.name == "老街水果店"))
    inside = func.ST_PointOnSurface(FrontageUnit.area)
    at_shop = db.execute(select(func.ST_X(inside), func.ST_Y(inside)).where(FrontageUnit.id == shop.id)).one()
    by_shop = open_case(db, CITY, garbage, *at_shop, source="test", description="店门口")
    cover = component_by_code(db, CITY, DAMAGED_COMPONENT)
    by_cover = open_case(db, CITY, cover.category, None, None, source="test", description="井盖松动",
                         component_code=cover.code)
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(export_text(db, "csv").lstrip("\ufeff")))}
    mine = rows[in_community.id]
    assert (mine["community_code"], mine["township_code"], mine["district_code"]) == (
        ELSEWHERE + "001", ELSEWHERE, "")  # a county-level city has no districts
    assert mine["grid_code"].startswith(ELSEWHERE + "001") and mine["frontage_unit"] == mine["component_code"] == ""
    assert rows[by_shop.id]["frontage_unit"] == "老街水果店" and rows[by_shop.id]["community_code"] == ""
    assert rows[by_cover.id]["component_code"] == cover.code
