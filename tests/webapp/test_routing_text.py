"""The routing explanation reads in the reader's language; stored text stays for cases without steps."""

from flask_babel import force_locale

from grids.incidents import REASON_TEXT
from webapp.labels import ROUTING_STEPS, routing_text

STEPS = [["township", {"name": "游埠镇"}], ["grid", {"code": "330781102004553"}],
         ["city_rule", {"name": "环卫", "category": "E0101"}], ["owner", {"owner": "department"}]]


def test_every_routing_step_has_words_in_each_language() -> None:
    assert set(ROUTING_STEPS) == set(REASON_TEXT)


def test_steps_are_worded_in_chinese_and_english(app) -> None:
    """The category by its name in the reader's language: the stored code read 全市 E0101 类派遣规则."""
    with app.test_request_context("/"):
        chinese = routing_text(STEPS, "stored")
        with force_locale("en"):
            english = routing_text(STEPS, "stored")
    assert chinese == "乡镇：游埠镇；网格：330781102004553；部门：环卫（全市 暴露垃圾 类派遣规则）；责任主体：部门"
    assert english.startswith("township 游埠镇; grid 330781102004553; department 环卫: city-wide rule")
    assert "E0101" not in english and "Exposed garbage" in english


def test_cases_without_steps_show_the_stored_text(app) -> None:
    with app.test_request_context("/"):
        assert routing_text(None, "township X; owner: squad") == "township X; owner: squad"
        assert routing_text([["from_a_newer_version", {}]], "stored text") == "stored text"


def test_the_dispatch_drawer_explains_routing_in_chinese(client, db) -> None:
    from sqlalchemy import func, select

    from grids.incidents import open_case
    from grids.models import Category, Division
    from tests.conftest import login

    inner = func.ST_PointOnSurface(Division.geom)
    x, y = db.execute(select(func.ST_X(inner), func.ST_Y(inner)).where(Division.code == "330781102")).one()
    case = open_case(db, "330781", db.scalar(select(Category).where(Category.code == "E0101")), x, y,
                     source="test", description="路边垃圾")
    db.flush()
    login(client, "dispatcher")
    drawer = client.get(f"/dispatch/cases/{case.id}").get_json()
    assert drawer["routing_reason"].startswith("乡镇：游埠镇（示意）；网格：330781102")
    assert "责任主体：部门" in drawer["routing_reason"]


def test_times_read_as_the_city_clock_not_the_server_clock(app) -> None:
    from datetime import UTC, datetime

    from webapp.labels import city_time

    with app.test_request_context("/"):
        assert city_time(datetime(2026, 11, 26, 11, 30, tzinfo=UTC)) == "2026-11-26 19:30"  # Asia/Shanghai
        assert city_time(None) == ""
