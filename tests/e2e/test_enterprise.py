"""Enterprise owners in private chat: answers, buttons, bad input, flood control."""

from __future__ import annotations

import asyncio

from handlers import texts
from tests.e2e.conftest import RunningBot, settle


async def test_start_shows_guide(bot: RunningBot) -> None:
    owner = bot.user(501, "陈老板")
    owner.send("/start")
    greeting = await owner.expect("政企直通车")
    assert "陈老板" in greeting.text and "/mytickets" in greeting.text
    assert any(c["scope"] and c["scope"]["type"] == "all_private_chats" for c in bot.api.commands)


async def test_ask_returns_service_card_with_buttons(bot: RunningBot) -> None:
    owner = bot.user(502)
    owner.send("开饭店要办什么证？找哪个部门？")
    card = await owner.expect("食品经营许可")
    assert card.parse_mode == "HTML"
    assert "示范市市场监督管理局" in card.text
    assert "材料" in card.text and "services.xlsx" in card.text  # cited source
    labels = [label for label, _ in card.buttons()]
    assert any("有用" in b for b in labels) and any("没用" in b for b in labels)
    assert texts.BTN_ESCALATE in labels and texts.BTN_MATERIALS in labels

    # 有用 is recorded for analytics and acknowledged.
    callback = owner.press(card, "有用")
    answer = await bot.api.wait_callback_answer(callback)
    assert answer.text == texts.FEEDBACK_THANKS_UP
    stats = await bot.services.analytics.stats()
    assert stats.asked == 1 and stats.up == 1 and stats.down == 0

    # 查看材料清单 lists the materials one per line.
    owner.press(card, texts.BTN_MATERIALS)
    materials = await owner.expect("所需材料")
    assert "1. 食品经营许可申请书" in materials.text


async def test_complaint_is_routed_to_desk(bot: RunningBot) -> None:
    owner = bot.user(503)
    owner.send("我的环评拖了三个月没人管")
    reply = await owner.expect(texts.ANSWER_ROUTE[:10])
    assert "生态环境局" in reply.text
    assert texts.BTN_ESCALATE in [label for label, _ in reply.buttons()]
    stats = await bot.services.analytics.stats()
    assert stats.routed == 1 and stats.unanswered[0][0] == "我的环评拖了三个月没人管"


async def test_long_answer_is_split_within_limits(bot: RunningBot) -> None:
    from handlers import render

    long_text = "\n".join(f"第{i}行：<材料> & 说明" * 5 for i in range(400))
    chunks = render.plain_messages(long_text)
    assert len(chunks) > 1 and all(len(c) <= 4096 for c in chunks)
    # The server rejects anything Telegram would reject (length, broken HTML): all chunks go through.
    for chunk in chunks:
        await bot.app.bot.send_message(999, chunk, parse_mode="HTML")
    sent = [e for e in bot.api.events if e.chat_id == 999]
    assert "".join(e.text for e in sent).count("<材料> & 说明") == 2000


async def test_stickers_photos_voice_get_a_clear_reply(bot: RunningBot) -> None:
    owner = bot.user(504)
    for send in (owner.send_sticker, owner.send_photo, owner.send_voice):
        send()
        reply = await owner.expect(texts.NOT_TEXT[:8])
        assert reply.text == texts.NOT_TEXT
    stats = await bot.services.analytics.stats()
    assert stats.asked == 0 and stats.unanswered == []  # media are not logged as questions


