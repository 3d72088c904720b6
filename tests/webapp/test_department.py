"""The department inbox over HTTP: accept, report handled, return with a reason; a stale version is 409."""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from grids.incidents import Actor, open_case
from grids.models import CaseEvent, CasePhoto, Category, Department, Incident, User
from grids.workflow import act
from tests.conftest import csrf_token, login
from tests.webapp.test_intake import jpeg


def dispatch_new_case(db, description: str) -> Incident:
    """A case the centre filed and dispatched to the demo department (sanitation)."""
    dispatcher = staff(db, "dispatcher")
    category = db.scalar(select(Category).where(Category.code == "E0101"))
    case = open_case(db, "330781", category, 119.73, 29.30, source="test", description=description)
    act(db, case.id, "file", dispatcher, case.version)
    act(db, case.id, "dispatch", dispatcher, case.version, department="sanitation")
    db.flush()
    return case


def staff(db, username: str) -> Actor:
    return Actor.of_user(db.scalar(select(User).where(User.username == username)))


@pytest.fixture()
def dispatched(db) -> Incident:
    return dispatch_new_case(db, "部门待办测试 <b>x</b>")


def action(client, case: Incident, name: str, version: int, **extra):
    return client.post(f"/api/v1/incidents/{case.id}/actions", json={"action": name, "version": version, **extra})


def test_the_inbox_lists_the_case_with_its_version_and_actions(client, dispatched) -> None:
    login(client, "department")
    page = client.get("/department").get_data(as_text=True)
    assert f'data-case="{dispatched.id}" data-version="{dispatched.version}"' in page
    assert "部门待办测试 &lt;b&gt;x&lt;/b&gt;" in page
    due = dispatched.deadline_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")
    assert f'<span class="due-at" data-due-at>{due} 到期</span>' in page  # the deadline, not only a countdown
    assert 'value="accept"' in page and 'value="return"' in page and 'value="handle"' in page


def with_photos(client, case: Incident, name: str, version: int, photos: list[bytes], **extra):
    """The inbox's own request: a multipart form with the after-photos as files."""
    files = [(io.BytesIO(content), f"after-{n}.jpg") for n, content in enumerate(photos)]
    return client.post(f"/api/v1/incidents/{case.id}/actions", content_type="multipart/form-data",
                       headers={"X-CSRFToken": csrf_token(client, "/department")},
                       data={"action": name, "version": str(version), **extra, "photos": files})


def test_accept_then_handle_with_an_after_photo_and_a_stale_version_gets_409(client, db, dispatched) -> None:
    login(client, "department")
    version = dispatched.version
    accepted = action(client, dispatched, "accept", version)
    assert accepted.status_code == 200 and accepted.json["status"] == "in_progress"
    stale = with_photos(client, dispatched, "handle", version, [jpeg()], note="已清理")
    assert stale.status_code == 409 and stale.json["error"]["message"] == "case changed, reload"
    no_photo = action(client, dispatched, "handle", accepted.json["version"], note="已清理")
    assert no_photo.status_code == 422 and no_photo.json["error"]["code"] == "after_photo_required"
    assert no_photo.json["error"]["display"] == "请拍摄或选择至少一张处置后照片。"
    handled = with_photos(client, dispatched, "handle", accepted.json["version"], [jpeg(), jpeg()], note="已清理")
    assert handled.status_code == 200 and handled.json["status"] == "handled"
    kinds = db.scalars(select(CasePhoto.kind).where(CasePhoto.incident_id == dispatched.id)).all()
    assert kinds == ["after", "after"]
    page = client.get("/department").get_data(as_text=True)
    assert f'data-case="{dispatched.id}"' in page and page.count("thumb-after") == 2
    assert 'data-count="todo">0<' in page and 'data-count="handled">1<' in page  # followed, not to do


def test_the_handle_form_asks_for_photos_and_other_actions_refuse_them(client, dispatched) -> None:
    login(client, "department")
    page = client.get("/department").get_data(as_text=True)
    assert 'name="photos"' in page and 'data-needs-photo="true" class="action-handle"' in page
    forged = client.post(f"/api/v1/incidents/{dispatched.id}/actions", content_type="multipart/form-data",
                         data={"action": "accept", "version": str(dispatched.version)})  # no CSRF token
    assert forged.status_code == 403 and "CSRF" in forged.json["error"]["message"]
    refused = with_photos(client, dispatched, "accept", dispatched.version, [jpeg()])
    assert refused.status_code == 422 and refused.json["error"]["details"] == ["photos"]
    not_a_photo = with_photos(client, dispatched, "handle", dispatched.version, [b"%PDF-1.4"], note="已清理")
    assert not_a_photo.status_code == 422 and "JPEG" in not_a_photo.json["error"]["message"]


