"""GET /api/v1/incidents/export.csv|geojson: a download of the caller's cases, text kept as data."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from sqlalchemy import func, select, update

from grids.incident_io import EXPORT_COLUMNS
from grids.incidents import Actor
from grids.models import Division, Incident, User
from grids.workflow import act, report
from tests.conftest import login

CITY = "330781"
YOUBU = "330781102"
ZHUGE = "330781104"
FORMULA = "=cmd|' /C calc'!A0"
XSS = "<img src=x onerror=alert(1)> </script>"


@pytest.fixture()
def cases(db, app) -> dict[str, int]:
    """A case in 游埠镇 with hostile text and one in 诸葛镇, next to the demo city's cases."""
    dispatcher = Actor(city_code=CITY, role="dispatcher", label="test")
    made = {}
    for code, text in ((YOUBU, FORMULA), (ZHUGE, "普通描述")):
        inner = func.ST_PointOnSurface(Division.geom)
        lon, lat = db.execute(select(func.ST_X(inner), func.ST_Y(inner)).where(Division.code == code)).one()
        made[code] = report(db, dispatcher, "E0101", lon, lat, source="api", description=text, address=XSS).id
    db.flush()
    return made


def attachment(response) -> str:
    """The extension of a download named for the city's day (incidents-2026-11-27.csv)."""
    header = response.headers["Content-Disposition"]
    named = re.fullmatch(r"attachment; filename=incidents-\d{4}-\d\d-\d\d\.(\w+)", header)
    return named.group(1) if named else header


def rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_csv_download_is_an_attachment_with_text_kept_as_data(client, db, cases) -> None:
    login(client, "dispatcher")
    response = client.get("/api/v1/incidents/export.csv")
    assert response.status_code == 200
    assert attachment(response) == "csv"
    assert response.mimetype == "text/csv"
    got = rows(response)
    assert list(got[0]) == list(EXPORT_COLUMNS)
    total = client.get("/api/v1/incidents?per_page=1").json["total"]
    assert len(got) == total
    mine = next(r for r in got if r["id"] == str(cases[YOUBU]))
    assert mine["description"] == "'" + FORMULA and mine["address"] == XSS and mine["township_code"] == YOUBU
    assert mine["reported_at"].endswith("+08:00") and mine["routing_reason"]
    co_managed = [r for r in got if r["co_manager"] == "co_manager"]  # the demo's 游埠镇 cases
    names = {r["co_manager_name"] for r in co_managed}
    assert co_managed and names == {db.scalar(select(User.display_name).where(User.username == "co_manager"))}


def test_geojson_download_with_filters(client, cases) -> None:
    login(client, "dispatcher")
    response = client.get(f"/api/v1/incidents/export.geojson?township={YOUBU}&category=E0101&status=reported")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    assert attachment(response) == "geojson"
    features = response.json["features"]
    assert cases[YOUBU] in {f["id"] for f in features} and cases[ZHUGE] not in {f["id"] for f in features}
    mine = next(f for f in features if f["id"] == cases[YOUBU])
    assert mine["properties"]["description"] == FORMULA and mine["properties"]["address"] == XSS
    assert {f["properties"]["township_code"] for f in features} == {YOUBU}


def test_a_squad_downloads_only_its_township(client, cases) -> None:
    login(client, "squad_leader")
    ids = {int(r["id"]) for r in rows(client.get("/api/v1/incidents/export.csv"))}
    assert cases[YOUBU] in ids and cases[ZHUGE] not in ids


def test_bad_filters_unknown_formats_and_strangers_are_refused(client, cases) -> None:
    assert client.get("/api/v1/incidents/export.csv").status_code == 401
    login(client, "dispatcher")
    bad = client.get("/api/v1/incidents/export.csv?since=last-week")
    assert bad.status_code == 422 and bad.json["error"]["code"] == "bad_filter"
    assert client.get("/api/v1/incidents/export.pdf").status_code == 404


