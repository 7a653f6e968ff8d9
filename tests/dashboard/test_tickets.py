"""Queue, ticket page, actions and the overdue board through TestClient, on real SQLite with the real desk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from core.clock import FakeClock
from desk.models import AuditEntry, Notification, Ticket, TicketMessage
from tests.dashboard.conftest import Db, csrf_of, sign_in

MARKET = "市场监管局"
TAX = "税务局"


def _post(client: TestClient, url: str, **data: str) -> Any:
    page = client.get("/queue")
    return client.post(url, data={"csrf_token": csrf_of(page.text), **data}, follow_redirects=False)


def test_claim_reply_resolve_through_the_desk(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket()
    assert sign_in(app_client, 1001).status_code == 303

    queue = app_client.get("/queue")
    assert t.number in queue.text and "受理剩余" in queue.text and "tl-ok" in queue.text

    page = app_client.get(f"/tickets/{t.id}")
    assert page.status_code == 200
    assert "开饭店要办什么证" in page.text and "材料已交齐" in page.text and "超时" in page.text

    r = _post(app_client, f"/tickets/{t.id}/claim")
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{t.id}"
    assert "已认领受理" in app_client.get(f"/tickets/{t.id}").text

    r = _post(app_client, f"/tickets/{t.id}/reply", text="您好，已联系窗口，今天下午给您答复。")
    assert r.status_code == 303
    outbox = db.all(
        select(Notification).where(Notification.ticket_id == t.id, Notification.kind == "staff_message")
    )
    assert len(outbox) == 1 and "今天下午给您答复" in outbox[0].payload["text"] and outbox[0].recipient_tg_id == 555
    assert outbox[0].sent_at is None  # the bot delivers it, not the dashboard
    html = app_client.get(f"/tickets/{t.id}").text
    assert "今天下午给您答复" in html and "待发送" in html

    r = _post(app_client, f"/tickets/{t.id}/resolve", note="许可证已核发，请到窗口领取。")
    assert r.status_code == 303
    ticket = db.get(Ticket, t.id)
    assert ticket.state == "resolved" and ticket.resolution_note == "许可证已核发，请到窗口领取。"
    actions = [a.action for a in db.all(select(AuditEntry).where(AuditEntry.ticket_id == t.id))]
    assert actions[:1] == ["create"] and "claim" in actions and "resolve" in actions
    assert "办结" in app_client.get(f"/tickets/{t.id}").text


def test_materials_codepartment_escalate(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket()
    sign_in(app_client, 1001)
    _post(app_client, f"/tickets/{t.id}/claim")
    assert _post(app_client, f"/tickets/{t.id}/materials", text="请补充营业执照副本").status_code == 303
    assert db.get(Ticket, t.id).state == "waiting_enterprise"
    assert "计时暂停" in app_client.get(f"/tickets/{t.id}").text
    assert _post(app_client, f"/tickets/{t.id}/resume").status_code == 303
    assert _post(app_client, f"/tickets/{t.id}/department", department=TAX).status_code == 303
    assert db.get(Ticket, t.id).co_departments == [TAX]
    assert (
        _post(app_client, f"/tickets/{t.id}/escalate", reason="涉及多个部门，请领导协调").status_code == 303
    )
    assert db.get(Ticket, t.id).state == "escalated"


def test_ticket_page_shows_that_a_waiting_ticket_was_chased(app_client: TestClient, db: Db, clock: FakeClock) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket()
    sign_in(app_client, 1001)
    _post(app_client, f"/tickets/{t.id}/claim")
    _post(app_client, f"/tickets/{t.id}/materials", text="请补充营业执照副本")
    clock.advance(timedelta(days=14))  # well past both the reminder and the give-up point, whatever the weekdays
    result = db.run(db.desk.run_due())
    assert (result.waiting_reminders, result.waiting_giveups) == (1, 1)
    sign_in(app_client, 1001)  # two weeks on, the old session has expired
    html = app_client.get(f"/tickets/{t.id}").text
    assert "提醒企业补充材料" in html and "企业久未补充，请专员跟进" in html
    assert "waiting_giveup" not in html  # the raw action name is not what staff read


def test_commissioner_cannot_open_or_act_on_another_departments_ticket(
    app_client: TestClient, db: Db
) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    other = db.ticket(title="税务登记问题", department=TAX)
    mine = db.ticket()
    sign_in(app_client, 1001)
    queue = app_client.get("/queue").text
    assert mine.number in queue and other.number not in queue
    r = app_client.get(f"/tickets/{other.id}")
    assert r.status_code == 403 and "无权" in r.text
    assert other.number not in r.text and "税务登记" not in r.text  # a refusal names no ticket
    r = _post(app_client, f"/tickets/{other.id}/claim")
    assert r.status_code == 403 and other.number not in r.text
    r = _post(app_client, f"/tickets/{other.id}/reply", text="越权回复")
    assert r.status_code == 403
    assert db.get(Ticket, other.id).state == "new"
    assert not db.all(select(TicketMessage).where(TicketMessage.text == "越权回复"))


def test_leader_sees_everything_admin_sees_no_tickets(app_client: TestClient, db: Db) -> None:
    db.staff(2001, "李局长", role="leader")
    db.staff(3001, "管理员", role="admin")
    a, b = db.ticket(), db.ticket(title="税务登记问题", department=TAX)
    sign_in(app_client, 2001)
    queue = app_client.get("/queue").text
    assert a.number in queue and b.number in queue
    assert app_client.get(f"/tickets/{b.id}").status_code == 200
    app_client.cookies.clear()
    sign_in(app_client, 3001)
    assert app_client.get("/", follow_redirects=False).headers["location"] == "/knowledge"
    r = app_client.get("/queue")
    assert r.status_code == 403 and "仅限" in r.text
    assert app_client.get(f"/tickets/{a.id}").status_code == 403


def test_unknown_and_malformed_ticket_ids(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    sign_in(app_client, 1001)
    r = app_client.get("/tickets/99999")
    assert r.status_code == 404 and "找不到工单" in r.text
    r = app_client.get("/tickets/abc")
    assert r.status_code == 400 and "请求无效" in r.text


def test_action_without_csrf_changes_nothing(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket()
    sign_in(app_client, 1001)
    r = app_client.post(f"/tickets/{t.id}/claim", follow_redirects=False)
    assert r.status_code == 403 and "安全令牌" in r.text
    r = app_client.post(f"/tickets/{t.id}/claim", data={"csrf_token": "guess"}, follow_redirects=False)
    assert r.status_code == 403
    assert db.get(Ticket, t.id).state == "new"


def test_illegal_transition_and_empty_note_are_refused(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket()
    sign_in(app_client, 1001)
    r = _post(app_client, f"/tickets/{t.id}/resolve", note="还没受理就想办结")
    assert r.status_code == 409 and "未做任何更改" in r.text
    _post(app_client, f"/tickets/{t.id}/claim")
    r = _post(app_client, f"/tickets/{t.id}/resolve", note="   ")
    assert r.status_code == 400 and "不能为空" in r.text
    assert db.get(Ticket, t.id).state == "assigned"


def test_html_in_ticket_text_is_escaped_everywhere(app_client: TestClient, db: Db) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket(title=evil, description=evil, transcript=evil, requester_name=evil)
    sign_in(app_client, 1001)
    _post(app_client, f"/tickets/{t.id}/claim")
    _post(app_client, f"/tickets/{t.id}/reply", text=evil)
    for url in ("/queue", f"/tickets/{t.id}", "/overdue"):
        html = app_client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html, url
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in app_client.get(f"/tickets/{t.id}").text


def test_queue_filters_and_overdue_board(app_client: TestClient, db: Db, clock: FakeClock) -> None:
    db.staff(2001, "李局长", role="leader")
    db.staff(1001, "王专员", departments=[MARKET])
    late = db.ticket(title="早就该受理")
    clock.advance(timedelta(days=2))  # past the 4-working-hour acceptance deadline
    fresh = db.ticket(title="刚提交的", department=TAX)
    sign_in(app_client, 2001)
    html = app_client.get("/queue?overdue=1").text
    assert late.number in html and fresh.number not in html and "接收超期" in html and "tl-over" in html
    html = app_client.get(f"/queue?department={TAX}").text
    assert fresh.number in html and late.number not in html
    html = app_client.get("/queue?assignee=none&state=new").text
    assert fresh.number in html
    board = app_client.get("/overdue").text
    assert MARKET in board and late.number in board and fresh.number not in board
    # A bogus state filter is ignored, not an error.
    assert app_client.get("/queue?state=<x>").status_code == 200


def test_unexpected_error_shows_an_error_id_not_a_traceback(settings, clock: FakeClock, db: Db) -> None:  # type: ignore[no-untyped-def]
    from dashboard.main import create_app

    class BrokenDesk:
        calendar = db.desk.calendar
        cfg = db.desk.cfg

        async def get_ticket(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("database exploded: secret detail")

    db.staff(1001, "王专员", departments=[MARKET])
    app = create_app(settings, clock=clock, desk=BrokenDesk())
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, 1001)
        r = client.get("/tickets/1")
    assert r.status_code == 500 and "错误编号" in r.text and "secret detail" not in r.text


def test_leader_reassigns_commissioner_cannot(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    db.staff(1002, "陈专员", departments=[MARKET])
    db.staff(2001, "李局长", role="leader")
    t = db.ticket()
    sign_in(app_client, 1001)
    r = _post(app_client, f"/tickets/{t.id}/reassign", to_staff="1002")
    assert r.status_code == 403 and "只有领导" in r.text
    app_client.cookies.clear()
    sign_in(app_client, 2001)
    page = app_client.get(f"/tickets/{t.id}").text
    assert "领导交办" in page and "陈专员" in page
    r = _post(app_client, f"/tickets/{t.id}/reassign", to_staff="1002", reason="陈专员熟悉餐饮许可")
    assert r.status_code == 303
    ticket = db.get(Ticket, t.id)
    assert ticket.state == "assigned" and ticket.assignee_id == db.desk_staff_id(1002)


def test_ticket_page_shows_the_registered_enterprise(app_client: TestClient, db: Db) -> None:
    from desk.models import EnterpriseCreate

    db.staff(1001, "王专员", departments=[MARKET])
    ent = db.run(
        db.desk.register_enterprise(
            EnterpriseCreate(
                name="老王餐饮有限公司",
                credit_code="91110000600037341L",
                industry="餐饮",
                contact_name="王老板",
                contact_phone="13800000000",
                tg_user_id=777,
            )
        )
    )
    t = db.ticket(requester_tg_id=777, requester_name="")
    sign_in(app_client, 1001)
    html = app_client.get(f"/tickets/{t.id}").text
    assert ent.name in html and "91110000600037341L" in html and "餐饮" in html and "13800000000" in html


def test_internal_note_is_kept_for_staff_marked_apart_and_never_queued_to_the_enterprise(
    app_client: TestClient, db: Db
) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    db.staff(1002, "赵专员", departments=[TAX])
    t = db.ticket()
    sign_in(app_client, 1001)
    before = len(db.all(select(Notification).where(Notification.ticket_id == t.id)))

    # a note before anyone claimed it, and another after the reply: neither reaches the enterprise
    r = _post(app_client, f"/tickets/{t.id}/note", text="企业上月也反映过同类问题，注意核对窗口登记。")
    assert r.status_code == 303
    _post(app_client, f"/tickets/{t.id}/claim")
    _post(app_client, f"/tickets/{t.id}/reply", text="您好，正在核实。")
    _post(app_client, f"/tickets/{t.id}/note", text="已电话联系窗口负责人")
    queued = db.all(select(Notification).where(Notification.ticket_id == t.id))
    assert not any("核对窗口登记" in str(n.payload) or "电话联系窗口负责人" in str(n.payload) for n in queued)
    enterprise_rows = [n for n in queued[before:] if n.audience == "enterprise"]
    assert [n.kind for n in enterprise_rows] == ["claimed", "staff_message"]

    notes = db.all(select(TicketMessage).where(TicketMessage.ticket_id == t.id, TicketMessage.author_kind == "note"))
    assert [n.text for n in notes] == ["企业上月也反映过同类问题，注意核对窗口登记。", "已电话联系窗口负责人"]
    html = app_client.get(f"/tickets/{t.id}").text
    assert html.count('class="msg note"') == 2 and "内部备注（仅工作人员可见）" in html
    assert 'class="msg staff"' in html  # the reply is marked as a reply, not as a note
    actions = [a.action for a in db.all(select(AuditEntry).where(AuditEntry.ticket_id == t.id))]
    assert actions.count("note") == 2

    # another department's commissioner can neither read nor write them
    sign_in(app_client, 1002)
    assert app_client.get(f"/tickets/{t.id}").status_code == 403
    r = _post(app_client, f"/tickets/{t.id}/note", text="越权备注")
    assert r.status_code == 403
    assert not db.all(select(TicketMessage).where(TicketMessage.text == "越权备注"))
    r = _post(app_client, f"/tickets/{t.id}/note", text="   ")
    assert r.status_code in (400, 403, 422)


def test_handover_to_a_colleague_lists_only_those_who_may_act(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    db.staff(1002, "陈专员", departments=[MARKET])
    db.staff(1003, "赵专员", departments=[TAX])
    db.staff(2001, "李局长", role="leader")
    t = db.ticket()
    sign_in(app_client, 1001)
    _post(app_client, f"/tickets/{t.id}/claim")
    page = app_client.get(f"/tickets/{t.id}").text
    picker = page.split('id="handover-to"')[1].split("</select>")[0]
    assert "陈专员" in picker and "赵专员" not in picker and "李局长" not in picker and "王专员" not in picker

    r = _post(app_client, f"/tickets/{t.id}/handover", to_staff="1003")  # another department: refused
    assert r.status_code == 403 and "同部门" in r.text
    assert db.get(Ticket, t.id).assignee_id == db.desk_staff_id(1001)
    r = _post(app_client, f"/tickets/{t.id}/handover", to_staff="1002", reason="陈专员熟悉餐饮许可")
    assert r.status_code == 303
    assert db.get(Ticket, t.id).assignee_id == db.desk_staff_id(1002)
    audit = db.all(select(AuditEntry).where(AuditEntry.ticket_id == t.id, AuditEntry.action == "handover"))
    assert len(audit) == 1 and "陈专员熟悉餐饮许可" in audit[0].reason
    assert "转给同事" in app_client.get(f"/tickets/{t.id}").text  # the audit trail says it in Chinese
    # no longer the holder: no picker, and a forged post is refused
    assert 'id="handover-to"' not in app_client.get(f"/tickets/{t.id}").text
    r = _post(app_client, f"/tickets/{t.id}/handover", to_staff="1001")
    assert r.status_code == 403
    assert db.get(Ticket, t.id).assignee_id == db.desk_staff_id(1002)


def test_followup_tasks_are_listed_with_deadlines_and_completed_with_a_note(
    app_client: TestClient, db: Db, clock: FakeClock
) -> None:
    from desk.models import FollowUp

    db.staff(1001, "王专员", departments=[MARKET])
    db.staff(1003, "赵专员", departments=[TAX])
    t = db.ticket()
    db.run(db.desk.claim(t.id, 1001))
    db.run(db.desk.resolve(t.id, 1001, "许可证已核发"))
    db.run(db.desk.rate(t.id, 555, "不满意", "窗口态度不好"))  # unhappy: reopened with a 回访 task
    (task,) = db.all(select(FollowUp).where(FollowUp.ticket_id == t.id))

    sign_in(app_client, 1001)
    page = app_client.get("/followups").text
    assert t.number in page and "回访时限" in page and "回访超期" not in page
    clock.advance(timedelta(days=30))
    app_client.cookies.clear()  # a month later: signed in again
    sign_in(app_client, 1001)
    assert "回访超期" in app_client.get("/followups").text  # past its deadline: marked
    ticket_page = app_client.get(f"/tickets/{t.id}").text
    assert "待回访" in ticket_page and f"/followups/{task.id}/done" in ticket_page

    # another department sees no task and cannot complete it
    app_client.cookies.clear()
    sign_in(app_client, 1003)
    assert t.number not in app_client.get("/followups").text
    r = _post(app_client, f"/followups/{task.id}/done", note="越权回访")
    assert r.status_code == 403 and db.get(FollowUp, task.id).done_at is None

    app_client.cookies.clear()
    sign_in(app_client, 1001)
    r = _post(app_client, f"/followups/{task.id}/done", note="   ")
    assert r.status_code in (400, 422) and db.get(FollowUp, task.id).done_at is None
    r = _post(app_client, f"/followups/{task.id}/done", note="已电话回访，企业表示理解。", back=f"/tickets/{t.id}")
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{t.id}"
    done = db.get(FollowUp, task.id)
    assert done.done_at is not None and done.note == "已电话回访，企业表示理解。"
    assert t.number not in app_client.get("/followups").text
    assert "已电话回访" in app_client.get("/followups?done=1").text
    r = _post(app_client, f"/followups/{task.id}/done", note="再记一次")
    assert r.status_code in (400, 409) and db.get(FollowUp, task.id).note == "已电话回访，企业表示理解。"


def test_bulk_claim_and_handover_each_checked_by_the_desk(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    db.staff(1002, "陈专员", departments=[MARKET])
    db.staff(1003, "赵专员", departments=[TAX])
    db.staff(2001, "李局长", role="leader")
    mine = [db.ticket(title=f"餐饮许可 {i}") for i in range(3)]
    other = db.ticket(title="税务登记问题", department=TAX)
    sign_in(app_client, 1001)
    queue = app_client.get("/queue").text
    assert 'form="bulk"' in queue and "陈专员" in queue.split('id="bulk"')[1] and "赵专员" not in queue.split('id="bulk"')[1]

    page = app_client.get("/queue")
    r = app_client.post("/bulk", data={"csrf_token": csrf_of(page.text), "action": "claim",
                                       "ticket": [str(t.id) for t in mine] + [str(other.id)]}, follow_redirects=True)
    assert "已认领 3 张工单" in r.text and "1 张未能处理" in r.text
    assert all(db.get(Ticket, t.id).accepted_at is not None for t in mine)
    assert db.get(Ticket, other.id).state == "new"  # another department's: refused, unchanged

    page = app_client.get("/queue")
    r = app_client.post("/bulk", data={"csrf_token": csrf_of(page.text), "action": "handover", "to_staff": "1002",
                                       "ticket": [str(mine[0].id), str(mine[1].id)]}, follow_redirects=True)
    assert "已转交 2 张工单" in r.text
    assert {db.get(Ticket, t.id).assignee_id for t in mine[:2]} == {db.desk_staff_id(1002)}
    page = app_client.get("/queue")
    r = app_client.post("/bulk", data={"csrf_token": csrf_of(page.text), "action": "handover", "to_staff": "1003",
                                       "ticket": [str(mine[2].id)]}, follow_redirects=True)
    assert "未能处理" in r.text and db.get(Ticket, mine[2].id).assignee_id == db.desk_staff_id(1001)
    r = app_client.post("/bulk", data={"action": "claim", "ticket": [str(other.id)]}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token: nothing done

    # a leader 交办 several across departments
    app_client.cookies.clear()
    sign_in(app_client, 2001)
    page = app_client.get("/queue")
    r = app_client.post("/bulk", data={"csrf_token": csrf_of(page.text), "action": "handover", "to_staff": "1003",
                                       "ticket": [str(other.id), str(mine[2].id)]}, follow_redirects=True)
    assert "已交办 2 张工单" in r.text
    assert db.get(Ticket, other.id).assignee_id == db.desk_staff_id(1003)
