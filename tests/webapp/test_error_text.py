"""People read refusals in their own language, with the case's own words in them: the JSON our pages read
carries `display` beside the stable English `message`, and error pages, history notes and durations are worded."""

from __future__ import annotations

from sqlalchemy import select

from grids.models import User
from grids.workflow import act
from tests.conftest import login
from tests.webapp.test_department import action, dispatched  # noqa: F401 (fixture)


def test_an_action_the_state_does_not_allow_is_refused_in_chinese_with_what_is_possible(client, dispatched) -> None:  # noqa: F811
    login(client, "department")
    refused = action(client, dispatched, "close", dispatched.version)
    error = refused.json["error"]
    assert refused.status_code == 422 and error["code"] == "illegal_action"
    assert error["message"] == ("a case that is dispatched cannot be 'close'ed; allowed now: accept, return, handle, "
                                "request_extension")  # machines keep English
    assert error["display"] == "案件已派遣，不能结案；现在可做：接单、退回、处置反馈、申请延期。"


def test_a_role_refusal_names_the_roles_that_may_in_the_readers_language(client, dispatched) -> None:  # noqa: F811
    login(client, "inspector")
    refused = action(client, dispatched, "redispatch", dispatched.version, department="sanitation")
    assert refused.status_code == 403
    assert refused.json["error"]["display"] == "监督员不能改派此案件，需要：派遣员或值班长。"
    client.get("/lang/en")
    again = action(client, dispatched, "redispatch", dispatched.version, department="sanitation")
    assert again.json["error"]["display"] == (
        "The role Inspector may not take “Redispatch” on this case; that needs: Dispatcher or Shift supervisor.")


def test_a_note_too_long_is_refused_in_the_readers_language(client, dispatched) -> None:  # noqa: F811
    """It showed "note must be text of at most 4000 characters" on a Chinese page."""
    login(client, "department")
    refused = action(client, dispatched, "return", dispatched.version, note="长" * 4001, reason="长" * 4001)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "too_long"
    assert refused.json["error"]["display"] == "字数超出上限（说明最多 4000 个字）：请删减后重试。"
    client.get("/lang/en")
    again = action(client, dispatched, "return", dispatched.version, note="长" * 4001, reason="长" * 4001)
    assert again.json["error"]["display"] == "Too long (note at most 4000 characters): shorten it and try again."


def test_error_pages_speak_chinese(client) -> None:
    login(client, "squad_leader")
    forbidden = client.get("/plan")
    assert forbidden.status_code == 403 and "您的角色不能打开此页面。" in forbidden.get_data(as_text=True)
    missing = client.get("/township/cases/987654321")
    assert missing.status_code == 404 and "没有这个案件，或它不在你的辖区内。" in missing.get_data(as_text=True)
    gone = client.post("/api/v1/incidents/987654321/actions", json={"action": "accept", "version": 1})
    assert gone.status_code == 404 and gone.json["error"]["display"] == "没有这个案件，或它不在你的辖区内。"
    nowhere = client.get("/no-such-page").get_data(as_text=True)
    assert "找不到要找的内容" in nowhere and "The requested URL" not in nowhere


def test_codes_in_the_history_and_durations_read_as_words(client, db, dispatched) -> None:  # noqa: F811
    from grids.incidents import Actor

    login(client, "department")
    action(client, dispatched, "request_extension", dispatched.version, duration="2d", reason="需调用吊车")
    login(client, "supervisor")
    drawer = client.get(f"/dispatch/cases/{dispatched.id}").json
    assert drawer["extension_request"] == "2 个工作日（理由：需调用吊车），等待值班长审批"  # what 批准延期 would grant
    assert drawer["suggestion"]["heading"] == "承办单位"  # a dispatched case names whom it went to, not a suggestion
    assert {"approve_extension", "reject_extension"} <= {a["action"] for a in drawer["actions"]}
    supervisor = Actor.of_user(db.scalar(select(User).where(User.username == "supervisor")))
    db.refresh(dispatched)
    act(db, dispatched.id, "escalate", supervisor, dispatched.version, note="overdue")
    history = client.get(f"/dispatch/cases/{dispatched.id}").json["history"]
    assert history[-1]["note"] == "超过时限，自动督办"
    labels = [e["action_label"] for e in history]
    assert "派遣（环境卫生管理处 环卫）" in labels and "申请延期（2 个工作日）" in labels  # what each step decided
    act(db, dispatched.id, "approve_extension", supervisor, dispatched.version)
    login(client, "department")
    action(client, dispatched, "request_extension", dispatched.version, duration="1d", reason="吊车未到")
    login(client, "supervisor")
    second = client.get(f"/dispatch/cases/{dispatched.id}").json
    assert second["extension_request"].endswith("等待系统管理员审批")  # why the supervisor has no 批准 button
    assert "approve_extension" not in {a["action"] for a in second["actions"]}


