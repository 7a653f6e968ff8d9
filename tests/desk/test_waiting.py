"""A ticket waiting for the enterprise is chased: a reminder to both sides, then a give-up notice to staff.

Waiting starts on Thursday 2026-11-05 10:00 Beijing; with the defaults (remind after 2 working days, give up
after 5) the reminder is due Monday 11-09 10:00 (the weekend does not count) and the give-up Thursday 11-12.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import select

from core.clock import FakeClock
from core.config import Settings
from desk.models import EnterpriseCreate, NotificationPublic, Ticket, TicketCreate
from desk.service import Desk
from tests.desk.conftest import COMMISSIONER_A, LEADER, OWNER, VALID_CODE, sh

ASKED = "请补充加盖公章的租赁合同复印件"
WAIT_STARTS = sh(2026, 11, 5, 10, 0)  # Thursday
REMIND_AT = sh(2026, 11, 9, 10, 0)  # Monday: Friday + Monday are the two working days
GIVE_UP_AT = sh(2026, 11, 12, 10, 0)  # Thursday: 11-06, 09, 10, 11, 12


async def _waiting_ticket(desk: Desk, clock: FakeClock, asked: str = ASKED) -> str:
    """A claimed ticket of OWNER's enterprise, handled by COMMISSIONER_A, waiting for `asked` since WAIT_STARTS."""
    await desk.register_enterprise(EnterpriseCreate(name="城东小饭馆", credit_code=VALID_CODE, tg_user_id=OWNER))
    clock.set(sh(2026, 11, 5, 9, 0))
    t = await desk.create_ticket(
        TicketCreate(title="食品经营许可证迟迟未发", department="市场监管局", reason="超时", requester_tg_id=OWNER)
    )
    await desk.claim(t.number, COMMISSIONER_A)
    clock.set(WAIT_STARTS)
    await desk.wait_for_enterprise(t.number, COMMISSIONER_A, asked)
    return t.number


def _said(desk: Desk, n: NotificationPublic) -> str:
    """What the notice says on the plain channel (desk.notices)."""
    from desk import notices

    return notices.render(n.kind, n.audience, n.payload, desk.fmt, "plain")


async def _chasers(desk: Desk) -> list[NotificationPublic]:
    """The waiting reminders and give-up notices queued so far, oldest first."""
    return [n for n in await desk.pending_notifications(500) if n.kind in ("waiting_reminder", "waiting_giveup")]