def test_another_system_names_its_after_photo_by_link(client, db, dispatched) -> None:
    login(client, "department")
    not_a_link = action(client, dispatched, "handle", dispatched.version, note="已清理",
                        after_photo="javascript:alert(1)")
    assert not_a_link.status_code == 422 and not_a_link.json["error"]["details"] == ["after_photo"]
    handled = action(client, dispatched, "handle", dispatched.version, note="已清理",
                     after_photo="https://oa.example.cn/photos/123.jpg")
    assert handled.status_code == 200 and handled.json["status"] == "handled"
    event = db.scalar(select(CaseEvent).where(CaseEvent.incident_id == dispatched.id, CaseEvent.action == "handle"))
    assert event.data["after_photo"] == "https://oa.example.cn/photos/123.jpg"


def test_return_needs_a_reason_and_takes_the_case_out_of_the_inbox(client, db, dispatched) -> None:
    login(client, "department")
    refused = action(client, dispatched, "return", dispatched.version)
    assert refused.status_code == 422 and refused.json["error"]["details"] == ["reason"]
    returned = action(client, dispatched, "return", dispatched.version, reason="不属于本部门职责")
    assert returned.status_code == 200 and returned.json["status"] == "filed" and returned.json["department"] is None
    assert f'data-case="{dispatched.id}"' not in client.get("/department").get_data(as_text=True)
    login(client, "dispatcher")  # back in the centre's queue, flagged with the department's reason
    assert 'data-flag="returned" title="不属于本部门职责">已退回' in client.get("/dispatch").get_data(as_text=True)


def test_another_departments_case_is_404(client, db, dispatched) -> None:
    dispatched.department_id = db.scalar(select(Department.id).where(Department.code == "traffic_police"))
    db.flush()
    login(client, "department")
    assert action(client, dispatched, "accept", dispatched.version).status_code == 404
    assert f'data-case="{dispatched.id}"' not in client.get("/department").get_data(as_text=True)


def drawer_actions(client, case: Incident) -> set[str]:
    return {a["action"] for a in client.get(f"/dispatch/cases/{case.id}").json["actions"]}


def test_a_second_extension_is_offered_to_the_admin_not_the_supervisor_who_could_not_approve_it(
        client, db, dispatched) -> None:
    """延期: a second one needs a higher approval; the supervisor's drawer does not offer a button that can only
    be refused, the admin's does, and the request is announced to the admins."""
    from grids.models import OutboxMessage

    login(client, "department")
    asked = action(client, dispatched, "request_extension", dispatched.version, duration="1d", reason="需调用机械")
    login(client, "supervisor")
    assert {"approve_extension", "reject_extension"} <= drawer_actions(client, dispatched)
    approved = action(client, dispatched, "approve_extension", asked.json["version"])
    login(client, "department")
    action(client, dispatched, "request_extension", approved.json["version"], duration="4h", reason="需调用机械")
    login(client, "supervisor")
    assert not {"approve_extension", "reject_extension"} & drawer_actions(client, dispatched)
    login(client, "admin")
    assert {"approve_extension", "reject_extension"} <= drawer_actions(client, dispatched)
    asked_of = [m.recipient for m in db.scalars(select(OutboxMessage).where(
        OutboxMessage.incident_id == dispatched.id, OutboxMessage.kind == "request_extension")
        .order_by(OutboxMessage.id))]
    assert asked_of == ["role:supervisor", "role:admin"]