def test_words_that_cannot_be_made_fall_back_to_the_message_rather_than_fail(app) -> None:
    from webapp.errors import error_text

    with app.test_request_context("/"):
        assert error_text("illegal_action", {"status": "filed", "action": "close", "allowed": None}) is None
        assert error_text("outside_city", {"city": "兰溪市"}) is None  # the extent is missing
        assert error_text("no_such_code", {}) is None
        # the planner's effective date says its own words: Open311's date words need the field they name
        assert error_text("bad_date", None) is None
        assert error_text("bad_date", ["start_date"]).startswith("start_date 须为 ISO 8601")


def test_a_squads_tasks_leave_out_a_departments_case_in_its_grids(client, db) -> None:
    from grids.incidents import Actor
    from tests.webapp.test_intake import inner

    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    from grids.workflow import report

    cases = {}
    for department in ("sanitation", "bureau"):
        case = report(db, dispatcher, "E0101", *inner(db), source="test", description=f"派给{department}")
        act(db, case.id, "file", dispatcher, case.version)
        act(db, case.id, "dispatch", dispatcher, case.version, department=department)
        cases[department] = case.id
    db.flush()
    login(client, "squad_leader")
    page = client.get("/township").get_data(as_text=True)
    tasks, others = page.split("辖区其他待处理案件")
    assert f"#{cases['bureau']} " in tasks and f"#{cases['sanitation']} " in others


def test_an_inspectors_tasks_hold_the_handled_cases_waiting_for_their_check(client, db) -> None:
    from grids.incidents import Actor
    from grids.workflow import report
    from tests.webapp.test_intake import inner

    def actor(name: str) -> Actor:
        return Actor.of_user(db.scalar(select(User).where(User.username == name)))

    case = report(db, actor("dispatcher"), "E0101", *inner(db), source="test", description="待核查")
    for step, who, payload in (("file", "dispatcher", {}), ("dispatch", "dispatcher", {"department": "sanitation"}),
                               ("handle", "department", {"note": "已清理", "after_photo": "after.jpg"})):
        act(db, case.id, step, actor(who), case.version, **payload)
    db.flush()
    login(client, "inspector")
    tasks = client.get("/township").get_data(as_text=True).split("辖区其他待处理案件")[0]
    assert f"#{case.id} " in tasks


def test_what_i_reported_is_followed_apart_from_my_tasks(client, db) -> None:
    """An inspector's own report is someone else's to act on: it is listed under 我上报的, not as a task."""
    from grids.incidents import Actor
    from grids.workflow import report
    from tests.webapp.test_intake import inner

    inspector = Actor.of_user(db.scalar(select(User).where(User.username == "inspector")))
    case = report(db, inspector, "E0101", *inner(db), source="test", description="我报的")
    db.flush()
    login(client, "inspector")
    page = client.get("/township").get_data(as_text=True)
    tasks, rest = page.split("<h2>我上报的")
    assert f"#{case.id} " not in tasks and f"#{case.id} " in rest.split("辖区其他待处理案件")[0]
    english = client.get("/township?lang=en").get_data(as_text=True)
    assert "Reported by me" in english and ">Report</a>" in english  # the button says what it does


