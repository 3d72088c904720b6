"""统计评价 page: the ranking with rates as percentages, the empty state, a CSV whose cells stay text, English."""

import csv
import io
from collections import Counter
from datetime import date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from grids.demo import DEMO_HISTORY, HISTORY_PREFIX, PILOT_TOWNSHIPS, load_history
from grids.evaluation import parse_period, percent
from grids.models import Division, Incident
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
    """What `make demo` shows on /reports by default (this month, by township): the six pilot townships
    ranked by their worked cases, 诸葛 first with everything closed and nothing reworked.

    An open case is due to close this month when its handling deadline falls in it: on a month's last
    working hours the 2-hour deadline falls next month, and the township's rates are those of its closed cases.
    """
    load_history(db)
    login(client, "viewer")
    page = client.get("/reports").get_data(as_text=True)
    assert rows_of(page)[0] == "330781104" and set(rows_of(page)[:6]) == set(PILOT_TOWNSHIPS)
    assert all(cells(page, code)["rank"].isdigit() for code in rows_of(page)[:6])
    assert all(cells(page, code)["score"] == "—" for code in rows_of(page)[6:])
    zhuge = cells(page, "330781104")
    assert zhuge.pop("name").startswith("诸葛镇") and zhuge == {
        "rank": "1", "due": "4", "closed": "4", "on_time": "4", "结案率": "100.00%", "按期结案率": "100.00%",
        "返工率": "0.00%", "延期率": "0.00%", "准确派遣率": "100.00%", "handle_hours": "0.0", "score": "100.00"}
    assert cells(page, "330781108")["返工率"] == "20.00%"  # 1 rework of 5 handling reports
    assert cells(page, "330781102")["延期率"] == "14.29%" and cells(page, "330781004")["准确派遣率"] == "85.71%"
    tz = ZoneInfo("Asia/Shanghai")
    month_end = parse_period("month", datetime.now(tz).date()).bounds(tz)[1]
    still_open = db.scalars(select(Incident).where(Incident.external_id.like(f"{HISTORY_PREFIX}%"),
                                                   Incident.status != "closed")).all()
    due_open = Counter(case.township.code for case in still_open if case.deadline_at < month_end)
    closed = Counter(town for town, _, _, script, _ in DEMO_HISTORY if script != "open")
    for code in PILOT_TOWNSHIPS:
        row, due = cells(page, code), closed[code] + due_open[code]
        assert (row["closed"], row["due"]) == (str(closed[code]), str(due)), code
        assert row["结案率"] == row["按期结案率"] == f"{percent(Fraction(closed[code], due))}%", code