def test_the_dispatch_page_offers_its_filtered_cases_as_downloads(client, db, cases) -> None:
    login(client, "dispatcher")
    township = db.scalar(select(Division.id).where(Division.code == YOUBU))
    page = client.get(f"/dispatch?township={township}&since=2020-01-01").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)" download data-export="csv"', page).group(1).replace("&amp;", "&")
    assert f"township={YOUBU}" in link and "since=2020-01-01" in link
    downloaded = rows(client.get(link))
    assert cases[YOUBU] in {int(r["id"]) for r in downloaded}
    assert {r["township_code"] for r in downloaded} == {YOUBU}
    assert 'data-export="geojson"' in page
    workbook = re.search(r'<a href="([^"]+)" download data-export="xlsx"', page).group(1).replace("&amp;", "&")
    response = client.get(workbook)
    assert attachment(response) == "xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True)["cases"]
    ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(ids) == sorted(int(r["id"]) for r in downloaded)
    header = next(sheet.iter_rows(max_row=1, values_only=True))
    assert header[0] == "案件编号\nid"
    # for people, in words: status, channel, owner and routing read as the page does (the CSV keeps the codes)
    mine = next(dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)
                if row[0] == cases[YOUBU])
    coded = next(r for r in downloaded if int(r["id"]) == cases[YOUBU])
    assert (coded["status"], coded["source"], coded["owner_type"]) == ("reported", "api", "department")
    assert (mine["status"], mine["source"], mine["owner_type"]) == ("已上报", "系统接口", "部门")
    assert mine["routing_reason"].startswith("乡镇：") and "owner:" not in mine["routing_reason"]
    client.get("/dispatch?lang=en")  # an English reader's workbook is headed in English (it was Chinese for all)
    english = openpyxl.load_workbook(io.BytesIO(client.get(workbook).data), read_only=True)["cases"]
    assert next(english.iter_rows(max_row=1, values_only=True))[:2] == ("Case no.\nid", "External no.\nexternal_id")
    english_row = next(row for row in english.iter_rows(min_row=2, values_only=True) if row[0] == cases[YOUBU])
    assert english_row[EXPORT_COLUMNS.index("status")] == "Reported"


def test_the_download_of_an_overdue_or_one_channel_queue_holds_what_the_queue_shows(client, db, cases) -> None:
    """只看超时 and 来源 travel with the download (it exported the whole city, closed cases too)."""
    db.execute(update(Incident).where(Incident.id == cases[YOUBU])
               .values(deadline_at=func.now() - func.make_interval(0, 0, 0, 0, 1)))
    login(client, "dispatcher")
    for query, check in (("overdue=1", lambda r: r["id"] == str(cases[YOUBU])),
                         ("source=api", lambda r: r["source"] == "api")):
        page = client.get(f"/dispatch?{query}").get_data(as_text=True)
        link = re.search(r'<a href="([^"]+)" download data-export="csv"', page).group(1).replace("&amp;", "&")
        assert query in link
        downloaded = rows(client.get(link))
        assert downloaded and all(check(r) for r in downloaded), (query, downloaded)
    triage = {int(r["id"]) for r in rows(client.get("/api/v1/incidents/export.csv?triage=1"))}
    assert cases[ZHUGE] in triage  # in no grid: 待分拣
    act(db, cases[ZHUGE], "cancel", Actor(city_code=CITY, role="dispatcher", label="test"), 1, reason="invalid")
    db.flush()
    assert cases[ZHUGE] not in {int(r["id"]) for r in rows(client.get("/api/v1/incidents/export.csv?triage=1"))}
    unknown = client.get("/api/v1/incidents/export.csv?township=abc")
    assert unknown.status_code == 422 and "unknown township abc" in unknown.json["error"]["message"]
    # A .NET or Python client writes True: it filters as true does (it exported every case of the city)
    assert {int(r["id"]) for r in rows(client.get("/api/v1/incidents/export.csv?overdue=True"))} == {cases[YOUBU]}
    assert client.get("/api/v1/incidents?overdue=TRUE").json["total"] == 1
    assert client.get("/api/v1/incidents?overdue=0").json["total"] > 1
    maybe = client.get("/api/v1/incidents?overdue=maybe")
    assert maybe.status_code == 422 and maybe.json["error"]["code"] == "bad_filter"
    assert "overdue is 1/true" in maybe.json["error"]["message"]


def test_the_queue_and_its_download_narrow_to_the_cases_a_department_has(client, db, cases) -> None:
    """The supervisor's overdue list per department (承办单位): the queue, its download and the list agree."""
    centre = Actor(city_code=CITY, role="dispatcher", label="test")
    for action in ("file", "dispatch"):
        act(db, cases[YOUBU], action, centre, db.get(Incident, cases[YOUBU]).version)
    db.flush()
    login(client, "supervisor")
    page = client.get("/dispatch?department=sanitation").get_data(as_text=True)
    assert f'data-case="{cases[YOUBU]}"' in page and f'data-case="{cases[ZHUGE]}"' not in page
    link = re.search(r'<a href="([^"]+)" download data-export="csv"', page).group(1).replace("&amp;", "&")
    assert "department=sanitation" in link
    downloaded = rows(client.get(link))
    assert cases[YOUBU] in {int(r["id"]) for r in downloaded} and {r["department_code"] for r in downloaded} == {
        "sanitation"}
    listed = client.get("/api/v1/incidents?department=sanitation&per_page=100").json["items"]
    assert cases[YOUBU] in {item["id"] for item in listed}
    unknown = client.get("/api/v1/incidents/export.csv?department=sanitaton")
    assert unknown.status_code == 422 and "unknown department sanitaton" in unknown.json["error"]["message"]
