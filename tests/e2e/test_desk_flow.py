"""The 办不成事 loop through Telegram: ask → 转人工 intake → ticket topic → relay both ways → 办结 → rating."""

from __future__ import annotations

from handlers import texts
from tests.auxil.botapi_server import BotEvent, FakeUser
from tests.e2e.conftest import (
    COMMISSIONER_ID,
    LEADER_ID,
    OUTSIDER_COMMISSIONER_ID,
    STAFF_GROUP,
    RunningBot,
    bot_settings,
    run_bot,
)


async def escalate_via_intake(bot: RunningBot, owner: FakeUser, question: str) -> BotEvent:
    """Ask, press 转人工, answer the intake, confirm; returns the owner's confirmation message."""
    owner.send(question)
    answer = await owner.expect(lambda e: bool(e.buttons()))
    owner.press(answer, texts.BTN_ESCALATE)
    prompt = await owner.expect("第 1 步")
    assert question in prompt.text
    owner.press(prompt, texts.BTN_USE_QUESTION)
    reasons = await owner.expect("第 2 步")
    owner.press(reasons, "超时")
    await owner.expect("第 3 步")
    owner.send("去了三次窗口，每次都说还在审，没有书面答复。")
    summary = await owner.expect("请确认提交")
    assert "超时" in summary.text and "去了三次窗口" in summary.text
    owner.press(summary, "确认提交")
    return await owner.expect("工单号")


async def claimed_ticket(bot: RunningBot, owner: FakeUser, commissioner: FakeUser) -> tuple[str, BotEvent]:
    """An intake filed by ``owner`` and claimed by ``commissioner``: (ticket number, its staff card)."""
    confirmation = await escalate_via_intake(bot, owner, "我的环评拖了三个月没人管")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    card = await bot.api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text and bool(e.buttons()))
    commissioner.press(card, "认领")
    await owner.expect("受理")
    return number, card