async def test_reminder_after_two_working_days_across_a_weekend(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _waiting_ticket(desk, clock)

    for before in (sh(2026, 11, 7, 10, 0), sh(2026, 11, 8, 20, 0), sh(2026, 11, 9, 9, 59)):
        # Saturday and Sunday are three and four calendar days in, but only one working day.
        clock.set(before)
        assert (await desk.run_due()).waiting_reminders == 0
    assert await _chasers(desk) == []

    clock.set(REMIND_AT)
    result = await desk.run_due()
    assert result.waiting_reminders == 1 and result.waiting_giveups == 0
    assert number in result.touched
    to_enterprise, to_staff = await _chasers(desk)
    assert (to_enterprise.audience, to_enterprise.recipient_tg_id) == ("enterprise", OWNER)
    assert number in _said(desk, to_enterprise) and ASKED in _said(desk, to_enterprise)
    assert (to_staff.audience, to_staff.recipient_tg_id) == ("staff", COMMISSIONER_A)
    assert number in _said(desk, to_staff) and "仍未答复" in _said(desk, to_staff) and "2 个工作日" in _said(desk, to_staff)
    # Nothing else changes: still waiting, clock still paused.
    t = await desk.get_ticket(number)
    assert t.state == "waiting_enterprise" and t.paused_at is not None
    assert [a.action for a in await desk.audit_log(number)][-1] == "waiting_reminder"


async def test_reminder_is_sent_only_once(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    await _waiting_ticket(desk, clock)
    clock.set(REMIND_AT)
    assert (await desk.run_due()).waiting_reminders == 1
    assert (await desk.run_due()).total == 0  # the same instant again
    clock.set(sh(2026, 11, 11, 17, 0))  # later, before the give-up point
    assert (await desk.run_due()).total == 0
    assert [n.audience for n in await _chasers(desk)] == ["enterprise", "staff"]


async def test_no_reminder_once_the_enterprise_answered(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _waiting_ticket(desk, clock)
    clock.set(sh(2026, 11, 6, 15, 0))
    await desk.add_message(number, "enterprise", OWNER, "合同复印件已上传，请查收。")
    assert (await desk.get_ticket(number)).state == "in_progress"

    for when in (REMIND_AT, GIVE_UP_AT):
        clock.set(when)
        result = await desk.run_due()
        assert result.waiting_reminders == 0 and result.waiting_giveups == 0
    assert await _chasers(desk) == []


async def test_give_up_notice_asks_staff_and_leaders_and_does_not_close(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _waiting_ticket(desk, clock)
    clock.set(REMIND_AT)
    await desk.run_due()
    clock.set(sh(2026, 11, 12, 9, 59))
    assert (await desk.run_due()).total == 0

    clock.set(GIVE_UP_AT)
    result = await desk.run_due()
    assert result.waiting_giveups == 1 and result.waiting_reminders == 0
    giveups = [n for n in await _chasers(desk) if n.kind == "waiting_giveup"]
    assert [(n.audience, n.recipient_tg_id) for n in giveups] == [("staff", COMMISSIONER_A), ("leaders", None)]
    to_staff, to_leaders = giveups
    assert number in _said(desk, to_staff) and ASKED in _said(desk, to_staff)
    assert "电话" in _said(desk, to_staff) and "办结" in _said(desk, to_staff) and "5 个工作日" in _said(desk, to_staff)
    assert number in _said(desk, to_leaders) and "食品经营许可证迟迟未发" in _said(desk, to_leaders)
    # A person decides: the ticket is neither closed nor escalated, and the notice is not repeated.
    t = await desk.get_ticket(number)
    assert t.state == "waiting_enterprise" and t.closed_at is None and t.escalation_count == 0
    clock.set(sh(2026, 11, 20, 10, 0))
    assert (await desk.run_due()).total == 0
    assert len(await _chasers(desk)) == 4  # reminder ×2 + give-up ×2


async def test_first_tick_after_both_points_reminds_the_enterprise_and_gives_up_once(staffed: Desk, clock: FakeClock) -> None:
    # The bot was down all week: the enterprise still gets its reminder, staff get only the give-up notice.
    desk = staffed
    await _waiting_ticket(desk, clock)
    clock.set(GIVE_UP_AT)
    result = await desk.run_due()
    assert (result.waiting_reminders, result.waiting_giveups) == (1, 1)
    assert [(n.kind, n.audience) for n in await _chasers(desk)] == [
        ("waiting_reminder", "enterprise"),
        ("waiting_giveup", "staff"),
        ("waiting_giveup", "leaders"),
    ]
    assert (await desk.run_due()).total == 0


async def test_a_new_waiting_period_is_chased_again(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _waiting_ticket(desk, clock)
    clock.set(GIVE_UP_AT)
    await desk.run_due()
    assert len(await _chasers(desk)) == 3

    # The commissioner phones, resumes, and on Friday asks for something else.
    clock.set(sh(2026, 11, 12, 15, 0))
    await desk.resume(number, COMMISSIONER_A, "已电话联系企业")
    clock.set(sh(2026, 11, 13, 10, 0))
    await desk.wait_for_enterprise(number, COMMISSIONER_A, "请补充法定代表人身份证复印件")
    clock.set(sh(2026, 11, 16, 17, 0))  # Monday: one working day and seven hours
    assert (await desk.run_due()).total == 0
    clock.set(sh(2026, 11, 17, 10, 0))  # Tuesday: two working days
    assert (await desk.run_due()).waiting_reminders == 1
    newest = (await _chasers(desk))[3:]
    assert [(n.kind, n.audience) for n in newest] == [("waiting_reminder", "enterprise"), ("waiting_reminder", "staff")]
    assert "法定代表人身份证" in _said(desk, newest[0]) and ASKED not in _said(desk, newest[0])
    clock.set(sh(2026, 11, 20, 10, 0))  # Friday: five working days
    assert (await desk.run_due()).waiting_giveups == 1
    assert [n.kind for n in await _chasers(desk)].count("waiting_giveup") == 4  # two periods × staff + leaders


async def test_the_days_come_from_config(engine, settings: Settings, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    from core.db import make_sessionmaker

    desk_cfg = settings.desk.model_copy(update={"waiting_reminder_after_days": 1, "waiting_giveup_after_days": 3})
    desk = Desk(make_sessionmaker(engine), settings.model_copy(update={"desk": desk_cfg}), clock)
    await desk.add_staff(COMMISSIONER_A, "张专员", "commissioner", ["市场监管局"])
    await desk.add_staff(LEADER, "赵局长", "leader")
    await _waiting_ticket(desk, clock)
    clock.set(sh(2026, 11, 6, 10, 0))  # Friday: one working day
    assert (await desk.run_due()).waiting_reminders == 1
    clock.set(sh(2026, 11, 10, 10, 0))  # Tuesday: three working days
    assert (await desk.run_due()).waiting_giveups == 1


async def test_a_reminder_wins_the_row_against_a_concurrent_writer(staffed: Desk, clock: FakeClock) -> None:
    # The reminder rows are inserts; it also bumps the ticket's version, so a second scheduler (another
    # worker) that read the ticket before this one committed loses its race instead of reminding twice.
    desk = staffed
    number = await _waiting_ticket(desk, clock)
    async with desk.sessions() as other:
        stale = (await other.exec(select(Ticket).where(Ticket.number == number))).one()
        clock.set(REMIND_AT)
        assert (await desk.run_due()).waiting_reminders == 1
        stale.title = "另一进程的修改"
        other.add(stale)
        with pytest.raises(StaleDataError):
            await other.commit()