def test_a_user_without_a_squad_gets_no_squadless_case_as_a_task(client, db) -> None:
    """The city-wide inspector belongs to no squad: a bureau case in a township without a squad (no squad
    either) is not theirs to act on."""
    from grids.incidents import Actor
    from grids.workflow import report
    from tests.webapp.test_intake import inner

    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    case = report(db, dispatcher, "E0101", *inner(db, "330781001"), source="test", description="无中队乡镇")
    act(db, case.id, "file", dispatcher, case.version)
    act(db, case.id, "dispatch", dispatcher, case.version, department="bureau")
    db.flush()
    assert case.squad_id is None
    login(client, "inspector")
    page = client.get("/township").get_data(as_text=True)
    assert f"#{case.id} " in page.split("辖区其他待处理案件")[1]


def test_working_time_amounts_read_in_either_language_with_english_plurals(app) -> None:
    from flask_babel import force_locale

    from webapp.labels import duration_label

    with app.test_request_context("/"):
        assert [duration_label(x) for x in ("1d", "4h", "30m")] == ["1 个工作日", "4 个工作小时", "30 个工作分钟"]
        with force_locale("en"):
            assert [duration_label(x) for x in ("1d", "2d", "1h")] == ["1 working day", "2 working days",
                                                                      "1 working hour"]


def test_a_cancelled_case_shows_no_clock_rather_than_no_time_limit(client, db) -> None:
    from grids.incidents import Actor
    from grids.workflow import report
    from tests.webapp.test_intake import inner

    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    case = report(db, dispatcher, "E0101", *inner(db), source="test", description="重复")
    act(db, case.id, "cancel", dispatcher, case.version, reason="duplicate")
    db.flush()
    login(client, "dispatcher")
    drawer = client.get(f"/dispatch/cases/{case.id}").json
    assert drawer["status_label"] == "已作废" and drawer["due_text"] == "—"


def test_a_revoked_or_mistyped_api_key_says_what_to_do_in_the_readers_language(client) -> None:
    refused = client.get("/api/v1/incidents", headers={"Authorization": "Bearer not-a-key"})
    error = refused.json["error"]
    assert refused.status_code == 401 and error["code"] == "bad_api_key"
    assert error["message"] == "invalid or revoked API key"  # machines keep English
    assert error["display"] == "API 密钥无效或已吊销：请向管理员索取新的密钥（gridlink apikeys create）。"


def test_a_key_made_for_another_city_says_so(client, db) -> None:
    """A key created with the wrong --city read "invalid or revoked", and the operator looked for a typo."""
    from grids.apikeys import create_key
    from grids.models import City

    db.add(City(code="360400", name="九江市"))
    db.flush()
    raw = create_key(db, "360400", "jiujiang-app", "reporter")[1]
    refused = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {raw}"})
    error = refused.json["error"]
    assert refused.status_code == 401 and error["code"] == "key_of_another_city"
    assert "belongs to city 360400, and this server serves city 330781" in error["message"]
    open311 = client.post("/open311/v2/requests.json", data={"api_key": raw, "service_code": "E0101"})
    assert open311.status_code == 403 and "belongs to city 360400" in open311.json[0]["description"]  # the spec's


def test_a_cancel_names_its_reason_beside_a_typed_note(client, db) -> None:
    """作废 with a typed note read only the note: whether the report was a repeat or invalid was lost."""
    from grids.incidents import Actor
    from grids.workflow import report
    from tests.webapp.test_intake import inner

    dispatcher = Actor.of_user(db.scalar(select(User).where(User.username == "dispatcher")))
    typed, bare = (report(db, dispatcher, "E0101", *inner(db), source="test", description="x") for _ in range(2))
    act(db, typed.id, "cancel", dispatcher, typed.version, reason="invalid", note="现场无此问题")
    act(db, bare.id, "cancel", dispatcher, bare.version, reason="duplicate")
    login(client, "dispatcher")
    said = client.get(f"/dispatch/cases/{typed.id}").json["history"][-1]
    assert (said["action_label"], said["note"]) == ("作废（无效上报）", "现场无此问题")
    unsaid = client.get(f"/dispatch/cases/{bare.id}").json["history"][-1]
    assert (unsaid["action_label"], unsaid["note"]) == ("作废（重复上报）", None)