async def test_full_loop_from_question_to_rating(bot: RunningBot) -> None:
    api = bot.api
    owner = bot.user(601, "周老板")
    commissioner = bot.user(COMMISSIONER_ID, "李专员")

    confirmation = await escalate_via_intake(bot, owner, "我的环评拖了三个月没人管")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    assert number.startswith("BC-")

    # A forum topic opened in the staff group with the card and the action buttons.
    card = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text and bool(e.buttons()))
    topic = api.topics[-1]
    assert topic.chat_id == STAFF_GROUP and number in topic.name and card.thread_id == topic.thread_id
    assert "示范市生态环境局" in card.text and "卡点：超时" in card.text
    assert "我的环评拖了三个月没人管" in card.text  # the transcript travels with the ticket
    assert [label for label, _ in card.buttons()] == ["认领", "转派", "需企业补充", "办结", "升级"]

    # Someone outside the department cannot claim it; the commissioner can.
    outsider = bot.user(OUTSIDER_COMMISSIONER_ID, "赵专员")
    cb = outsider.press(card, "认领")
    refusal = await api.wait_callback_answer(cb)
    assert refusal.show_alert and "无权" in refusal.text
    cb = commissioner.press(card, "认领")
    assert "已处理：认领" in (await api.wait_callback_answer(cb)).text
    claimed = await owner.expect("已由服务专员李专员受理")
    assert number in claimed.text
    # The card itself now says who has it; 认领 is gone, the other actions stay.
    def card_edit(e: BotEvent) -> bool:
        return e.method == "editMessageText" and e.message_id == card.message_id

    claimed_card = await api.wait_for(lambda e: card_edit(e) and "已受理" in e.text)
    assert "承办：李专员" in claimed_card.text and claimed_card.thread_id == topic.thread_id
    assert [label for label, _ in claimed_card.buttons()] == ["转派", "需企业补充", "办结", "升级"]

    # What the commissioner writes in the topic reaches the owner, and back.
    commissioner.send("您好，请提供环评受理回执的照片或编号。", chat_id=STAFF_GROUP, thread_id=topic.thread_id)
    relayed = await owner.expect("环评受理回执")
    assert "李专员" in relayed.text
    owner.send("回执编号是 HP-2026-0088。")
    await owner.expect(texts.RELAYED_TO_STAFF.format(number=number))
    back = await api.wait_for(lambda e: e.thread_id == topic.thread_id and "HP-2026-0088" in e.text)
    assert back.chat_id == STAFF_GROUP
    # 办结: the next message in the topic is the resolution note; the owner is asked to rate.
    commissioner.press(card, "办结")
    await commissioner.expect("办结说明", chat_id=STAFF_GROUP, thread_id=topic.thread_id)
    commissioner.send("已协调生态环境局，环评批复已于今日出具。", chat_id=STAFF_GROUP, thread_id=topic.thread_id)
    rate_request = await owner.expect(lambda e: "请评价" in e.text and bool(e.buttons()))
    assert [label for label, _ in rate_request.buttons()] == ["满意", "基本满意", "不满意"]

    # Someone else's rating is refused; the owner's closes the ticket.
    stranger = bot.user(699)
    cb = stranger.press(rate_request, "满意")
    assert "不是您提交的" in (await api.wait_callback_answer(cb)).text
    cb = owner.press(rate_request, "满意")
    assert (await api.wait_callback_answer(cb)).text == texts.RATE_THANKS.format(score="满意")
    await owner.expect("已销号")
    ticket = await bot.services.desk.get_ticket(number)
    assert ticket.state == "closed"
    ratings = await bot.services.desk.ratings(number)
    assert [r.score for r in ratings] == ["满意"]  # recorded at once, before any comment
    await api.wait_for(lambda e: e.thread_id == topic.thread_id and "获评" in e.text)
    closed_card = await api.wait_for(lambda e: card_edit(e) and "已销号" in e.text)
    assert closed_card.buttons() == []  # nothing left to press on a closed ticket

    # The rating invites an optional comment; the owner's next text is attached to it.
    prompt = texts.RATE_COMMENT_PROMPT.format(minutes=30)
    await api.wait_for(lambda e: e.chat_id == owner.user_id and e.text == prompt)
    owner.send("专员很负责，办得快。")
    await owner.expect(texts.RATE_COMMENT_SAVED.format(number=number))
    assert [r.comment for r in await bot.services.desk.ratings(number)] == ["专员很负责，办得快。"]

    # A button on the closed ticket changes nothing.
    cb = commissioner.press(card, "办结")
    assert "已销号" in (await api.wait_callback_answer(cb)).text
    cb = owner.press_data(rate_request, f"rate:{ticket.id}:u")
    assert (await api.wait_callback_answer(cb)).show_alert
    assert (await bot.services.desk.get_ticket(number)).state == "closed"

    # /mytickets lists it with its state.
    owner.send("/mytickets")
    listing = await owner.expect("您的工单")
    assert number in listing.text and "已销号" in listing.text


