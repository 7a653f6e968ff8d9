"""Full ticket lifecycles with a controllable clock across 2026 National Day, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import FakeClock
from desk.errors import IllegalTransition, InvalidInput, PermissionDenied
from desk.models import EnterpriseCreate, TicketCreate
from desk.service import Desk
from tests.desk.conftest import COMMISSIONER_A, COMMISSIONER_B, LEADER, OWNER, SH, STRANGER, VALID_CODE, sh


async def _enterprise_ticket(desk: Desk, **kw: object) -> str:
    await desk.register_enterprise(
        EnterpriseCreate(name="城东小饭馆", credit_code=VALID_CODE, industry="餐饮", tg_user_id=OWNER)
    )
    data = {
        "title": "食品经营许可证迟迟未发",
        "description": "材料已交齐三周，窗口说还要等。",
        "department": "市场监管局",
        "reason": "超时",
        "requester_tg_id": OWNER,
        **kw,
    }
    t = await desk.create_ticket(TicketCreate(**data))  # type: ignore[arg-type]
    return t.number


def local(dt):  # type: ignore[no-untyped-def]
    return dt.astimezone(SH)


async def _kinds(desk: Desk, audience: str | None = None) -> list[str]:
    return [n.kind for n in await desk.pending_notifications(500) if audience in (None, n.audience)]


async def test_happy_path_across_national_day(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _enterprise_ticket(desk)
    t = await desk.get_ticket(number)
    assert number.startswith("BC-20260930-")
    assert t.state == "new" and t.enterprise_name == "城东小饭馆"
    assert t.assignee_name == "张专员"  # routed to the least-loaded commissioner of the department
    assert local(t.accept_due_at) == sh(2026, 10, 8, 11, 0)  # 4 working hours, the holiday skipped
    # The ticket and the enterprise's receipt were committed together, before anyone was told.
    assert await _kinds(desk) == ["created", "new_ticket"]

    clock.set(sh(2026, 10, 8, 10, 0))
    t = await desk.claim(number, COMMISSIONER_A)
    assert t.state == "assigned" and not t.accept_overdue
    assert local(t.resolve_due_at) == sh(2026, 10, 14, 10, 0)  # 10-10 (Saturday 调休) counts

    clock.advance(minutes=30)
    await desk.add_message(number, "staff", COMMISSIONER_A, "您好，我已联系审批科，今天下午给您答复。")
    await desk.add_message(number, "enterprise", OWNER, "好的，谢谢。")
    assert (await desk.get_ticket(number)).state == "in_progress"
    assert [m.author_kind for m in await desk.messages(number)] == ["enterprise", "staff", "enterprise"]

    clock.set(sh(2026, 10, 10, 15, 0))  # Saturday, but a working day
    t = await desk.resolve(number, COMMISSIONER_A, "许可证已制证，可到3号窗口领取。")
    assert t.state == "resolved" and not t.resolve_overdue
    assert local(t.rating_due_at) == sh(2026, 10, 14, 15, 0)  # 3 working days: 10-12, 10-13, 10-14

    t = await desk.rate(number, OWNER, "满意", "办得快")
    assert t.state == "closed" and t.close_reason == "rated"
    trail = [(a.action, a.from_state, a.to_state) for a in await desk.audit_log(number)]
    assert trail == [
        ("create", "", "new"),
        ("claim", "new", "assigned"),
        ("start", "assigned", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("rate", "resolved", "resolved"),
        ("close", "resolved", "closed"),
    ]
    assert await _kinds(desk, "enterprise") == ["created", "claimed", "staff_message", "rate_request", "closed"]
    assert all(a.created_at.tzinfo is not None for a in await desk.audit_log(number))


async def test_waiting_enterprise_pauses_the_clock(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _enterprise_ticket(desk)
    clock.set(sh(2026, 10, 8, 10, 0))
    await desk.claim(number, COMMISSIONER_A)
    clock.set(sh(2026, 10, 9, 10, 0))
    t = await desk.wait_for_enterprise(number, COMMISSIONER_A, "请补充租赁合同复印件")
    assert t.state == "waiting_enterprise"
    # Four working days are left (10-09, 10-10, 10-12, 10-13). The deadline passes while we wait: no escalation.
    clock.set(sh(2026, 10, 15, 9, 0))
    result = await desk.run_due()
    assert result.resolve_overdue == 0 and (await desk.get_ticket(number)).state == "waiting_enterprise"
    # The enterprise answers; the clock restarts with the four days it had left.
    await desk.add_message(number, "enterprise", OWNER, "合同已上传。")
    t = await desk.get_ticket(number)
    assert t.state == "in_progress"
    assert local(t.resolve_due_at) == sh(2026, 10, 20, 18, 0)  # 10-15, 16, 19, 20: the end of 10-20
    assert [a.action for a in await desk.audit_log(number)][-1] == "resume"


async def test_overdue_acceptance_and_handling_escalate_to_leader(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _enterprise_ticket(desk)
    clock.set(sh(2026, 10, 5, 12, 0))  # holiday: no working time has passed
    assert (await desk.run_due()).total == 0
    clock.set(sh(2026, 10, 8, 10, 0))  # 3 of 4 working hours gone: warn
    result = await desk.run_due()
    assert result.warned == 1
    clock.set(sh(2026, 10, 8, 11, 0))
    result = await desk.run_due()
    assert result.accept_overdue == 1
    t = await desk.get_ticket(number)
    assert t.state == "escalated" and t.accept_overdue and t.escalation_count == 1
    assert (await desk.run_due()).total == 0  # idempotent
    assert "escalate_overdue" in await _kinds(desk, "leaders")

    # 领导领办: the leader takes it, the resolve clock starts now.
    t = await desk.claim(number, LEADER)
    assert t.state == "assigned" and t.assignee_name == "赵局长"
    assert local(t.resolve_due_at) == sh(2026, 10, 14, 11, 0)
    clock.set(sh(2026, 10, 14, 11, 0))
    result = await desk.run_due()
    assert result.resolve_overdue == 1
    t = await desk.get_ticket(number)
    assert t.state == "escalated" and t.resolve_overdue and t.escalation_count == 2
    clock.advance(hours=2)
    assert (await desk.run_due()).total == 0
    t = await desk.resolve(number, LEADER, "已协调审批科当日办结。")
    assert t.resolve_overdue and t.accept_overdue
    actions = [a.action for a in await desk.audit_log(number)]
    assert actions.count("accept_overdue") == 1 and actions.count("resolve_overdue") == 1


async def test_unhappy_rating_reopens_with_a_followup(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _enterprise_ticket(desk)
    clock.set(sh(2026, 10, 8, 9, 30))
    await desk.claim(number, COMMISSIONER_A)
    clock.set(sh(2026, 10, 9, 9, 30))
    await desk.resolve(number, COMMISSIONER_A, "已答复：需等待省局审批。")
    t = await desk.rate(number, OWNER, "不满意", "没有解决问题")
    assert t.state == "reopened"
    (followup,) = await desk.followups(number)
    assert local(followup.due_at) == sh(2026, 10, 13, 9, 30)  # 10-09, 10-10 (Saturday 调休), 10-12
    assert "followup" in await _kinds(desk, "staff")

    clock.set(sh(2026, 10, 13, 9, 30))
    result = await desk.run_due()
    assert result.followups_overdue == 1
    assert "followup_overdue" in await _kinds(desk, "leaders")
    await desk.complete_followup(followup.id, COMMISSIONER_A, "已电话回访，约定两日内协调。")
    assert await desk.followups(number, open_only=True) == []

    await desk.add_message(number, "staff", COMMISSIONER_A, "已协调省局，今日出结果。")
    t = await desk.resolve(number, COMMISSIONER_A, "省局已批复，许可证已发放。")
    assert t.resolution_round == 2
    t = await desk.rate(number, OWNER, "基本满意")
    assert t.state == "closed"
    assert [(r.round, r.score) for r in await desk.ratings(number)] == [(1, "不满意"), (2, "基本满意")]


async def test_rating_comment_after_the_buttons(staffed: Desk, clock: FakeClock) -> None:
    """A comment sent after the rating attaches to it, audited; a 不满意 one also goes to the commissioner once."""
    desk = staffed
    number = await _enterprise_ticket(desk)
    clock.set(sh(2026, 10, 8, 9, 30))
    await desk.claim(number, COMMISSIONER_A)
    with pytest.raises(IllegalTransition):  # nothing rated yet
        await desk.add_rating_comment(number, OWNER, "还没评价")
    await desk.resolve(number, COMMISSIONER_A, "已答复：需等待省局审批。")
    await desk.rate(number, OWNER, "不满意")
    with pytest.raises(PermissionDenied):
        await desk.add_rating_comment(number, STRANGER, "不是我的工单")
    before = await _kinds(desk, "staff")
    t = await desk.add_rating_comment(number, OWNER, "  许可证还是没有发下来。 ")
    assert t.state == "reopened"
    assert [(r.score, r.comment) for r in await desk.ratings(number)] == [("不满意", "许可证还是没有发下来。")]
    assert (await desk.audit_log(number))[-1].action == "rating_comment"
    assert await _kinds(desk, "staff") == [*before, "enterprise_message"]
    assert (await desk.messages(number))[-1].text == "许可证还是没有发下来。"
    with pytest.raises(IllegalTransition):  # one comment per rating
        await desk.add_rating_comment(number, OWNER, "再补一句")

    await desk.resolve(number, COMMISSIONER_A, "省局已批复，许可证已发放。")
    await desk.rate(number, OWNER, "满意")
    before = await _kinds(desk)
    t = await desk.add_rating_comment(number, OWNER, "办得快")
    assert t.state == "closed"  # a comment on a closed ticket is stored, nobody is notified
    assert [r.comment for r in await desk.ratings(number)] == ["许可证还是没有发下来。", "办得快"]
    assert await _kinds(desk) == before
    with pytest.raises(InvalidInput):
        await desk.add_rating_comment(number, OWNER, "   ")


async def test_no_rating_reminds_then_closes_as_unrated(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _enterprise_ticket(desk)
    clock.set(sh(2026, 10, 8, 9, 30))
    await desk.claim(number, COMMISSIONER_A)
    await desk.resolve(number, COMMISSIONER_A, "已办结。")
    clock.set(sh(2026, 10, 10, 9, 30))  # two working days later (the Saturday counts)
    assert (await desk.run_due()).rating_reminders == 1
    clock.set(sh(2026, 10, 12, 9, 29))  # three working days: 10-09, 10-10, 10-12
    assert (await desk.run_due()).total == 0
    clock.set(sh(2026, 10, 12, 9, 30))
    assert (await desk.run_due()).auto_closed == 1
    t = await desk.get_ticket(number)
    assert t.state == "closed" and t.close_reason == "unrated"
    assert await _kinds(desk, "enterprise") == ["created", "claimed", "rate_request", "rating_reminder", "closed_unrated"]


@pytest.mark.parametrize("with_override", [False, True])
async def test_december_deadline_runs_into_2027(staffed: Desk, clock: FakeClock, with_override: bool) -> None:
    desk = staffed
    if with_override:
        path = desk.settings.resolve_in_data_dir(desk.settings.desk.holidays_file)
        path.write_text("holidays:\n  - 2027-01-01\n", encoding="utf-8")
    clock.set(sh(2026, 12, 30, 10, 0))
    number = await _enterprise_ticket(desk)
    t = await desk.claim(number, COMMISSIONER_A)
    # 12-30, 12-31, 01-01 (a workday by the Mon–Fri fallback, unless the admin says otherwise), 01-04, 01-05.
    expected = sh(2027, 1, 7, 10, 0) if with_override else sh(2027, 1, 6, 10, 0)
    assert local(t.resolve_due_at) == expected
    clock.set(expected - timedelta(minutes=1))
    assert (await desk.run_due()).resolve_overdue == 0
    clock.set(expected)
    assert (await desk.run_due()).resolve_overdue == 1
    assert (await desk.get_ticket(number)).state == "escalated"


async def test_claimed_by_a_covering_colleague_instead_of_the_proposed_one(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _enterprise_ticket(desk)
    t = await desk.claim(number, COMMISSIONER_B)
    assert t.assignee_name == "李专员"
    await desk.add_department(number, COMMISSIONER_B, "税务局")
    assert (await desk.get_ticket(number)).co_departments == ["税务局"]


async def test_escalating_a_waiting_ticket_restarts_its_clock(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _enterprise_ticket(desk)
    clock.set(sh(2026, 10, 8, 10, 0))
    await desk.claim(number, COMMISSIONER_A)  # due 10-14 10:00
    clock.set(sh(2026, 10, 9, 10, 0))
    await desk.wait_for_enterprise(number, COMMISSIONER_A, "请补充材料")
    clock.set(sh(2026, 10, 13, 10, 0))
    t = await desk.escalate(number, OWNER, "等太久了，请领导过问", by_enterprise=True)
    assert t.state == "escalated" and t.paused_at is None
    assert local(t.resolve_due_at) == sh(2026, 10, 19, 10, 0)  # the 4 days left, counted from now
    clock.set(sh(2026, 10, 15, 10, 0))
    assert (await desk.run_due()).resolve_overdue == 0


async def test_a_followup_closes_with_its_ticket(staffed: Desk, clock: FakeClock) -> None:
    """不满意 → 办结 → 满意 before anyone called back: the 回访 task closes with the ticket, and no
    督办 notice about it reaches the leaders afterwards."""
    desk = staffed
    number = await _enterprise_ticket(desk)
    clock.set(sh(2026, 10, 8, 9, 30))
    await desk.claim(number, COMMISSIONER_A)
    clock.set(sh(2026, 10, 9, 9, 30))
    await desk.resolve(number, COMMISSIONER_A, "已答复：需等待省局审批。")
    await desk.rate(number, OWNER, "不满意", "没有解决问题")
    clock.set(sh(2026, 10, 9, 15, 0))
    await desk.resolve(number, COMMISSIONER_A, "省局已批复，许可证已发放。")
    t = await desk.rate(number, OWNER, "满意")
    assert t.state == "closed"
    assert await desk.followups(number, open_only=True) == []
    (task,) = await desk.followups(number)
    assert "随之关闭" in task.note
    assert "followup_closed" in [a.action for a in await desk.audit_log(number)]
    before = await _kinds(desk, "leaders")
    clock.set(sh(2026, 10, 20, 9, 30))  # long after the task's deadline
    result = await desk.run_due()
    assert result.followups_overdue == 0 and await _kinds(desk, "leaders") == before


async def test_leaders_are_told_of_a_ticket_nobody_covers(staffed: Desk) -> None:
    desk = staffed
    t = await desk.create_ticket(TicketCreate(title="无人负责的事项", department="示范市气象局", reason="其他"))
    assert t.assignee_name == "" and "unrouted" in await _kinds(desk, "leaders")
    covered = await desk.create_ticket(TicketCreate(title="营业执照", department="市场监管局", reason="其他"))
    assert covered.assignee_name  # routed to a commissioner of 市场监管局: no alarm
    assert (await _kinds(desk, "leaders")).count("unrouted") == 1