def test_the_inbox_says_what_the_handler_was_last_told_and_what_waits(client, db, dispatched) -> None:
    """A 返工 comes back with its reason on the card; an extension request shows until it is decided, on the
    department's card and on the centre's queue, which can list only those."""
    liaison = Actor.of_user(db.scalar(select(User).where(User.username == "department")))
    act(db, dispatched.id, "handle", liaison, dispatched.version, note="已清理", after_photo="after.jpg")
    supervisor = Actor.of_user(db.scalar(select(User).where(User.username == "supervisor")))
    act(db, dispatched.id, "rework", supervisor, dispatched.version, reason="桥下还有两袋垃圾")
    act(db, dispatched.id, "request_extension", liaison, dispatched.version, duration="2d", reason="等清运车")
    db.flush()
    login(client, "department")
    card = client.get("/department").get_data(as_text=True)
    assert "申请延期 2 个工作日，等待值班长审批" in card and "最近一步" in card and "等清运车" in card
    login(client, "supervisor")
    queue = client.get("/dispatch?extension=1").get_data(as_text=True)
    assert f'data-case="{dispatched.id}"' in queue and 'data-flag="extension"' in queue
    act(db, dispatched.id, "approve_extension", supervisor, dispatched.version)
    db.flush()
    assert f'data-case="{dispatched.id}"' not in client.get("/dispatch?extension=1").get_data(as_text=True)
    login(client, "department")
    card = client.get("/department").get_data(as_text=True)
    assert "等待值班长审批" not in card and "批准延期（2 个工作日）" in card
    assert 'data-news="extension_granted">已批准延期 2 个工作日' in card_of(card, dispatched)


def test_a_failed_check_is_said_on_the_card_until_the_department_handles_again(client, db, dispatched) -> None:
    """The 返工 reason was on the card only while it was the last step: one 督办 after it pushed it away."""
    liaison = staff(db, "department")
    act(db, dispatched.id, "handle", liaison, dispatched.version, note="已清理", after_photo="after.jpg")
    act(db, dispatched.id, "rework", staff(db, "supervisor"), dispatched.version, reason="桥下还有两袋垃圾")
    act(db, dispatched.id, "escalate", staff(db, "dispatcher"), dispatched.version)
    db.flush()
    login(client, "department")
    card = card_of(client.get("/department").get_data(as_text=True), dispatched)
    assert 'data-news="rework">核查未通过，需返工：桥下还有两袋垃圾' in card
    act(db, dispatched.id, "handle", liaison, dispatched.version, note="已清理干净", after_photo="after2.jpg")
    db.flush()
    assert "data-news" not in card_of(client.get("/department").get_data(as_text=True), dispatched)


def card_of(page: str, case: Incident) -> str:
    """The inbox card of the case, as the page has it."""
    start = page.index(f'data-case="{case.id}"')
    return page[start:page.index("data-done", start)]


def test_the_card_keeps_the_whole_history_once_later_steps_follow(client, db, dispatched) -> None:
    """处理记录: the supervisor's 返工 reason and the 督办 stay readable after the handler's next steps."""
    liaison, supervisor = staff(db, "department"), staff(db, "supervisor")
    act(db, dispatched.id, "handle", liaison, dispatched.version, note="已清理", after_photo="after.jpg")
    act(db, dispatched.id, "rework", supervisor, dispatched.version, reason="桥下还有两袋垃圾")
    act(db, dispatched.id, "escalate", supervisor, dispatched.version, note="今天下班前必须清完")
    act(db, dispatched.id, "request_extension", liaison, dispatched.version, duration="1d", reason="等清运车")
    db.flush()
    login(client, "department")
    card = card_of(client.get("/department").get_data(as_text=True), dispatched)
    history = card[card.index("<details"):card.index("</details>")]
    assert "处理记录（7 步）" in history
    for words in ("立案", "派遣（环境卫生管理处 环卫）", "处置反馈", "已清理", "返工", "桥下还有两袋垃圾", "督办",
                  "今天下班前必须清完", "申请延期（1 个工作日）", "等清运车", "演示 supervisor"):
        assert words in history, words
    assert history.index("返工") < history.index("督办") < history.index("申请延期")  # in the order they happened


def test_waiting_cases_are_headed_by_what_they_wait_for(client, db, dispatched) -> None:
    """A handled case waits for the check, a parked (挂账) one for nobody: each under a heading true of it."""
    parked = dispatch_new_case(db, "冬季无法施工的案件")
    liaison, supervisor = staff(db, "department"), staff(db, "supervisor")
    act(db, dispatched.id, "handle", liaison, dispatched.version, note="已清理", after_photo="after.jpg")
    act(db, parked.id, "park", supervisor, parked.version, reason="冬季无法施工")
    db.flush()
    login(client, "department")
    page = client.get("/department").get_data(as_text=True)
    assert "已处置，等待核查与结案" not in page
    handled_at, parked_at = page.index("<h2>已处置，等待核查"), page.index("<h2>已挂账，暂缓处置")
    assert handled_at < page.index(f'data-case="{dispatched.id}"') < parked_at < page.index(f'data-case="{parked.id}"')
    assert 'data-count="handled">1<' in page and 'data-count="parked">1<' in page
    assert "<form" not in card_of(page, parked)