async def test_materials_travel_both_ways(bot: RunningBot) -> None:
    """Photos, files and albums an owner sends with an open ticket reach its topic; staff files reach the owner."""
    api = bot.api
    owner = bot.user(602, "吴老板")
    commissioner = bot.user(COMMISSIONER_ID, "李专员")
    confirmation = await escalate_via_intake(bot, owner, "我的环评拖了三个月没人管")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    card = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text and bool(e.buttons()))
    topic = api.topics[-1]
    commissioner.press(card, "认领")
    await owner.expect("受理")

    # A photo with a caption, and a file, reach the topic and are noted on the ticket.
    photo = [{"file_id": "photo-9", "file_unique_id": "up9", "width": 800, "height": 600, "file_size": 90_000}]
    owner.send_extra({"photo": photo, "caption": "受理回执照片"})
    await owner.expect(texts.RELAYED_ATTACHMENT.format(kind="图片", number=number))
    copied = await api.wait_for(lambda e: e.method == "copyMessage" and e.thread_id == topic.thread_id)
    assert api.messages[(STAFF_GROUP, copied.message_id)]["photo"][0]["file_id"] == "photo-9"
    await api.wait_for(lambda e: e.thread_id == topic.thread_id and "〔图片〕受理回执照片" in e.text)
    owner.send_document("环评批复申请表.pdf", b"%PDF-1.4 materials", mime_type="application/pdf")
    await owner.expect(texts.RELAYED_ATTACHMENT.format(kind="文件「环评批复申请表.pdf」", number=number))
    copied_file = await api.wait_for(lambda e: e.method == "copyMessage" and e.document is not None
                                     and e.document["file_name"] == "环评批复申请表.pdf")
    assert copied_file.thread_id == topic.thread_id
    # An album (three photos, one media_group_id) is relayed whole and confirmed once.
    for i in range(3):
        album_photo = [{"file_id": f"album-{i}", "file_unique_id": f"ua{i}", "width": 800, "height": 600}]
        owner.send_extra({"photo": album_photo, "media_group_id": "album-77"})
    for i in range(3):
        await api.wait_for(lambda e, i=i: e.method == "copyMessage" and e.thread_id == topic.thread_id
                           and api.messages[(STAFF_GROUP, e.message_id)].get("photo", [{}])[0].get("file_id")
                           == f"album-{i}")
    confirmations = [e for e in api.events if e.chat_id == owner.user_id and e.seq > copied_file.seq
                     and e.text == texts.RELAYED_ATTACHMENT.format(kind="图片", number=number)]
    assert len(confirmations) == 1
    owner.send_sticker()  # not relayable: the owner is told what can be
    assert (await owner.expect(texts.RELAY_NOT_TEXT)).text == texts.RELAY_NOT_TEXT
    # …and the commissioner's file reaches the owner, attributed.
    form = api.add_file("补正材料清单.docx", b"PK\x03\x04 form")
    form.update({"file_name": "补正材料清单.docx", "mime_type": "application/msword"})
    commissioner.send_extra({"document": form, "caption": "请按清单补正"}, chat_id=STAFF_GROUP,
                            thread_id=topic.thread_id)
    to_owner = await api.wait_for(lambda e: e.method == "copyMessage" and e.chat_id == owner.user_id)
    assert to_owner.document is not None and to_owner.document["file_name"] == "补正材料清单.docx"
    assert "李专员" in (await owner.expect("〔文件「补正材料清单.docx」〕请按清单补正")).text
    messages = [m.text for m in await bot.services.desk.messages(number)]
    assert "〔图片〕受理回执照片" in messages and "〔文件「补正材料清单.docx」〕请按清单补正" in messages

    # An API server that cannot copy messages: the owner is told, the ticket still records it.
    api.disabled_methods.add("copymessage")
    owner.send_extra({"photo": [{"file_id": "photo-x", "file_unique_id": "upx", "width": 80, "height": 60}]})
    kept = await owner.expect("暂时没能转给专员")
    assert kept.text == texts.ATTACHMENT_KEPT.format(kind="图片", number=number)
    note = await api.wait_for(lambda e: e.thread_id == topic.thread_id and texts.ATTACHMENT_NOT_COPIED in e.text)
    assert "〔图片〕" in note.text