async def test_flood_is_throttled_politely_and_others_unaffected(bot: RunningBot) -> None:
    flooder = bot.user(505)
    calm = bot.user(506)
    limit = bot.settings.telegram.flood_messages
    for i in range(limit + 7):
        flooder.send(f"营业执照怎么办理 {i}")
    calm.send("营业执照地址变更要带什么材料")
    calm_reply = await calm.expect("企业变更登记", timeout=15)
    # The calm owner got the answer itself, not a flood note meant for someone else.
    assert calm_reply.chat_id == calm.user_id and "过于频繁" not in calm_reply.text
    await flooder.expect("过于频繁", timeout=20)
    await owner_replies_settle(bot, flooder.user_id)
    replies = [e for e in bot.api.events if e.chat_id == flooder.user_id]
    floods = [e for e in replies if "过于频繁" in e.text]
    answers = [e for e in replies if "过于频繁" not in e.text]
    assert len(floods) == 1, "the polite note is sent once per window, not per dropped message"
    assert len(answers) == limit
    assert (await bot.services.analytics.stats()).asked == limit + 1


async def owner_replies_settle(bot: RunningBot, chat_id: int, quiet: float = 0.8, timeout: float = 20) -> None:  # noqa: ASYNC109
    """Wait until the bot has stopped sending to ``chat_id`` for ``quiet`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = -1
    while loop.time() < deadline:
        count = sum(1 for e in bot.api.events if e.chat_id == chat_id)
        if count == last and count > 0:
            return
        last = count
        await settle(quiet)
    raise TimeoutError("bot kept sending")


async def test_tampered_callback_changes_nothing(bot: RunningBot) -> None:
    owner = bot.user(507)
    other = bot.user(508)
    owner.send("开饭店要办什么证")
    card = await owner.expect("食品经营许可")
    question_id = int(card.buttons()[0][1].split(":")[-1])

    # Garbage, an unknown prefix, an over-long id, and someone else's question id.
    for data in ("fb:x:1", "rm -rf", "fb:u:" + "9" * 30, "tk:delete:1", "rate:1:z"):
        cb = owner.press_data(card, data)
        assert (await bot.api.wait_callback_answer(cb)).text == texts.BAD_CALLBACK
    cb = other.press_data(card, f"fb:d:{question_id}")
    assert (await bot.api.wait_callback_answer(cb)).text == texts.FEEDBACK_NOT_YOURS
    stats = await bot.services.analytics.stats()
    assert stats.up == 0 and stats.down == 0


async def test_unexpected_error_gets_polite_reply_with_error_id(bot: RunningBot, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging
    import re

    async def broken(question: str) -> None:
        raise RuntimeError("retrieval backend exploded")

    bot.services.ask = broken  # an injected failure: the real error path runs from here on
    caplog.set_level(logging.ERROR)
    owner = bot.user(509)
    owner.send("开饭店要办什么证")
    reply = await owner.expect("错误编号")
    error_id = re.search(r"错误编号 ([0-9a-f]{8})", reply.text)
    assert error_id is not None and "exploded" not in reply.text
    assert any(error_id.group(1) in r.getMessage() and r.exc_info for r in caplog.records)


async def test_long_rambling_complaint_is_answered_and_routed(bot: RunningBot) -> None:
    owner = bot.user(531)
    story = "我们公司去年在新城区租了厂房，前前后后准备了很多材料。" * 100 + "环评报告交上去三个月了一直拖着没人管，实在办不成。"
    assert 2000 < len(story) <= 4096  # what one Telegram message can carry
    owner.send(story)
    reply = await owner.expect(texts.ANSWER_ROUTE[:10])
    assert texts.BTN_ESCALATE in [label for label, _ in reply.buttons()]
    stats = await bot.services.analytics.stats()
    assert stats.asked == 1 and stats.routed == 1


async def test_an_edited_message_is_not_a_new_message(bot: RunningBot) -> None:
    owner = bot.user(508)
    owner.send("开饭店要办什么证？")
    await owner.expect("食品经营许可")
    owner.edit(owner.last_message_id(), "开饭店要办什么证？找哪个部门？")
    assert (await owner.expect(texts.EDIT_IGNORED[:8])).text == texts.EDIT_IGNORED
    # An edit in the middle of an intake does not count as the step's answer.
    owner.send("/desk")
    await owner.expect("第 1 步")
    owner.send("食品经营许可证办了两个月还没批下来")
    await owner.expect("第 2 步")
    owner.edit(owner.last_message_id(), "食品经营许可证办了三个月还没批下来")
    await owner.expect(texts.EDIT_IGNORED[:8])
    await settle()
    assert not [e for e in bot.api.events if e.chat_id == owner.user_id and "第 3 步" in e.text]
    assert (await bot.services.analytics.stats()).asked == 1

    # In a group (staff talking in a topic) an edit is ignored without a word.
    staff = bot.user(7001)
    staff.send("这个我来跟", chat_id=-1001234567890, thread_id=77)
    before = len(bot.api.events)
    staff.edit(staff.last_message_id(-1001234567890), "这个我来跟进", chat_id=-1001234567890)
    await settle()
    assert len(bot.api.events) == before


async def test_unknown_command_lists_the_real_ones(bot: RunningBot) -> None:
    owner = bot.user(509)
    owner.send("/shenqing 营业执照")
    reply = await owner.expect("没有这个命令")
    assert "/mytickets" in reply.text and "/desk" in reply.text
    owner.send(f"/start@{bot.api.bot_user()['username']}")  # addressed to the bot by name: still works
    await owner.expect("政企直通车")
    assert (await bot.services.analytics.stats()).asked == 0


async def test_an_album_gets_one_reply_and_is_not_a_flood(bot: RunningBot) -> None:
    owner = bot.user(510)
    for i in range(10):  # Telegram's largest album: ten updates at once, more than flood_messages
        photo = [{"file_id": f"alb-{i}", "file_unique_id": f"ualb{i}", "width": 640, "height": 480}]
        owner.send_extra({"photo": photo, "media_group_id": "grp-510"})
    await owner.expect(texts.NOT_TEXT[:8])
    owner.send("开饭店要办什么证？")
    await owner.expect("食品经营许可")
    mine = [e.text for e in bot.api.events if e.chat_id == owner.user_id]
    assert mine.count(texts.NOT_TEXT) == 1
    assert not [t for t in mine if t.startswith(texts.FLOOD[:8])]


async def test_chatter_is_declined_without_desk_offer(bot: RunningBot) -> None:
    owner = bot.user(541)
    owner.send("今天天气怎么样")
    reply = await owner.expect("找谁办")
    assert "例如" in reply.text  # says what it can do instead
    assert reply.buttons() == []  # no 转人工, no rating: not a government matter
    assert texts.BTN_ESCALATE not in reply.text and "来源" not in reply.text


async def test_uncovered_matter_says_no_department_was_found(bot: RunningBot) -> None:
    from handlers import render
    from knowledge.answer import Answer

    routed = Answer("外星人入境登记在哪办", "……", True, reason="服务联络簿和政策文件中没有找到负责这件事的部门", intent="desk")
    text = "\n".join(render.answer_messages(routed))
    assert texts.ANSWER_ROUTE_UNCOVERED[:12] in text and "原因" not in text
    complaint = Answer("环评拖了三个月", "……", True, reason="事项被拖延", intent="desk")
    text = "\n".join(render.answer_messages(complaint))
    assert texts.ANSWER_ROUTE[:10] in text and "事项被拖延" in text


def test_kb_summary_speaks_chinese_in_the_desk_time_zone() -> None:
    from handlers import render

    stats = {"records": 209, "per_kind": {"service": 66, "department": 95, "policy": 48}, "files": 10,
             "departments": 28, "not_current": 4, "last_ingest": "2026-12-02T03:04:05.123456+00:00",
             "vectors": 213, "embedder": "use-multilingual-v3"}
    text = render.kb_summary(stats, tz="Asia/Shanghai")
    assert "policy" not in text and "service" not in text  # no English labels
    assert "政策片段：48 段（另有 4 段已失效" in text and "服务事项：66 项" in text
    assert text.count("部门：") == 1 and "部门及科室记录 95 条" in text
    assert "最近入库：2026-12-02 11:04" in text  # desk time, to the minute