def test_a_waiting_extension_names_who_must_approve_it(client, db, dispatched) -> None:
    """The first extension is the shift supervisor's to approve; a second needs the administrator."""
    liaison, supervisor = staff(db, "department"), staff(db, "supervisor")
    act(db, dispatched.id, "request_extension", liaison, dispatched.version, duration="1d", reason="需调用机械")
    db.flush()
    login(client, "department")
    assert "申请延期 1 个工作日，等待值班长审批" in client.get("/department").get_data(as_text=True)
    act(db, dispatched.id, "approve_extension", supervisor, dispatched.version)
    act(db, dispatched.id, "request_extension", liaison, dispatched.version, duration="4h", reason="机械故障")
    db.flush()
    assert "申请延期 4 个工作小时，等待系统管理员审批" in client.get("/department").get_data(as_text=True)


def test_redispatch_offers_every_department_but_the_one_that_has_the_case(client, db) -> None:
    """改派 to the same department restarted its clock (a late case made on time): not offered, and refused."""
    case = dispatch_new_case(db, "垃圾满溢")
    login(client, "dispatcher")
    actions = {a["action"]: a for a in client.get(f"/dispatch/cases/{case.id}").json["actions"]}
    offered = [o["value"] for o in actions["redispatch"]["choice"]["options"]]
    assert "sanitation" not in offered and "landscape" in offered
    names = [o["label"].split()[0] for o in actions["redispatch"]["choice"]["options"]]
    assert names.index("发展和改革局") < names.index("兰溪市综合行政执法局") < names.index("住房和城乡建设局")  # pinyin
    same = client.post(f"/api/v1/incidents/{case.id}/actions",
                       json={"action": "redispatch", "version": case.version, "department": "sanitation"})
    assert same.status_code == 422
    assert same.json["error"]["display"] == "案件已在环境卫生管理处 环卫：改派请选另一个部门。"


def test_an_admin_in_the_inbox_picks_a_department_and_is_not_offered_a_map_step(client, db, dispatched) -> None:
    """The admin sees every case here with every step. 改派 used to start on the city's first department (one click
    sent a noise case to 发改); 派遣 starts on the one the rules named. 重新定位 needs the map the inbox lacks."""
    filed = open_case(db, "330781", db.scalar(select(Category).where(Category.code == "E0101")), 119.73, 29.30,
                      source="test", description="待派遣")
    act(db, filed.id, "file", staff(db, "dispatcher"), filed.version)
    db.flush()
    login(client, "admin")
    page = client.get("/department").get_data(as_text=True)
    card = page.split(f'data-case="{dispatched.id}"')[1].split("</form>")[0]
    redispatch = card.split('data-choice-for="redispatch"')[1].split("</select>")[0]
    assert redispatch.split("<option")[1].startswith(' value="">请选择')
    card = page.split(f'data-case="{filed.id}"')[1].split("</form>")[0]
    dispatch = card.split('data-choice-for="dispatch"')[1].split("</select>")[0]
    assert 'value="sanitation" selected' in dispatch and 'value="">请选择' not in dispatch
    assert 'value="relocate"' not in page


def test_a_case_waiting_on_the_inspectors_check_is_not_shown_as_the_departments_lateness(client, db, dispatched
                                                                                       ) -> None:
    """Handled and past its 核查 deadline: the card waits under 已处置，等待核查 in grey; the red 超时 is the
    inspector's, and on the department's own cards it meant the department was late."""
    from sqlalchemy import func, text

    handler = staff(db, "department")
    act(db, dispatched.id, "accept", handler, dispatched.version)
    act(db, dispatched.id, "handle", handler, dispatched.version, note="已清运", after_photo="after.jpg")
    dispatched.deadline_at = db.scalar(select(func.now() - text("interval '3 hours'")))
    db.flush()
    login(client, "department")
    page = client.get("/department").get_data(as_text=True)
    card = page.split(f'data-case="{dispatched.id}"')[0].rsplit("<li", 1)[1]
    assert 'class="card inbox-item dl-none"' in card
    head = page.split(f'data-case="{dispatched.id}"')[1].split("</p>")[0]
    assert 'chip dl-none' in head and "dl-overdue" not in head
