"""惠企政策直达 end to end, against the local Bot API server: an owner registers and fills in the profile
with buttons; an admin uploads a policy with `applies_to`, reviews the matches and the message, approves;
exactly the matching, subscribed enterprises receive it; the buttons work; a blocked bot is marked
unreachable; a policy without `applies_to` waits for an admin. And a bot killed in the middle of a
campaign, restarted, sends the rest once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from sqlmodel import select

from core.config import Settings
from core.db import init_db, make_async_engine, make_sessionmaker
from desk.models import EnterpriseCreate
from desk.service import Desk
from ingest.pipeline import ingest_paths
from push.models import DeliveryStatus, PushDelivery
from push.service import PushService
from tests.auxil.botapi_server import BOT_TOKEN, BotApiServer, FakeUser
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import ADMIN_ID, RunningBot, bot_settings, run_bot, settle
from tests.push.conftest import valid_code

POLICY = """---
title: 示范市小微餐饮企业房租补贴通知
department: 示范市商务局
applies_to:
  industries: [餐饮]
  sizes: [小微企业]
benefit: 申请
apply_by: 2027-06-30
summary: 小微餐饮企业按月租金的 30% 给予补贴，最长 6 个月。
---
# 示范市小微餐饮企业房租补贴通知

一、补贴对象
本市住宿和餐饮业小微企业。

二、补贴标准
按月租金的百分之三十给予补贴，最长六个月，每户最高三万元。

三、申报材料
营业执照、租赁合同、租金支付凭证。
"""
# A 惠企 policy that does not say who it is for: proposed, never pushed before an admin confirms.
UNDECLARED = """# 示范市外贸企业出口信用保险补贴办法

