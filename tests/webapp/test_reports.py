"""统计评价 page: the ranking with rates as percentages, the empty state, a CSV whose cells stay text, English."""

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, update

from grids.demo import PILOT_TOWNSHIPS, load_history
from grids.evaluation import parse_period
from grids.models import Division
from tests.conftest import login
from tests.grids.test_evaluation import YOUBU, insert_due_cases

MARCH_2025 = "/reports?period=month&date=2025-03-15&by=township"
ON_TIME, LATE = "2025-03-09T16:00:00+08:00", "2025-03-12T09:00:00+08:00"


def rows_of(page: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in page.split('data-object="')[1:]]


def test_the_ranking_shows_rates_as_percentages_best_first(client, db) -> None:
    insert_due_cases(db, [ON_TIME] * 737 + [LATE] * 174 + [None] * 61)
    login(client, "viewer")
    response = client.get(MARCH_2025)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "2025-03" in page
    assert rows_of(page)[0] == YOUBU and len(rows_of(page)) == 16  # every township, ranked or not
    youbu = page.split(f'data-object="{YOUBU}"', 1)[1].split("</tr>", 1)[0]
    assert ">972<" in youbu and ">911<" in youbu and ">737<" in youbu
    assert "93.72%" in youbu and "75.82%" in youbu and "84.77" in youbu
    others = page.split("</tr>", 2)[2]
    assert "0%" not in others.split("</table>")[0]  # nothing due elsewhere: a dash, never 0 %


def test_a_period_with_nothing_due_says_what_to_do(client) -> None:
    login(client, "dispatcher")
    page = client.get("/reports?period=year&date=2019-06-01&by=squad").get_data(as_text=True)
    assert "本期没有应结案的案件：换一个时段" in page and "<table" not in page
    assert client.get("/reports").status_code == 200  # no choice yet: this month, by township
    week = client.get("/reports?period=week&date=2026-11-26&by=township").get_data(as_text=True)
    assert "2026 年第 48 周（2026-11-23 至 2026-11-29）" in week  # in words with its days (it read 2026-W48)
    quarter = client.get("/reports?period=quarter&date=2026-11-26&lang=en").get_data(as_text=True)
    assert "Q4 2026 (2026-10-01 to 2026-12-31)" in quarter
    year = client.get("/reports?period=year&date=2026-11-26&lang=zh_CN").get_data(as_text=True)
    assert "2026 年（2026-01-01 至 2026-12-31）" in year  # it read 1 年: the year's number took its key