async def resolve_and_rate(bot: RunningBot, owner: FakeUser, card: BotEvent, score: str) -> None:
    """The commissioner resolves the ticket; the owner presses ``score`` and gets the comment invitation."""
    commissioner = bot.user(COMMISSIONER_ID, "李专员")
    commissioner.press(card, "办结")
    await commissioner.expect("办结说明", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    commissioner.send("已答复办理进度。", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    rate_request = await owner.expect(lambda e: "请评价" in e.text and bool(e.buttons()))
    cb = owner.press(rate_request, score)
    assert (await bot.api.wait_callback_answer(cb)).text == texts.RATE_THANKS.format(score=score)
    prompt = texts.RATE_COMMENT_PROMPT_UNHAPPY if score == "不满意" else texts.RATE_COMMENT_PROMPT
    await bot.api.wait_for(lambda e: e.chat_id == owner.user_id and e.text == prompt.format(minutes=30))
    owner.skip_all()


async def test_rating_comment_unhappy_reaches_commissioner_once(bot: RunningBot) -> None:
    api = bot.api
    owner = bot.user(603, "钱老板")
    commissioner = bot.user(COMMISSIONER_ID, "李专员")
    owner.send("/skip")  # nothing pending
    await owner.expect(texts.NOTHING_TO_SKIP)
    confirmation = await escalate_via_intake(bot, owner, "食品经营许可证三周没发下来")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    card = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text and bool(e.buttons()))
    cb = commissioner.press(card, "认领")
    assert "已处理" in (await api.wait_callback_answer(cb)).text

    # 不满意: the ticket reopens; the comment is stored and reaches the topic once, not relayed again.
    await resolve_and_rate(bot, owner, card, "不满意")
    assert [r.score for r in await bot.services.desk.ratings(number)] == ["不满意"]
    # The reopened ticket is still its commissioner's: its card offers no 认领 to anyone else.
    reopened = await api.wait_for(
        lambda e: e.method == "editMessageText" and e.message_id == card.message_id and "重新办理" in e.text
    )
    assert "认领" not in [label for label, _ in reopened.buttons()] and reopened.buttons()
    owner.send("窗口还是要求补交原件。")
    await owner.expect(texts.RATE_COMMENT_RELAYED.format(number=number))
    assert [r.comment for r in await bot.services.desk.ratings(number)] == ["窗口还是要求补交原件。"]
    # The next text is relayed to the reopened ticket as usual.
    owner.send("原件明天可以送到。")
    await owner.expect(texts.RELAYED_TO_STAFF.format(number=number))
    await api.wait_for(lambda e: e.thread_id == card.thread_id and "原件明天可以送到" in e.text)
    in_topic = [e for e in api.events if e.thread_id == card.thread_id and "补交原件" in e.text]
    assert len(in_topic) == 1 and "不满意" in in_topic[0].text

    # Any command drops the invitation: the next text is a question again, answered by the knowledge core.
    await resolve_and_rate(bot, owner, card, "基本满意")
    owner.send("/mytickets")
    await owner.expect("您的工单")
    owner.send("食品经营许可证怎么办理？")
    await owner.expect(lambda e: bool(e.buttons()))
    assert [r.comment for r in await bot.services.desk.ratings(number)] == ["窗口还是要求补交原件。", ""]


async def test_rating_comment_expires_and_skip(bot: RunningBot) -> None:
    api = bot.api
    owner = bot.user(604, "孙老板")
    commissioner = bot.user(COMMISSIONER_ID, "李专员")
    confirmation = await escalate_via_intake(bot, owner, "食品经营许可证延续一直没有结果")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    card = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text and bool(e.buttons()))
    cb = commissioner.press(card, "认领")
    assert "已处理" in (await api.wait_callback_answer(cb)).text

    # /skip: nothing is attached; the reopened ticket's relay still works.
    await resolve_and_rate(bot, owner, card, "不满意")
    owner.send("/skip")
    await owner.expect(texts.RATE_COMMENT_SKIPPED)
    owner.send("请尽快回电。")
    await owner.expect(texts.RELAYED_TO_STAFF.format(number=number))
    assert [r.comment for r in await bot.services.desk.ratings(number)] == [""]

    # An invitation older than the window is not taken: the text is handled as a question.
    from handlers.tickets import RATING_COMMENT_KEY

    await resolve_and_rate(bot, owner, card, "满意")
    bot.app.user_data[owner.user_id][RATING_COMMENT_KEY]["at"] -= 31 * 60
    owner.send("食品经营许可证延续怎么办理？")
    await owner.expect(lambda e: bool(e.buttons()))
    assert [r.comment for r in await bot.services.desk.ratings(number)] == ["", ""]