对外贸企业投保出口信用保险的，给予保费补贴；对新开拓市场的外贸企业另给予奖励，奖补资金由市商务局兑现。
"""
PUSH_MARK = "惠企政策直达"


def push_settings(settings: Settings, **changes: object) -> Settings:
    push = settings.push.model_copy(update={"working_hours_only": False, "interval_s": 0.3, **changes})
    return settings.model_copy(update={"push": push})


async def _owner(bot: RunningBot, n: int, *, industry: str, size: str, consent: bool) -> FakeUser:
    """An enterprise registered through the desk, with its profile and consent set through the service."""
    tg = 810000 + n
    await bot.services.desk.register_enterprise(EnterpriseCreate(
        name=f"企业{n}", credit_code=valid_code(n), contact_name="王五", contact_phone="13900000000", tg_user_id=tg))
    await bot.services.push.update_profile(tg, industry=industry, size=size)
    await bot.services.push.set_consent(tg, consent)
    return bot.user(tg, f"老板{n}")


async def _told_admin(api: BotApiServer, after: int, title: str) -> None:
    await api.wait_for(lambda e: e.chat_id == ADMIN_ID and "待审核推送" in e.text and title in e.text,
                       after=after, timeout=15)


def _pushes_to(api: BotApiServer, chat: int) -> int:
    return sum(1 for e in api.events if e.chat_id == chat and e.method == "sendMessage" and PUSH_MARK in e.text)


async def test_push_review_approval_reaches_exactly_the_matching_subscribers(api: BotApiServer,
                                                                             tmp_path: Path) -> None:
    settings = push_settings(bot_settings(api, tmp_path / "var"))
    async with run_bot(api, settings, None) as bot:
        # An owner registers in the chat and fills in the profile with the buttons.
        owner = bot.user(820001, "餐馆老板")
        owner.send("/register")
        await owner.expect("企业名称")
        owner.send("示范市好味道餐饮有限公司")
        await owner.expect("统一社会信用代码")
        owner.send(valid_code(1))
        await owner.expect("行业")
        owner.send("餐饮")
        await owner.expect("联系人")
        owner.send("钱大宝 13800138000")
        card = await owner.expect("企业画像")
        assert "政策推送：未订阅" in card.text
        owner.press(card, "行业")
        menu = await owner.expect("请选择行业", methods=("editMessageText",))
        owner.press(menu, "住宿和餐饮业")
        card = await owner.expect("行业：住宿和餐饮业", methods=("editMessageText",))
        owner.press(card, "规模")
        menu = await owner.expect("请选择规模", methods=("editMessageText",))
        owner.press(menu, "小型")
        card = await owner.expect("规模：小型", methods=("editMessageText",))
        owner.press(card, "接收政策推送")
        card = await owner.expect("政策推送：已订阅", methods=("editMessageText",))

        micro = await _owner(bot, 2, industry="住宿和餐饮业", size="微型", consent=True)
        declined = await _owner(bot, 3, industry="住宿和餐饮业", size="小型", consent=False)
        factory = await _owner(bot, 4, industry="制造业", size="小型", consent=True)
        blocked = await _owner(bot, 5, industry="住宿和餐饮业", size="小型", consent=True)
        api.blocked.add(blocked.user_id)

        admin = bot.user(ADMIN_ID, "管理员")
        before = api.last_seq
        admin.send_document("房租补贴.md", POLICY.encode("utf-8"), mime_type="text/markdown")
        await admin.expect("入库完成", timeout=60)
        # The push job opened a campaign and told the admin (before or after the change report).
        await _told_admin(api, before, "小微餐饮企业房租补贴")
        admin.send("/push")
        listing = await admin.expect("待审核的政策推送")
        admin.press(listing, "房租补贴")
        review = await admin.expect("推送原文")
        assert "匹配的已订阅企业：3 家" in review.text  # owner, micro, blocked (not yet known to be)
        assert "匹配但未订阅：1 家" in review.text
        assert "行业=住宿和餐饮业 3 家" in review.text
        assert "为什么推送给您：行业=住宿和餐饮业、规模=小型" in review.text
        assert "申报截止：2027-06-30" in review.text and "来源：「房租补贴.md」" in review.text
        assert not any(PUSH_MARK in e.text for e in api.events if e.chat_id != ADMIN_ID)  # nothing before approval
        admin.press(review, "批准发送")
        assert "3 家企业" in (await admin.expect("已批准", methods=("editMessageText",))).text

        pushed = await owner.expect(PUSH_MARK, timeout=15)
        assert "按月租金的 30%" in pushed.text and "营业执照" in pushed.text
        assert [label for label, _ in pushed.buttons()] == ["详细了解", "不适用", "已申报", "退订"]
        await micro.expect(PUSH_MARK, timeout=15)
        deadline = time.monotonic() + 15
        while (await bot.services.push.profile(blocked.user_id)).unreachable_at is None:
            assert time.monotonic() < deadline, "a 403 did not mark the enterprise unreachable"
            await asyncio.sleep(0.2)
        await settle(1.0)
        assert _pushes_to(api, declined.user_id) == 0 and _pushes_to(api, factory.user_id) == 0
        assert _pushes_to(api, owner.user_id) == 1 and _pushes_to(api, micro.user_id) == 1

        # The buttons: 不适用 with its reason, 详细了解 opens the answer flow, 退订.
        owner.press(pushed, "不适用")
        reasons = await owner.expect("不适用的原因")
        owner.press(reasons, "规模不符")
        await owner.expect("已记录：规模不符", methods=("editMessageText",))
        micro_event = next(e for e in api.events if e.chat_id == micro.user_id and PUSH_MARK in e.text)
        micro.press(micro_event, "详细了解")
        answer = await micro.expect("来源", timeout=60)
        assert "房租补贴" in answer.text
        micro.press(micro_event, "退订")
        await micro.expect("已退订")
        (outcome,) = await bot.services.push.outcomes()
        assert outcome.sent == 2 and outcome.status[DeliveryStatus.UNREACHABLE] == 1
        assert outcome.reasons["规模不符"] == 1
        assert outcome.responses["details"] == 0 and outcome.responses["unsubscribed"] == 1

        # A policy without applies_to: a proposal that waits for an admin, nothing is sent.
        before = api.last_seq
        admin.send_document("出口信保补贴.md", UNDECLARED.encode("utf-8"), mime_type="text/markdown")
        await admin.expect("入库完成", timeout=60)
        await _told_admin(api, before, "出口信用保险")
        pending = await bot.services.push.list_campaigns("pending")
        assert [c.audience_origin for c in pending] == ["proposed"]
        assert pending[0].audience["tags"] == ["外贸企业"]
        before = len(api.events)
        await settle(1.5)
        assert not any(PUSH_MARK in e.text for e in api.events[before:])


async def _seed_campaign(data_dir: Path, owners: int) -> int:
    """A knowledge base with one pushed policy, `owners` matching subscribed enterprises, approved."""
    from core.config import load_settings

    settings = load_settings(data_dir=data_dir)
    policy = data_dir.parent / "房租补贴.md"
    policy.write_text(POLICY, encoding="utf-8")
    report = await asyncio.to_thread(ingest_paths, settings, [policy])
    assert not report.failed, report.summary_zh()
    engine = make_async_engine(settings.database_url)
    await init_db(engine)
    sessions = make_sessionmaker(engine)
    desk, pushes = Desk(sessions, settings), PushService(sessions, settings)
    for n in range(owners):
        tg = 830000 + n
        await desk.register_enterprise(EnterpriseCreate(name=f"餐馆{n}", credit_code=valid_code(100 + n),
                                                        contact_name="李四", contact_phone="13700000000", tg_user_id=tg))
        await pushes.update_profile(tg, industry="住宿和餐饮业", size="小型")
        await pushes.set_consent(tg, True)
    (campaign,) = await pushes.sync_from_knowledge()
    assert campaign.id is not None
    await pushes.approve(campaign.id, by_tg_id=None)
    await engine.dispose()
    return campaign.id


async def _start(api: BotApiServer, data_dir: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHITONG_")}
    env.update({
        "ZHITONG_DATA_DIR": str(data_dir), "ZHITONG_CONFIG": str(data_dir / "absent.toml"),
        "ZHITONG_LOG_LEVEL": "WARNING", "ZHITONG_TELEGRAM_TOKEN": BOT_TOKEN,
        "ZHITONG_TELEGRAM_BASE_URL": api.base_url, "ZHITONG_TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "ZHITONG_PUSH_WORKING_HOURS_ONLY": "false", "ZHITONG_PUSH_RATE_PER_S": "8",
        "ZHITONG_PUSH_INTERVAL_S": "0.5", "ZHITONG_PUSH_LEASE_S": "3",
    })
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "cli", "run", env=env, cwd=str(REPO_ROOT))


async def _until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_push_bot_killed_mid_campaign_sends_the_rest_once(api: BotApiServer, tmp_path: Path) -> None:
    owners = 40
    data_dir = tmp_path / "var"
    campaign_id = await _seed_campaign(data_dir, owners)
    chats = [830000 + n for n in range(owners)]

    def received() -> int:
        return sum(1 for c in chats if _pushes_to(api, c) > 0)

    proc = await _start(api, data_dir)
    try:
        await _until(lambda: received() >= 12, 120, "the campaign did not start")
        proc.send_signal(signal.SIGKILL)  # in the middle: most of the campaign is still queued
        await proc.wait()
        at_kill = received()
        assert at_kill < owners
        proc = await _start(api, data_dir)
        await _until(lambda: received() == owners, 120, "the restarted bot did not send the rest")
        await settle(4.0)  # past the lease: anything leased by the killed process has been sent by now
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    per_chat = [_pushes_to(api, c) for c in chats]
    assert min(per_chat) == 1
    # Telegram has no idempotency key: only the one message in flight at the kill may go twice.
    assert sum(per_chat) <= owners + 1, per_chat
    settings_engine = make_async_engine(f"sqlite+aiosqlite:///{data_dir / 'zhitong.db'}")
    async with make_sessionmaker(settings_engine)() as s:
        statuses = (await s.exec(select(PushDelivery.status).where(PushDelivery.campaign_id == campaign_id))).all()
    await settings_engine.dispose()
    assert sorted(set(statuses)) == [DeliveryStatus.SENT] and len(statuses) == owners


async def test_push_a_bot_stopped_mid_campaign_stops_at_once_and_the_next_start_sends_the_rest_exactly_once(
        api: BotApiServer, tmp_path: Path) -> None:
    owners = 12
    data_dir = tmp_path / "var"
    await _seed_campaign(data_dir, owners)
    chats = [830000 + n for n in range(owners)]
    settings = push_settings(bot_settings(api, data_dir), rate_per_s=3.0)
    bot = run_bot(api, settings, None)
    await bot.__aenter__()
    try:
        await _until(lambda: sum(_pushes_to(api, c) for c in chats) >= 3, 60, "the campaign did not start")
    finally:
        started = time.monotonic()
        await asyncio.wait_for(bot.__aexit__(None, None, None), 30)  # the job stops between two sends
    assert time.monotonic() - started < 20
    assert sum(_pushes_to(api, c) for c in chats) < owners
    async with run_bot(api, settings, None):  # at once: the stopped bot gave its leases back
        await _until(lambda: all(_pushes_to(api, c) >= 1 for c in chats), 30, "the rest was not sent")
        await settle(1.0)
    assert [_pushes_to(api, c) for c in chats] == [1] * owners
