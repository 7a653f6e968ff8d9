"""Browser tests: real headless Chromium (Debian) driven by Playwright against uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlmodel import select

from core.clock import FakeClock
from core.config import Settings
from dashboard.main import create_app
from desk.models import Notification, Ticket
from tests.conftest import REPO_ROOT
from tests.dashboard.conftest import PASSWORD, Db
from tests.dashboard.live import CHROMIUM, CHROMIUM_ARGS, run_bot, serve

MARKET, TAX = "市场监管局", "税务局"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def base_url(settings: Settings, clock: FakeClock, db: Db) -> Iterator[str]:
    with serve(create_app(settings, clock=clock)) as url:
        yield url


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, locale="zh-CN", viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def sign_in(page: Page, tg_user_id: int, password: str = PASSWORD) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("input[name=tg_user_id]", str(tg_user_id))
    page.fill("input[name=password]", password)
    page.click("button:has-text('登录')")


def test_commissioner_claims_replies_resolves(page: Page, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket()
    sign_in(page, 1001)
    expect(page).to_have_url(re.compile(r"/queue$"))
    row = page.locator(f"tr[data-ticket='{t.id}']")
    expect(row).to_contain_text("受理剩余")
    row.locator("a").click()
    expect(page.locator("#transcript")).to_contain_text("开饭店要办什么证")
    page.click("#claim")
    expect(page.locator(".flash")).to_have_text("已认领受理。")
    expect(page.locator("#ticket-assignee")).to_have_text("王专员")
    page.fill("#reply-text", "您好，已联系窗口，今天下午给您答复。")
    page.click("#reply")
    expect(page.locator("#messages")).to_contain_text("今天下午给您答复")
    expect(page.locator("#outbox")).to_contain_text("待发送")
    page.click("summary:has-text('办结')")
    page.fill("#resolve-note", "许可证已核发，请到窗口领取。")
    page.click("#resolve")
    expect(page.locator("h1 .badge").first).to_have_text("已办结待评价")
    ticket = db.get(Ticket, t.id)
    assert ticket.state == "resolved"
    sent = db.all(
        select(Notification).where(Notification.ticket_id == t.id, Notification.kind == "staff_message")
    )
    assert len(sent) == 1


def test_commissioner_cannot_open_another_departments_ticket(page: Page, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    other = db.ticket(title="税务登记问题", department=TAX)
    sign_in(page, 1001)
    expect(page.locator("h1")).to_contain_text("工单队列")
    expect(page.locator(f"tr[data-ticket='{other.id}']")).to_have_count(0)
    response = page.goto(f"/tickets/{other.id}")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("无权操作")
    expect(page.locator("main")).to_contain_text("无权查看")


def test_wrong_password_locks_out(page: Page, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    for _ in range(4):
        sign_in(page, 1001, "wrong-password")
        expect(page.locator(".error-text")).to_have_text("用户 ID 或密码错误。")
    sign_in(page, 1001, "wrong-password")
    expect(page.locator(".error-text")).to_contain_text("已暂时锁定")
    sign_in(page, 1001)  # the right password, but locked
    expect(page.locator(".error-text")).to_contain_text("已暂时锁定")
    assert "/login" in page.url


def test_phone_layout_has_no_page_wide_scroll(browser: Browser, base_url: str, db: Db) -> None:
    db.staff(1001, "王专员", departments=[MARKET])
    for i in range(3):
        db.ticket(title=f"手机上看的工单 {i}")
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    sign_in(page, 1001)
    expect(page.locator("tr[data-ticket]")).to_have_count(3)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 391, width
    context.close()


def _seed_demo(db: Db, clock: FakeClock) -> None:
    """A small, realistic month: several departments, states, an overdue ticket, ratings."""
    db.staff(1001, "王专员", departments=[MARKET])
    db.staff(1002, "陈专员", departments=[TAX, "人社局"])
    db.staff(1003, "刘专员", departments=["住建局"])
    db.staff(2001, "李局长", role="leader")
    start = clock.now()
    clock.set(start - timedelta(days=9))
    old = db.ticket(
        title="施工许可审批超时", department="住建局", reason="超时", requester_name="宏达建筑有限公司"
    )
    clock.set(start - timedelta(days=6))
    done = db.ticket(
        title="社保补缴流程不清楚",
        department="人社局",
        reason="政策",
        requester_tg_id=556,
        requester_name="星火科技有限公司",
    )
    db.run(db.desk.claim(done.id, 1002))
    clock.set(start - timedelta(days=5))
    db.run(db.desk.resolve(done.id, 1002, "已说明补缴材料和办理窗口。"))
    db.run(db.desk.rate(done.id, 556, "满意"))
    clock.set(start - timedelta(days=4))
    tax = db.ticket(
        title="发票额度申请被退回",
        department=TAX,
        reason="材料",
        requester_tg_id=557,
        requester_name="鑫源贸易有限公司",
    )
    db.run(db.desk.claim(tax.id, 1002))
    db.run(db.desk.wait_for_enterprise(tax.id, 1002, "请补充近三个月的纳税申报表"))
    clock.set(start - timedelta(hours=3))
    m = db.ticket(
        title="食品经营许可证迟迟未发",
        department=MARKET,
        reason="超时",
        requester_tg_id=558,
        requester_name="老王餐馆",
    )
    db.run(db.desk.claim(m.id, 1001))
    clock.set(start - timedelta(hours=1))
    db.ticket(
        title="跨部门：消防验收与营业执照变更",
        department=MARKET,
        reason="跨部门",
        requester_tg_id=559,
        requester_name="味之源餐饮店",
    )
    clock.set(start)
    db.ticket(
        title="企业迁址后税务登记无法变更",
        department=TAX,
        reason="跨部门",
        requester_tg_id=560,
        requester_name="华信物流有限公司",
    )
    db.run(db.desk.run_due())  # the scheduler's tick: the old ticket is escalated and counted 接收超期
    assert db.get(Ticket, old.id).accept_overdue


def test_queue_and_report_screenshots(page: Page, db: Db, clock: FakeClock, tmp_path: Path) -> None:
    _seed_demo(db, clock)
    sign_in(page, 2001)
    expect(page.locator("tr[data-ticket]")).to_have_count(5)
    # The 9-day-old ticket nobody accepted: escalated by the scheduler, still overdue on acceptance.
    expect(page.locator("tr.row-over td.tl")).to_contain_text("接收超期")
    shots = {"queue": tmp_path / "queue.png", "report": tmp_path / "report.png"}
    page.screenshot(path=str(shots["queue"]), full_page=True)
    page.click("nav >> text=月度通报")
    chart = page.locator("img.chart")
    expect(chart).to_be_visible()
    # (wait_for_function would eval a string, which the page's CSP rightly forbids.)
    expect(chart).to_have_js_property("complete", True)
    assert chart.evaluate("img => img.naturalWidth") > 600
    expect(page.locator("table.report").first).to_contain_text("人社局")
    page.screenshot(path=str(shots["report"]), full_page=True)
    for path in shots.values():
        assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 20_000
    # `SAVE_DASHBOARD_SCREENSHOTS=1 pytest tests/dashboard/test_browser.py` refreshes the README's images.
    if os.environ.get("SAVE_DASHBOARD_SCREENSHOTS") == "1":
        target = REPO_ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        for name, path in shots.items():
            shutil.copy(path, target / f"dashboard-{name}.png")


def test_reply_is_delivered_by_the_bot_exactly_once(
    page: Page, db: Db, settings: Settings, clock: FakeClock
) -> None:
    """Reply in the browser → outbox row (same transaction) → the real bot delivers it via the local Bot API."""
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket(requester_tg_id=555)
    reply = "您好，许可证已加急，明天上午可以领取。"
    with run_bot(settings.data_dir, clock) as bot:
        sign_in(page, 1001)
        page.goto(f"/tickets/{t.id}")
        page.click("#claim")
        expect(page.locator(".flash")).to_have_text("已认领受理。")
        page.fill("#reply-text", reply)
        page.click("#reply")
        expect(page.locator(".flash")).to_contain_text("将由机器人发送给企业")
        event = bot.call(bot.api.wait_for(lambda e: e.chat_id == 555 and reply in e.text, timeout=20))
        assert event.method == "sendMessage"
        # The dashboard shows the delivery the bot recorded in the outbox.
        row = page.locator("#outbox tr", has_text=reply)
        for _ in range(40):
            page.reload()
            if "已送达" in row.inner_text():
                break
            page.wait_for_timeout(250)
        expect(row.locator(".outbox-state")).to_contain_text("已送达")
        page.wait_for_timeout(1000)  # several more outbox ticks: nothing is sent twice
        sent = [e for e in bot.api.events if e.chat_id == 555 and reply in e.text]
        assert len(sent) == 1
        page.click("summary:has-text('办结')")
        page.fill("#resolve-note", "许可证已核发。")
        page.click("#resolve")
        expect(page.locator("h1 .badge").first).to_have_text("已办结待评价")
        bot.call(bot.api.wait_for(lambda e: e.chat_id == 555 and "已办结" in e.text, timeout=20))
    rows = db.all(
        select(Notification).where(Notification.ticket_id == t.id, Notification.kind == "staff_message")
    )
    assert len(rows) == 1 and rows[0].sent_at is not None and rows[0].attempts == 1