async def test_staff_commands_and_need_materials(bot: RunningBot) -> None:
    api = bot.api
    owner = bot.user(602)
    commissioner = bot.user(COMMISSIONER_ID)
    confirmation = await escalate_via_intake(bot, owner, "营业执照地址变更一直办不下来，窗口推诿")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    card = await api.wait_for(lambda e: number in e.text and bool(e.buttons()) and e.chat_id == STAFF_GROUP)

    commissioner.send("/queue", chat_id=STAFF_GROUP)
    queue = await commissioner.expect("待办工单", chat_id=STAFF_GROUP)
    assert number in queue.text
    commissioner.send("/overdue", chat_id=STAFF_GROUP)
    assert (await commissioner.expect("超期", chat_id=STAFF_GROUP)).text == texts.OVERDUE_EMPTY

    cb = commissioner.press(card, "认领")
    assert "已处理" in (await api.wait_callback_answer(cb)).text
    await owner.expect("受理")
    commissioner.press(card, "需企业补充")
    await commissioner.expect("补充的材料", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    commissioner.send("请补充新住所的租赁合同。", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    need = await owner.expect("需要您补充")
    assert "租赁合同" in need.text
    assert (await bot.services.desk.get_ticket(number)).state == "waiting_enterprise"
    owner.send("租赁合同已上传到政务网。")
    await owner.expect("已转给")
    assert (await bot.services.desk.get_ticket(number)).state == "in_progress"

    # 升级 by the commissioner: the leader hears about it privately and in the topic.
    commissioner.press(card, "升级")
    await commissioner.expect("升级原因", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    commissioner.send("涉及两个部门，需领导协调。", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    await api.wait_for(lambda e: e.chat_id == LEADER_ID and "督办" in e.text)
    await api.wait_for(lambda e: e.thread_id == card.thread_id and "督办" in e.text)
    assert (await bot.services.desk.get_ticket(number)).state == "escalated"

    # 转派: a commissioner is told at once that only leaders hand tickets on (no picker that is then refused).
    cb = commissioner.press(card, "转派")
    assert "只有领导可以交办" in (await api.wait_callback_answer(cb)).text
    # The leader's picker lists only people who may act on this ticket: nobody else covers its department
    # yet; once 示范市公安局 co-handles it, its commissioner 赵专员 is offered (and nobody unrelated).
    leader = bot.user(LEADER_ID, "王局长")
    leader.press(card, "转派")
    await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and "没有负责该部门的其他专员" in e.text)
    await bot.services.desk.add_department(number, LEADER_ID, "示范市公安局")
    leader.press(card, "转派")
    picker = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and "转派给" in e.text)
    assert [label for label, _ in picker.buttons()] == ["赵专员"]
    cb = leader.press(picker, "赵专员")
    assert "已处理：转派" in (await api.wait_callback_answer(cb)).text
    ticket = await bot.services.desk.get_ticket(number)
    assert ticket.assignee_name == "赵专员" and ticket.state == "assigned"

    # A pending note can be cancelled: the next message is relayed, not taken as the resolution.
    outsider = bot.user(OUTSIDER_COMMISSIONER_ID, "赵专员")
    outsider.press(card, "办结")
    await outsider.expect("办结说明", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    outsider.send("/cancel", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    await outsider.expect(texts.CANCELLED, chat_id=STAFF_GROUP, thread_id=card.thread_id)
    outsider.send("您好，我是新的承办人。", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    assert "新的承办人" in (await owner.expect("新的承办人")).text
    assert (await bot.services.desk.get_ticket(number)).state == "in_progress"


async def test_unauthorised_user_is_refused(bot: RunningBot) -> None:
    intruder = bot.user(666, "路人")
    for command in ("/queue", "/overdue"):
        intruder.send(command)
        assert (await intruder.expect(texts.STAFF_ONLY)).text == texts.STAFF_ONLY
    for command in ("/reindex", "/kb", "/stats"):
        intruder.send(command)
        assert (await intruder.expect(texts.ADMIN_ONLY)).text == texts.ADMIN_ONLY
    intruder.send_document("政策.docx", b"PK\x03\x04 not really", mime_type="application/msword")
    assert (await intruder.expect(texts.UPLOAD_NOT_ADMIN)).text == texts.UPLOAD_NOT_ADMIN
    assert not (bot.settings.data_dir / "uploads" / "政策.docx").exists()

    # In the staff group: a non-staff member writing in a ticket topic or pressing a button.
    owner = bot.user(603)
    confirmation = await escalate_via_intake(bot, owner, "开饭店的食品经营许可一直拿不到")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    card = await bot.api.wait_for(lambda e: number in e.text and bool(e.buttons()) and e.chat_id == STAFF_GROUP)
    cb = intruder.press(card, "认领")
    assert (await bot.api.wait_callback_answer(cb)).text == texts.STAFF_ONLY
    intruder.send("我来处理", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    assert (await intruder.expect(texts.STAFF_ONLY, chat_id=STAFF_GROUP)).thread_id == card.thread_id
    ticket = await bot.services.desk.get_ticket(number)
    assert ticket.state == "new" and ticket.assignee_name != "路人"
    assert [m.text for m in await bot.services.desk.messages(number) if "我来处理" in m.text] == []


async def test_reply_thread_fallback_without_topics(api, tmp_path, knowledge) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import add_default_staff

    api.supergroup(STAFF_GROUP, is_forum=False)
    settings = bot_settings(api, tmp_path / "var", use_topics=False, show_staff_names=False)
    async with run_bot(api, settings, knowledge) as bot:
        await add_default_staff(bot)
        owner = bot.user(604)
        commissioner = bot.user(COMMISSIONER_ID)
        confirmation = await escalate_via_intake(bot, owner, "我的环评拖了三个月没人管")
        number = confirmation.text.split("工单号 ")[1].split("。")[0]
        card = await api.wait_for(lambda e: number in e.text and bool(e.buttons()) and e.chat_id == STAFF_GROUP)
        assert api.topics == [] and card.thread_id is None
        commissioner.press(card, "认领")
        await owner.expect("受理")
        edited = await api.wait_for(lambda e: e.method == "editMessageText" and e.message_id == card.message_id)
        assert "已受理" in edited.text and "认领" not in [label for label, _ in edited.buttons()]
        # Staff reply to the card (or to any bot message naming the ticket).
        commissioner.send("请问具体是哪个项目？", chat_id=STAFF_GROUP, reply_to=card.message_id)
        relayed = await owner.expect("哪个项目")
        assert "服务专员" in relayed.text and "李专员" not in relayed.text  # names hidden per config
        owner.send("是新厂房项目。")
        back = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and "新厂房" in e.text)
        commissioner.send("收到，正在协调。", chat_id=STAFF_GROUP, reply_to=back.message_id)
        assert "正在协调" in (await owner.expect("正在协调")).text

        # Someone deleted the card: the bot cannot update it, and everything else still arrives.
        api.messages.pop((STAFF_GROUP, card.message_id))
        await bot.services.desk.escalate(number, COMMISSIONER_ID, "需要领导协调用地指标")
        await owner.expect("提请领导督办")
        assert (await bot.services.desk.get_ticket(number)).state == "escalated"
        assert not [e for e in api.events if e.method == "editMessageText" and "已升级督办" in e.text]


async def test_an_api_server_without_forum_topics_still_reaches_the_staff(api, tmp_path, knowledge) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import add_default_staff

    api.disabled_methods.add("createforumtopic")  # answered `true`, like any method a server lacks
    async with run_bot(api, bot_settings(api, tmp_path / "var"), knowledge) as bot:
        await add_default_staff(bot)
        owner = bot.user(606)
        confirmation = await escalate_via_intake(bot, owner, "我的环评拖了三个月没人管")
        number = confirmation.text.split("工单号 ")[1].split("。")[0]
        card = await api.wait_for(lambda e: number in e.text and bool(e.buttons()) and e.chat_id == STAFF_GROUP)
        assert card.thread_id is None  # a reply thread instead of a topic
        bot.user(COMMISSIONER_ID).press(card, "认领")
        await owner.expect("受理")


async def test_topics_configured_but_group_is_not_a_forum(api, tmp_path, knowledge) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import add_default_staff

    api.supergroup(STAFF_GROUP, is_forum=False)  # e.g. topics switched off in the group
    async with run_bot(api, bot_settings(api, tmp_path / "var"), knowledge) as bot:
        await add_default_staff(bot)
        owner = bot.user(605)
        confirmation = await escalate_via_intake(bot, owner, "我的环评拖了三个月没人管")
        number = confirmation.text.split("工单号 ")[1].split("。")[0]
        card = await api.wait_for(lambda e: number in e.text and bool(e.buttons()) and e.chat_id == STAFF_GROUP)
        assert api.topics == [] and card.thread_id is None
        commissioner = bot.user(COMMISSIONER_ID)
        commissioner.press(card, "认领")
        claimed = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and "已认领" in e.text)
        assert claimed.text and (await bot.services.desk.get_ticket(number)).state == "assigned"


async def test_a_new_question_with_a_ticket_open_is_answered_not_relayed(bot: RunningBot) -> None:
    api = bot.api
    owner = bot.user(641, "吴老板")
    confirmation = await escalate_via_intake(bot, owner, "我的环评拖了三个月没人管")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text and bool(e.buttons()))
    topic = api.topics[-1]

    # An obvious new question is answered, with a way to send it to the commissioner after all.
    owner.send("开饭店要办什么证？")
    await owner.expect("食品经营许可")
    answer = await owner.expect(texts.ANSWERED_NOT_RELAYED.format(number=number)[:12])  # said last, with the button
    assert [label for label, _ in answer.buttons()] == [texts.BTN_FORWARD]
    owner.press(answer, texts.BTN_FORWARD)
    await owner.expect(texts.RELAYED_TO_STAFF.format(number=number))
    await api.wait_for(lambda e: e.thread_id == topic.thread_id and "开饭店要办什么证" in e.text)

    # A reply meant for the commissioner is still relayed.
    owner.send("回执编号是 HP-2026-0099，明天把照片补上")
    await owner.expect(texts.RELAYED_TO_STAFF.format(number=number))

    # /desk shows the open ticket instead of starting a second intake.
    owner.send("/desk")
    shown = await owner.expect(f"您已有未办结的工单 {number}")
    assert "状态：" in shown.text and [label for label, _ in shown.buttons()] == [texts.BTN_NEW_MATTER]
    owner.press(shown, texts.BTN_NEW_MATTER)
    await owner.expect("第 1 步")  # another matter can still be reported


async def test_a_ticket_carries_the_turns_that_led_to_it_not_the_whole_chat(bot: RunningBot) -> None:
    owner = bot.user(611, "孙老板")
    owner.send("开饭店要办什么证")  # an earlier, unrelated matter (市场监管)
    await owner.expect(lambda e: bool(e.buttons()))
    confirmation = await escalate_via_intake(bot, owner, "我的环评拖了三个月没人管")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    ticket = await bot.services.desk.get_ticket(number)
    assert "我的环评拖了三个月没人管" in ticket.transcript
    assert "开饭店" not in ticket.transcript


async def test_a_followup_is_recorded_from_its_notice_in_the_topic(bot: RunningBot) -> None:
    api = bot.api
    owner = bot.user(612, "吴老板")
    commissioner = bot.user(COMMISSIONER_ID, "李专员")
    outsider = bot.user(OUTSIDER_COMMISSIONER_ID, "赵专员")
    confirmation = await escalate_via_intake(bot, owner, "食品经营许可证变更两周没有消息")
    number = confirmation.text.split("工单号 ")[1].split("。")[0]
    card = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text and bool(e.buttons()))
    commissioner.press(card, "认领")
    await resolve_and_rate(bot, owner, card, "不满意")
    notice = await api.wait_for(lambda e: e.thread_id == card.thread_id and "完成回访" in e.text and bool(e.buttons()))
    assert [label for label, _ in notice.buttons()] == ["记录回访"]
    # Someone who may not act on the ticket is refused; nothing is recorded.
    cb = outsider.press(notice, "记录回访")
    assert (await api.wait_callback_answer(cb)).show_alert
    commissioner.press(notice, "记录回访")
    await commissioner.expect("回访情况", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    commissioner.send("已电话回访，企业同意补交原件后再办。", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    await commissioner.expect("已处理：记录回访", chat_id=STAFF_GROUP, thread_id=card.thread_id)
    tasks = await bot.services.desk.followups(number)
    assert len(tasks) == 1 and tasks[0].done_at is not None and tasks[0].note == "已电话回访，企业同意补交原件后再办。"
    # Pressed again: there is nothing left to record.
    cb = commissioner.press(notice, "记录回访")
    assert "没有待完成的回访任务" in (await api.wait_callback_answer(cb)).text


async def test_an_internal_note_in_the_topic_never_reaches_the_enterprise(bot: RunningBot) -> None:
    """/note in a ticket topic is kept on the ticket for staff; the owner's chat at the Bot API server gets
    nothing of it, while a normal message in the same topic is relayed."""
    api = bot.api
    owner = bot.user(611, "钱老板")
    commissioner = bot.user(COMMISSIONER_ID, "李专员")
    number, _card = await claimed_ticket(bot, owner, commissioner)
    topic = api.topics[-1]

    commissioner.send("/note 企业去年同一事项投诉过两次，先核对环评受理编号", chat_id=STAFF_GROUP,
                      thread_id=topic.thread_id)
    saved = await commissioner.expect("内部备注", chat_id=STAFF_GROUP, thread_id=topic.thread_id)
    assert number in saved.text and "不会发给企业" in saved.text
    commissioner.send("/note", chat_id=STAFF_GROUP, thread_id=topic.thread_id)
    assert "用法" in (await commissioner.expect("/note", chat_id=STAFF_GROUP, thread_id=topic.thread_id)).text
    # a stranger in the group cannot leave one
    outsider = bot.user(7_777, "路人")
    outsider.send("/note 冒充备注", chat_id=STAFF_GROUP, thread_id=topic.thread_id)
    await outsider.expect(texts.STAFF_ONLY, chat_id=STAFF_GROUP, thread_id=topic.thread_id)

    commissioner.send("您好，请提供环评受理编号。", chat_id=STAFF_GROUP, thread_id=topic.thread_id)
    await owner.expect("环评受理编号")  # the relay still works; everything before it was delivered too
    to_owner = [e.text for e in api.events if e.chat_id == owner.user_id]
    assert not any("投诉过两次" in text or "冒充备注" in text for text in to_owner)
    ticket = await bot.services.desk.get_ticket(number)
    notes = [m.text for m in await bot.services.desk.messages(ticket.id) if m.author_kind == "note"]
    assert notes == ["企业去年同一事项投诉过两次，先核对环评受理编号"]


async def test_a_commissioner_hands_a_ticket_to_a_colleague_in_the_topic(bot: RunningBot) -> None:
    """handover from Telegram: 转派 offers only colleagues of the same department; the pick is done."""
    api = bot.api
    owner = bot.user(612, "孙老板")
    commissioner = bot.user(COMMISSIONER_ID, "李专员")
    number, card = await claimed_ticket(bot, owner, commissioner)
    commissioner.press(card, "转派")  # nobody else covers 生态环境局 yet
    await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and "没有与您同部门" in e.text)

    await bot.services.desk.add_staff(7003, "钱专员", "commissioner", ["示范市生态环境局"], by_tg_id=None)
    commissioner.press(card, "转派")
    picker = await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and "转派给" in e.text)
    assert [label for label, _ in picker.buttons()] == ["钱专员"]  # not 赵专员 (公安局), not the leader
    cb = commissioner.press(picker, "钱专员")
    assert "已处理：转派" in (await api.wait_callback_answer(cb)).text
    ticket = await bot.services.desk.get_ticket(number)
    assert ticket.assignee_name == "钱专员"
    await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and "交办给 钱专员" in e.text)
