"""Bad input gets a Chinese message and changes nothing; permissions; outbox survives a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from core.clock import FakeClock
from core.db import make_sessionmaker
from desk.errors import (
    AlreadyClaimed,
    DeskError,
    IllegalTransition,
    InvalidCreditCode,
    InvalidInput,
    NotStaff,
    PermissionDenied,
    TicketNotFound,
)
from desk.models import EnterpriseCreate, TicketCreate
from desk.service import Desk
from tests.desk.conftest import (
    ADMIN,
    COMMISSIONER_A,
    COMMISSIONER_B,
    COMMISSIONER_OTHER,
    LEADER,
    OWNER,
    STRANGER,
    VALID_CODE,
    sh,
)


async def _snapshot(desk: Desk) -> tuple[int, int, list[tuple[str, str]]]:
    audit = await desk.audit_log()
    pending = await desk.pending_notifications(1000)
    tickets = await desk.list_tickets(LEADER)
    return len(audit), len(pending), [(t.number, t.state) for t in tickets]


async def _new_ticket(desk: Desk, department: str = "市场监管局", requester: int = OWNER) -> str:
    t = await desk.create_ticket(
        TicketCreate(title="开饭店办证被卡", department=department, reason="材料", requester_tg_id=requester)
    )
    return t.number


async def _refused(desk: Desk, exc: type[DeskError], call: Callable[[], Awaitable[object]], fragment: str = "") -> str:
    before = await _snapshot(desk)
    with pytest.raises(exc) as info:
        await call()
    message = str(info.value)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message  # the message is Chinese
    assert fragment in message
    assert await _snapshot(desk) == before, "a refused call changed something"
    return message


async def test_bad_input_changes_nothing(staffed: Desk) -> None:
    desk = staffed
    number = await _new_ticket(desk)
    await _refused(desk, TicketNotFound, lambda: desk.claim("BC-20990101-9999", COMMISSIONER_A), "找不到工单")
    await _refused(desk, TicketNotFound, lambda: desk.get_ticket(424242))
    await _refused(desk, IllegalTransition, lambda: desk.resolve(number, COMMISSIONER_A, "好了"), "请先认领")
    await _refused(desk, IllegalTransition, lambda: desk.add_message(number, "staff", COMMISSIONER_A, "你好"))
    await _refused(desk, PermissionDenied, lambda: desk.claim(number, COMMISSIONER_OTHER), "市场监管局")
    await _refused(desk, NotStaff, lambda: desk.claim(number, STRANGER))
    await desk.claim(number, COMMISSIONER_A)
    await _refused(desk, AlreadyClaimed, lambda: desk.claim(number, COMMISSIONER_B), "已被其他专员认领")
    await _refused(desk, InvalidInput, lambda: desk.resolve(number, COMMISSIONER_A, "   "), "不能为空")
    await _refused(desk, IllegalTransition, lambda: desk.rate(number, OWNER, "满意"), "暂不能评价")
    await _refused(desk, IllegalTransition, lambda: desk.close(number, COMMISSIONER_A, "销号"), "没有办理结果")
    await desk.resolve(number, COMMISSIONER_A, "已办结")
    await _refused(desk, PermissionDenied, lambda: desk.rate(number, STRANGER, "不满意"), "不是您提交的")
    await _refused(desk, InvalidInput, lambda: desk.rate(number, OWNER, "还行吧"), "满意 / 基本满意 / 不满意")
    await _refused(desk, PermissionDenied, lambda: desk.get_ticket(number, enterprise_tg_id=STRANGER))
    await _refused(desk, PermissionDenied, lambda: desk.add_message(number, "enterprise", STRANGER, "hi"))
    await _refused(desk, IllegalTransition, lambda: desk.wait_for_enterprise(number, COMMISSIONER_A, "补材料"))
    await _refused(desk, PermissionDenied, lambda: desk.reassign(number, COMMISSIONER_A, COMMISSIONER_B))
    await _refused(desk, PermissionDenied, lambda: desk.add_staff(5, "某人", "leader", by_tg_id=COMMISSIONER_A), "管理员")
    await _refused(desk, InvalidInput, lambda: desk.add_staff(5, "某人", "boss", by_tg_id=ADMIN), "角色")
    await _refused(
        desk,
        InvalidCreditCode,
        lambda: desk.register_enterprise(EnterpriseCreate(name="某公司", credit_code="91110000600037341X")),
        "校验位",
    )
    await _refused(
        desk,
        InvalidInput,
        lambda: desk.create_ticket(TicketCreate(title="x", reason="心情不好", requester_tg_id=OWNER)),
        "卡点原因",
    )
    # Staff close (对账销号) needs its own note as well.
    await _refused(desk, InvalidInput, lambda: desk.close(number, COMMISSIONER_A, ""), "销号说明")
    t = await desk.close(number, COMMISSIONER_A, "企业电话确认已解决，对账销号")
    assert t.state == "closed" and t.close_reason == "manual"
    await _refused(desk, IllegalTransition, lambda: desk.add_message(number, "enterprise", OWNER, "还有问题"), "已销号")


async def test_visibility_by_department_and_role(staffed: Desk) -> None:
    desk = staffed
    market = await _new_ticket(desk, "市场监管局")
    tax = await _new_ticket(desk, "税务局", requester=STRANGER)
    assert [t.number for t in await desk.list_tickets(COMMISSIONER_A)] == [market]
    assert [t.number for t in await desk.list_tickets(COMMISSIONER_OTHER)] == [tax]
    assert {t.number for t in await desk.list_tickets(LEADER)} == {market, tax}
    with pytest.raises(PermissionDenied):
        await desk.get_ticket(tax, staff_tg_id=COMMISSIONER_A)
    assert (await desk.open_ticket_for_enterprise(OWNER)).number == market  # type: ignore[union-attr]
    assert await desk.open_ticket_for_enterprise(123) is None
    assert [t.number for t in await desk.list_enterprise_tickets(STRANGER)] == [tax]
    # Co-handling makes the ticket visible to the other department.
    await desk.claim(market, COMMISSIONER_A)
    await desk.add_department(market, COMMISSIONER_A, "税务局")
    assert {t.number for t in await desk.list_tickets(COMMISSIONER_OTHER)} == {market, tax}


async def test_enterprise_commissioner_gets_its_tickets(staffed: Desk) -> None:
    desk = staffed
    await desk.register_enterprise(
        EnterpriseCreate(name="城东小饭馆", credit_code=VALID_CODE, tg_user_id=OWNER, commissioner_tg_id=COMMISSIONER_OTHER)
    )
    number = await _new_ticket(desk, "市场监管局")
    t = await desk.get_ticket(number)
    assert t.assignee_name == "王专员"  # the enterprise's own commissioner, though another department
    await desk.claim(number, COMMISSIONER_OTHER)


async def test_pool_when_nobody_covers_the_department(staffed: Desk) -> None:
    t = await staffed.get_ticket(await _new_ticket(staffed, "住建局"))
    assert t.assignee_id is None and t.state == "new"


async def test_outbox_survives_a_restart_and_retries(staffed: Desk, engine, settings, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    number = await _new_ticket(staffed)
    # "Crash" before the bot delivered anything: a fresh Desk on the same database sees the receipt.
    restarted = Desk(make_sessionmaker(engine), settings, clock)
    pending = await restarted.pending_notifications()
    receipt = next(n for n in pending if n.kind == "created")
    assert receipt.ticket_number == number and receipt.recipient_tg_id == OWNER and receipt.audience == "enterprise"
    await restarted.mark_notification_failed(receipt.id, "Timed out")
    again = next(n for n in await restarted.pending_notifications() if n.id == receipt.id)
    assert again.attempts == 1
    await restarted.mark_notification_sent(receipt.id)
    assert receipt.id not in [n.id for n in await restarted.pending_notifications()]
    t = await restarted.set_staff_thread(number, -100123, 77)
    assert (await restarted.ticket_by_staff_thread(-100123, 77)).number == t.number  # type: ignore[union-attr]
    staff_row = next(n for n in await restarted.pending_notifications() if n.kind == "new_ticket")
    assert (staff_row.staff_chat_id, staff_row.staff_thread_id) == (-100123, 77)
    # Deadlines live in the rows: the restarted desk's scheduler finds the overdue acceptance by itself.
    clock.set(sh(2026, 10, 8, 11, 0))
    assert (await restarted.run_due()).accept_overdue == 1


async def test_concurrent_ratings_record_one(staffed: Desk, engine, settings, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    number = await _new_ticket(staffed)
    await staffed.claim(number, COMMISSIONER_A)
    await staffed.resolve(number, COMMISSIONER_A, "已办结")
    desks = [Desk(make_sessionmaker(engine), settings, clock) for _ in range(3)]
    results = await asyncio.gather(
        *(d.rate(number, OWNER, score) for d, score in zip(desks, ["满意", "不满意", "基本满意"], strict=True)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, DeskError) for r in results if isinstance(r, BaseException)), results
    assert len(await staffed.ratings(number)) == 1
    assert (await staffed.get_ticket(number)).state == winners[0].state


async def test_concurrent_claims_have_exactly_one_winner(staffed: Desk, engine, settings, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    """Several commissioners, each with their own Desk/sessionmaker (as separate workers), claim at once."""
    await staffed.add_staff(1004, "陈专员", "commissioner", ["市场监管局"])
    claimers = [COMMISSIONER_A, COMMISSIONER_B, LEADER, 1004]
    desks = [Desk(make_sessionmaker(engine), settings, clock) for _ in claimers]
    for _ in range(5):
        number = await _new_ticket(staffed)
        results = await asyncio.gather(
            *(d.claim(number, who) for d, who in zip(desks, claimers, strict=True)), return_exceptions=True
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert all(isinstance(e, AlreadyClaimed) for e in losers), losers
        t = await staffed.get_ticket(number)
        assert t.assignee_id == winners[0].assignee_id and t.state == "assigned"
        claims = [a for a in await staffed.audit_log(number) if a.action == "claim"]
        assert len(claims) == 1
        assert [n.kind for n in await staffed.pending_notifications(1000) if n.ticket_id == t.id].count("claimed") == 2


async def test_leader_reassigns_an_escalated_ticket(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    number = await _new_ticket(desk)
    await desk.claim(number, COMMISSIONER_A)
    t = await desk.escalate(number, OWNER, "三周没有进展，请领导督办", by_enterprise=True)
    assert t.state == "escalated"
    t = await desk.reassign(number, LEADER, COMMISSIONER_B, "改由李专员牵头")
    assert t.state == "assigned" and t.assignee_name == "李专员"
    clock.set(sh(2026, 10, 8, 9, 0))
    assert [a.action for a in await desk.audit_log(number)][-2:] == ["escalate", "reassign"]


async def test_config_admins_may_configure_staff(desk: Desk) -> None:
    desk.settings.telegram.admin_ids = [777]
    s = await desk.add_staff(1, "张敏", "commissioner", ["市场监管局", " "], by_tg_id=777)
    assert s.departments == ["市场监管局"]
    with pytest.raises(PermissionDenied):
        await desk.add_staff(2, "李强", by_tg_id=1)
    removed = await desk.remove_staff(1, by_tg_id=777)
    assert not removed.active and await desk.get_staff(1) is None
    assert [a.action for a in await desk.audit_log()] == ["staff_add", "staff_remove"]


async def test_claim_survives_an_unrelated_concurrent_change(staffed: Desk, engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """Between the claim's read and its UPDATE another connection bumps the row (as a scheduler warning
    would): the claim retries on the fresh row instead of reporting a claim that never happened."""
    from sqlalchemy import event, text

    from core.db import make_sync_engine

    number = await _new_ticket(staffed)
    other = make_sync_engine(db_url)
    fired: list[str] = []

    def bump_first_claim(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not fired and statement.startswith("UPDATE ticket SET") and "ticket.state IN" in statement:
            fired.append(statement)
            with other.begin() as c:
                c.execute(text("UPDATE ticket SET version = version + 1, accept_warned = :t"), {"t": True})

    event.listen(engine.sync_engine, "before_cursor_execute", bump_first_claim)
    try:
        t = await staffed.claim(number, COMMISSIONER_A)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", bump_first_claim)
        other.dispose()
    assert fired and t.state == "assigned" and t.assignee_name == "张专员"
    # The bot's bookkeeping does not bump the version at all.
    before = await staffed.get_ticket(number)
    await staffed.set_staff_thread(number, -1001, 5)
    await staffed.add_message(number, "staff", COMMISSIONER_A, "您好")  # would fail on a stale version
    assert (await staffed.get_ticket(number)).state == "in_progress" and before.state == "assigned"


async def test_resolve_retries_after_losing_to_an_unrelated_change(staffed: Desk, engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event, text

    from core.db import make_sync_engine

    number = await _new_ticket(staffed)
    await staffed.claim(number, COMMISSIONER_A)
    other = make_sync_engine(db_url)
    fired: list[str] = []

    def bump_first_update(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        # Fire before resolve's first write: after it, SQLite's writer lock would (rightly) block `other`.
        if not fired and statement.startswith(("INSERT", "UPDATE")):
            fired.append(statement)
            with other.begin() as c:
                c.execute(text("UPDATE ticket SET version = version + 1, resolve_warned = :t"), {"t": True})

    event.listen(engine.sync_engine, "before_cursor_execute", bump_first_update)
    try:
        t = await staffed.resolve(number, COMMISSIONER_A, "已办结")
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", bump_first_update)
        other.dispose()
    assert fired and t.state == "resolved" and t.resolution_round == 1
    assert [a.action for a in await staffed.audit_log(number)].count("resolve") == 1  # the lost try left nothing


async def test_a_ticket_is_never_handed_to_an_admin(staffed: Desk) -> None:
    from desk.errors import InvalidInput

    desk = staffed
    number = await _new_ticket(desk)
    before = await desk.get_ticket(number, staff_tg_id=LEADER)
    with pytest.raises(InvalidInput, match="管理员"):
        await desk.reassign(number, LEADER, ADMIN, "请处理")
    after = await desk.get_ticket(number, staff_tg_id=LEADER)
    assert after.assignee_name == before.assignee_name and after.state == before.state  # nothing changed


async def test_concurrent_registrations_of_one_code_both_land_and_log_no_personal_data(desk: Desk, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    caplog.set_level(logging.DEBUG, logger="desk")
    forms = [
        EnterpriseCreate(name=f"城东小饭馆{i}", credit_code=VALID_CODE, contact_name="陈美玲",
                         contact_phone="13800138000", tg_user_id=9000 + i)
        for i in range(2)
    ]
    results = await asyncio.gather(*(desk.register_enterprise(f) for f in forms), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)]  # the loser re-read and updated
    logged = caplog.text
    for secret in ("13800138000", "陈美玲", VALID_CODE):
        assert secret not in logged


async def test_notifications_do_not_double_punctuation_or_repeat_the_handover(staffed: Desk) -> None:
    from sqlmodel import select

    from desk.models import Notification

    desk = staffed
    number = await _new_ticket(desk)
    await desk.claim(number, COMMISSIONER_A)
    await desk.wait_for_enterprise(number, COMMISSIONER_A, "请补充消防检查的书面回执。")
    await desk.resume(number, COMMISSIONER_A)
    await desk.reassign(number, LEADER, COMMISSIONER_B)
    from desk import notices

    async with desk.sessions() as s:
        rows = (await s.exec(select(Notification))).all()
    # Every row holds facts, no sentence; each channel's wording has no doubled stop.
    assert rows and all(n.payload and not n.text for n in rows)
    texts = [notices.render(n.kind, n.audience, n.payload, desk.fmt, channel) for n in rows
             for channel in ("telegram", "plain")]
    assert not any("。。" in t for t in texts)
    handover = next(t for t in texts if "交办给" in t)
    assert handover.count("交办") == 1  # not "交办给 李专员：领导交办给 李专员"


async def test_staff_departments_resolve_to_the_directory_or_are_refused(desk: Desk) -> None:
    from desk.errors import InvalidInput
    from knowledge.models import KbDepartment

    async with desk.sessions() as s, s.begin():
        s.add(KbDepartment(name="示范市市场监督管理局", aliases=["市场监管局"]))
        s.add(KbDepartment(name="示范市人力资源和社会保障局", aliases=[]))
    staff = await desk.add_staff(11, "张敏", "commissioner", ["市场监管局", "劳动局"])
    # The README's own example and an old name both land on the canonical names tickets carry.
    assert staff.departments == ["示范市人力资源和社会保障局", "示范市市场监督管理局"]
    with pytest.raises(InvalidInput, match="不在服务联络簿中"):
        await desk.add_staff(12, "李强", "commissioner", ["示范市公安局"])
    with pytest.raises(InvalidInput, match="相近的部门：示范市市场监督管理局"):
        await desk.add_staff(12, "李强", "commissioner", ["市场监督局"])
    assert await desk.get_staff(12) is None  # refused: nothing written


async def test_the_handover_picker_offers_only_people_who_may_act(staffed: Desk) -> None:
    desk = staffed
    number = await _new_ticket(desk)  # a 市场监管局 ticket
    await desk.claim(number, COMMISSIONER_A)
    await desk.add_staff(2002, "钱副局长", "leader", by_tg_id=ADMIN)
    names = [s.name for s in await desk.handover_targets(number, LEADER)]
    # The other 市场监管局 commissioner, then the other leader: not the assignee, the 税务局 commissioner,
    # the admin or the asking leader.
    assert names == ["李专员", "钱副局长"]
    await desk.add_department(number, LEADER, "税务局")  # co-handling brings its commissioner in
    assert "王专员" in [s.name for s in await desk.handover_targets(number, LEADER)]
    # A commissioner's picker: colleagues sharing a department of the ticket — not 王专员, who co-handles
    # through 税务局, a department 张专员 does not cover — and no leaders.
    assert [s.name for s in await desk.handover_targets(number, COMMISSIONER_A)] == ["李专员"]
    await desk.escalate(number, COMMISSIONER_A, "需领导协调")
    with pytest.raises(PermissionDenied, match="只有领导可以交办"):
        await desk.handover_targets(number, COMMISSIONER_A)  # escalated: the leaders' to hand on


async def test_a_commissioner_hands_a_ticket_to_a_colleague_of_the_same_department(staffed: Desk) -> None:
    """handover: audited, the staff topic told, the colleague may act on it; another department, a ticket
    someone else holds, or an escalated one are refused and change nothing."""
    from sqlmodel import select

    from desk.models import AuditEntry, Notification

    desk = staffed
    number = await _new_ticket(desk)
    with pytest.raises(PermissionDenied, match="不是与您同部门"):
        await desk.hand_over(number, COMMISSIONER_A, COMMISSIONER_OTHER)  # 税务局: not a colleague here
    before = (await desk.get_ticket(number)).state
    t = await desk.hand_over(number, COMMISSIONER_A, COMMISSIONER_B, "李专员熟悉餐饮许可")
    assert t.assignee_name == "李专员" and before == "new" and t.state == "assigned"
    # now 李专员 holds it: 张专员 can no longer hand it on, 李专员 can hand it back
    with pytest.raises(PermissionDenied, match="只有承办人或领导"):
        await desk.hand_over(number, COMMISSIONER_A, COMMISSIONER_B)
    t = await desk.hand_over(number, COMMISSIONER_B, COMMISSIONER_A)
    assert t.assignee_name == "张专员"
    async with desk.sessions() as s:
        actions = [a.action for a in (await s.exec(select(AuditEntry).where(AuditEntry.ticket_id == t.id))).all()]
        told = [n.payload.get("target_name") for n in (await s.exec(
            select(Notification).where(Notification.ticket_id == t.id, Notification.kind == "reassigned"))).all()]
    assert actions.count("handover") == 2 and told == ["李专员", "张专员"]
    # a leader's 交办 still crosses departments
    t = await desk.hand_over(number, LEADER, COMMISSIONER_OTHER, "税务问题")
    assert t.assignee_name == "王专员"


async def test_a_ticket_named_by_alias_reaches_the_canonical_departments_commissioner(desk: Desk) -> None:
    from knowledge.models import KbDepartment

    async with desk.sessions() as s, s.begin():
        s.add(KbDepartment(name="云川市人力资源和社会保障局", aliases=["人社局"]))
    await desk.add_staff(21, "周专员", "commissioner", ["人社局"])
    # Policy front matter or an answer's department may carry an alias or a name without the city.
    for given in ("人社局", "人力资源和社会保障局", "云川市人力资源和社会保障局"):
        t = await desk.create_ticket(TicketCreate(title="稳岗返还迟迟未到账", department=given, reason="超时",
                                                  requester_tg_id=OWNER))
        assert t.department == "云川市人力资源和社会保障局" and t.assignee_name == "周专员", given
    unknown = await desk.create_ticket(TicketCreate(title="说不清找谁", department="某某办", reason="其他",
                                                    requester_tg_id=OWNER))
    assert unknown.department == "某某办" and unknown.assignee_name in (None, "")  # kept, in the pool


async def test_every_notification_the_desk_writes_has_wording_on_every_channel(staffed: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    """Drive a ticket through every notice (claims, waiting, escalation, rating, follow-ups, the
    scheduler's warnings); each row renders on both channels, names its ticket, and the plain channel
    never tells anyone to reply to a Telegram message."""

    from sqlmodel import select

    from desk import notices
    from desk.models import Notification, TicketCreate

    desk = staffed
    await desk.create_ticket(TicketCreate(title="没人管的事", department="某某办", reason="其他"))  # unrouted
    number = await _new_ticket(desk)
    await desk.claim(number, COMMISSIONER_A)
    await desk.add_message(number, "staff", COMMISSIONER_A, "已在核查")
    await desk.add_message(number, "enterprise", OWNER, "谢谢")
    await desk.add_department(number, COMMISSIONER_A, "税务局")
    await desk.wait_for_enterprise(number, COMMISSIONER_A, "请补充租赁合同。")
    clock.advance(days=12)
    await desk.run_due()  # waiting reminders, give-up, and overdue escalations
    await desk.resume(number, COMMISSIONER_A)
    await desk.escalate(number, COMMISSIONER_A, "需要领导协调")
    await desk.reassign(number, LEADER, COMMISSIONER_B, "请接手")
    await desk.resolve(number, COMMISSIONER_B, "已办结")
    await desk.rate(number, OWNER, "不满意", "还没拿到证")
    clock.advance(days=10)
    await desk.run_due()  # follow-up warnings and overdue
    await desk.resolve(number, COMMISSIONER_B, "再次办结")
    clock.advance(days=20)
    await desk.run_due()  # rating reminder, then closed unrated
    async with desk.sessions() as s:
        rows = (await s.exec(select(Notification))).all()
    kinds = {(n.kind, n.audience) for n in rows}
    assert len(kinds) >= 20, sorted(kinds)
    for n in rows:
        for channel in ("telegram", "plain"):
            said = notices.render(n.kind, n.audience, n.payload, desk.fmt, channel)
            assert n.payload["number"] in said or n.kind == "created", (n.kind, said)
            assert "{" not in said and "None" not in said, (n.kind, said)
            if channel == "plain":
                assert "回复本消息" not in said


async def test_the_same_request_twice_makes_one_ticket_and_tells_nobody_twice(staffed: Desk) -> None:
    """A bot worker killed after the ticket was committed but before its update was marked done handles the
    confirmation again (alone, or on two workers at once): one ticket, one set of notices."""
    from sqlmodel import func, select

    from desk.models import Notification, Ticket

    request = TicketCreate(title="消防验收排不上号", department="住建局", reason="超时", requester_tg_id=OWNER,
                           request_key="tg-intake:5001:77")
    first = await staffed.create_ticket(request)
    again, concurrent = await asyncio.gather(staffed.create_ticket(request), staffed.create_ticket(request))
    assert first.id == again.id == concurrent.id and first.number == again.number
    other = await staffed.create_ticket(request.model_copy(update={"request_key": "tg-intake:5001:80"}))
    assert other.id != first.id
    async with staffed.sessions() as s:
        assert (await s.exec(select(func.count()).select_from(Ticket))).one() == 2
        notices = (await s.exec(select(func.count()).select_from(Notification)
                                .where(Notification.ticket_id == first.id))).one()
        assert notices == (await s.exec(select(func.count()).select_from(Notification)
                                        .where(Notification.ticket_id == other.id))).one()