@pytest.mark.parametrize("bad", ["2025-13-01", "9999-12-31", "<b>26/11</b>"])
def test_a_bad_date_is_refused_in_the_page_language_with_what_to_type(client, bad) -> None:
    """In Chinese first, English after the switch; the form comes back set to today, without a ranking."""
    login(client, "dispatcher")
    response = client.get(f"/reports?period=quarter&by=squad&date={bad}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "<table" not in page
    shown = bad.replace("<", "&lt;").replace(">", "&gt;")
    assert f"“{shown}”不是有效日期：请按“年-月-日”填写 9999 年以前的一天，例如 " in page
    assert 'value="quarter" selected' in page and 'value="squad" selected' in page
    today = page.split("例如 ", 1)[1][:10]
    assert f'name="date" value="{today}"' in page and date.fromisoformat(today)
    client.get("/lang/en")
    english = client.get(f"/reports?date={bad}").get_data(as_text=True)
    assert f"“{shown}” is not a valid date: enter a day before the year 9999 as year-month-day" in english
    assert "不是有效日期" not in english


def test_the_csv_download_keeps_formula_like_names_as_text(client, db) -> None:
    insert_due_cases(db, [ON_TIME, None])
    db.execute(update(Division).where(Division.code == YOUBU).values(name="=HYPERLINK(\"http://x\")"))
    login(client, "dispatcher")
    response = client.get(MARCH_2025 + "&format=csv")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert table[0][:3] == ["名次", "编码", "名称"] and "应结案数" in table[0] and "综合得分" in table[0]
    youbu = next(row for row in table if row[1] == YOUBU)
    assert youbu[2] == "'=HYPERLINK(\"http://x\")"
    assert youbu[table[0].index("结案率")] == "50.00" and youbu[table[0].index("应结案数")] == "2"


def test_english_shows_english_headers(client, db) -> None:
    insert_due_cases(db, [ON_TIME])
    login(client, "dispatcher")
    client.get("/lang/en")
    page = client.get(MARCH_2025).get_data(as_text=True)
    assert "Due to close" in page and "On-time closing rate" in page and "Show ranking" in page
    assert "应结案数" not in page
    header = client.get(MARCH_2025 + "&format=csv").get_data().decode("utf-8-sig").splitlines()[0]
    assert header.startswith("Rank,Code,Name,") and "Closing rate" in header


def cells(page: str, code: str) -> dict[str, str]:
    """The ranking row of one township: column key -> text shown."""
    row = page.split(f'data-object="{code}"', 1)[1].split("</tr>", 1)[0]
    return {chunk.split('"', 1)[0]: chunk.split(">", 1)[1].split("<", 1)[0] for chunk in row.split('data-col="')[1:]}


def test_the_demo_ranking_ranks_the_pilot_townships_by_their_worked_cases(client, db) -> None:
    """What `make demo` shows on /reports: this month and last month each rank pilot townships by their worked
    cases (six weeks of back-filled history); late closings put 按期结案率 below 结案率, handling takes hours."""
    load_history(db)
    login(client, "viewer")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    last_month = parse_period("month", today.replace(day=1) - timedelta(days=1)).start
    shown = []
    for query in ("/reports", f"/reports?period=month&date={last_month}&by=township"):
        page = client.get(query).get_data(as_text=True)
        ranked = [code for code in rows_of(page) if cells(page, code)["rank"].isdigit()]
        assert ranked and set(ranked) <= set(PILOT_TOWNSHIPS), query
        assert all(cells(page, code)["score"] == "—" for code in rows_of(page) if code not in PILOT_TOWNSHIPS)
        shown += [cells(page, code) for code in ranked]
    assert any(float(row["按期结案率"][:-1]) < float(row["结案率"][:-1]) for row in shown)
    assert all(float(row["按期结案率"][:-1]) <= float(row["结案率"][:-1]) for row in shown)
    assert any(float(row["handle_hours"]) > 0 for row in shown if row["handle_hours"] != "—")


def test_a_squad_below_two_co_managers_per_officer_is_flagged(client, db) -> None:
    """DOMAIN §1: at least 2 co-managers per officer, and a report flags the townships below it. The demo
    meets it; 游埠 co-managers leaving (deactivated) until one is missing put 游埠中队 below."""
    from sqlalchemy import select

    from grids.models import Squad, User

    login(client, "supervisor")
    page = client.get("/reports").get_data(as_text=True)
    assert "data-staffing-ok" in page and "data-understaffed" not in page
    youbu = db.scalar(select(Squad).where(Squad.code == "SQ330781102"))
    officers = db.scalar(select(func.count()).where(User.squad_id == youbu.id, User.role == "officer", User.active))
    co_managers = db.scalars(select(User.id).where(User.squad_id == youbu.id, User.role == "co_manager")).all()
    leaving = co_managers[:len(co_managers) - (2 * officers - 1)]  # as many leave as put the squad one short
    db.execute(update(User).where(User.id.in_(leaving)).values(active=False))
    db.flush()
    flagged = client.get("/reports").get_data(as_text=True).split("data-understaffed>")[1].split("</ul>")[0]
    assert f"{youbu.name}（游埠镇（示意））：执法队员 {officers} 名，协管员 {2 * officers - 1} 名，少 1 名" in flagged
    assert flagged.count("<li>") == 1
    from grids.org import station_squad  # a squad just stationed read as meeting the rule: 0 officers, 0 needed

    station_squad(db, "330781", "SQ330781006", "女埠中队", "330781006")
    db.flush()
    flagged = client.get("/reports").get_data(as_text=True).split("data-understaffed>")[1].split("</ul>")[0]
    assert "女埠中队（女埠街道（示意））：还没有执法队员" in flagged and flagged.count("<li>") == 2


def test_the_ranking_offers_the_division_levels_the_city_has(client) -> None:
    """Lanxi, a county-level city, has townships and no districts: 按区县 would rank nothing there."""
    login(client, "supervisor")
    page = client.get("/reports").get_data(as_text=True)
    assert '<option value="township" selected>按乡镇（街道）</option>' in page and 'value="district"' not in page
    assert "按乡镇（街道）" in client.get("/reports?by=district").get_data(as_text=True).split("<h1>")[1]
