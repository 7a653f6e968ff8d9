"""Registration conversation, outbox retries (never lost, never twice), deadlines posted to staff."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from core.clock import FakeClock
from desk.models import Notification
from handlers import texts
from tests.auxil.botapi_server import BotApiServer
from tests.e2e.conftest import (
    COMMISSIONER_ID,
    LEADER_ID,
    STAFF_GROUP,
    RunningBot,
    add_default_staff,
    bot_settings,
    run_bot,
)
from tests.e2e.test_desk_flow import escalate_via_intake

VALID_CODE = "91440300MA5F123452"


async def test_registration_with_bad_input_and_cancel(bot: RunningBot) -> None:
    owner = bot.user(801, "孙老板")
    owner.send("/register")
    await owner.expect("第 1 步")
    owner.send_sticker()
    assert (await owner.expect(texts.NOT_TEXT_IN_STEP)).text == texts.NOT_TEXT_IN_STEP
    owner.send("示范市好味餐饮有限公司")
    await owner.expect("第 2 步")
    owner.send("91440300MA5F123451")  # wrong check character
    bad = await owner.expect("统一社会信用代码不正确")
    assert "校验位" in bad.text
    owner.send(VALID_CODE)
    await owner.expect("第 3 步")
    owner.send("餐饮")
    await owner.expect("第 4 步")
    owner.send("孙小明 13800001111")
    done = await owner.expect("登记完成")
    assert VALID_CODE in done.text
    enterprise = await bot.services.desk.get_enterprise_by_tg(801)
    assert enterprise is not None and enterprise.name == "示范市好味餐饮有限公司"
    assert (enterprise.contact_name, enterprise.contact_phone) == ("孙小明", "13800001111")

    # With a commissioner assigned, /start names them.
    from desk.models import EnterpriseCreate

    await bot.services.desk.register_enterprise(EnterpriseCreate(
        name=enterprise.name, credit_code=VALID_CODE, tg_user_id=801, commissioner_tg_id=COMMISSIONER_ID))
    owner.send("/start")
    greeting = await owner.expect("政企直通车")
    assert "示范市好味餐饮有限公司" in greeting.text and "李专员" in greeting.text

    # The 发送手机号 button: Telegram sends the account's contact card, and the keyboard goes away.
    sharer = bot.user(803, "钱老板")
    sharer.send("/register")
    await sharer.expect("第 1 步")
    sharer.send("示范市钱记五金有限公司")
    await sharer.expect("第 2 步")
    sharer.send("91440300MA5F123478")
    await sharer.expect("第 3 步")
    sharer.send("五金零售")
    ask_contact = await sharer.expect("第 4 步")
    assert ask_contact.client_keyboard is not None
    button = ask_contact.client_keyboard["keyboard"][0][0]
    assert button["request_contact"] is True and button["text"] == texts.BTN_SHARE_CONTACT
    sharer.share_contact("+86 139 0000 2222", "大宝", last_name="钱")
    shared_done = await sharer.expect("登记完成")
    assert shared_done.client_keyboard == {"remove_keyboard": True}
    shared = await bot.services.desk.get_enterprise_by_tg(803)
    assert shared is not None and (shared.contact_name, shared.contact_phone) == ("钱大宝", "+86 139 0000 2222")

    # /cancel leaves the conversation; nothing is registered; plain text is a question again.
    other = bot.user(802)
    other.send("/register")
    await other.expect("第 1 步")
    other.send("/cancel")
    assert (await other.expect(texts.CANCELLED)).text == texts.CANCELLED
    other.send("开饭店要办什么证")
    await other.expect("食品经营许可")
    assert await bot.services.desk.get_enterprise_by_tg(802) is None
    other.send("/cancel")
    assert (await other.expect(texts.NOTHING_TO_CANCEL)).text == texts.NOTHING_TO_CANCEL


async def test_failed_delivery_is_retried_and_sent_once(bot: RunningBot) -> None:
    api = bot.api
    owner = bot.user(803)
    owner.send("我的环评拖了三个月没人管")
    answer = await owner.expect(lambda e: bool(e.buttons()))
    owner.press(answer, texts.BTN_ESCALATE)
    owner.press(await owner.expect("第 1 步"), texts.BTN_USE_QUESTION)
    owner.press(await owner.expect("第 2 步"), "其他")
    await owner.expect("第 3 步")
    owner.send("说不清楚")
    summary = await owner.expect("请确认提交")
    # Telegram is down for this chat for the next two attempts: the ticket exists regardless.
    api.fail_sends[owner.user_id] = 2
    owner.press(summary, "确认提交")
    confirmation = await owner.expect("工单号", timeout=15)
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    assert api.failed_sends == 2
    for _ in range(50):  # the row is marked sent right after Telegram accepted it
        async with bot.services.sessions() as session:
            rows = (await session.exec(select(Notification).where(Notification.kind == "created"))).all()
        if rows and rows[0].sent_at is not None:
            break
        await asyncio.sleep(0.1)
    assert len(rows) == 1 and rows[0].sent_at is not None and rows[0].attempts == 3
    assert "Bad Gateway" in rows[0].last_error
    # Exactly once, even though the outbox kept running.
    await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text)
    assert sum(1 for e in api.events if e.chat_id == owner.user_id and "工单号" in e.text) == 1


async def test_deadline_escalation_reaches_topic_and_leader(api: BotApiServer, tmp_path: Path,
                                                             knowledge: Any) -> None:
    # Monday 2026-11-23 10:00 in Shanghai; the scheduler ticks every 0.3 s on a clock the test moves.
    clock = FakeClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    settings = bot_settings(api, tmp_path / "var")
    settings.desk.scheduler_interval_s = 0.3
    async with run_bot(api, settings, knowledge, clock=clock) as bot:
        await add_default_staff(bot)
        owner = bot.user(804)
        confirmation = await escalate_via_intake(bot, owner, "营业执照地址变更一直办不下来")
        number = confirmation.text.split("工单号 ")[1].split("。")[0]
        card = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text and bool(e.buttons()))
        clock.advance(timedelta(days=2))  # past the 4 working-hour acceptance deadline
        overdue = await api.wait_for(lambda e: e.thread_id == card.thread_id and "督办" in e.text, timeout=15)
        assert "接收超期" in overdue.text
        await api.wait_for(lambda e: e.chat_id == LEADER_ID and number in e.text and "督办" in e.text)
        commissioner = bot.user(COMMISSIONER_ID)
        commissioner.send("/overdue", chat_id=STAFF_GROUP)
        listing = await commissioner.expect("超期工单", chat_id=STAFF_GROUP)
        assert number in listing.text
        ticket = await bot.services.desk.get_ticket(number)
        assert ticket.state == "escalated" and ticket.accept_overdue


async def test_abandoned_intake_expires_and_text_is_a_question_again(bot: RunningBot) -> None:
    owner = bot.user(805)
    owner.send("/desk")
    await owner.expect("第 1 步")
    # The owner walks away for two hours (the start time is in the persisted conversation scratch).
    bot.app.user_data[805]["intake"]["started"] -= 7200
    owner.send("开饭店要办什么证")
    assert (await owner.expect("超时作废")).text == texts.ESC_EXPIRED
    card = await owner.expect("食品经营许可")
    assert card.buttons()
    owner.send("营业执照地址变更要带什么材料")  # the intake is over: answered normally
    await owner.expect("企业变更登记")
    assert await bot.services.desk.list_enterprise_tickets(805) == []
