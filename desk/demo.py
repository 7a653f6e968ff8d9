"""A seeded month of desk activity, driven through the real Desk API with a FakeClock.

Used by the report tests, by `zhitong desk demo`, and to draw the README chart. Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.clock import FakeClock
from desk.models import TicketCreate
from desk.service import Desk

DEMO_STAFF = [
    (810001, "张敏", "commissioner", ["市场监管局"]),
    (810002, "李强", "commissioner", ["市场监管局", "卫健委"]),
    (810003, "王芳", "commissioner", ["税务局"]),
    (810004, "刘洋", "commissioner", ["人社局", "住建局"]),
    (810009, "赵局长", "leader", []),
]
DEMO_DEPARTMENTS = ["市场监管局", "税务局", "人社局", "住建局", "卫健委"]
TITLES = {
    "市场监管局": ["食品经营许可证迟迟未发", "营业执照经营范围变更被退回", "个体户转企业材料反复补正"],
    "税务局": ["发票领用额度申请无回复", "留抵退税进度查不到", "跨区迁移清税证明开不出"],
    "人社局": ["稳岗补贴申请被卡", "社保登记信息无法更正"],
    "住建局": ["施工许可证审批超时", "竣工验收备案材料口径不一"],
    "卫健委": ["公共场所卫生许可跑了三次", "诊所执业登记要求不明确"],
}
FATES = ["happy"] * 10 + ["late_accept"] * 2 + ["late_resolve"] * 2 + ["unhappy"] * 2 + ["unrated"] * 2 + ["waiting"] * 2


@dataclass
class DemoResult:
    tickets: int
    month: str


def _working_instants(desk: Desk, month: str, rng: random.Random, n: int) -> list[datetime]:
    year, mon = (int(x) for x in month.split("-"))
    day = date(year, mon, 1)
    days = []
    while day.month == mon:
        if desk.calendar.is_workday(day):
            days.append(day)
        day += timedelta(days=1)
    # Leave the last days of the month for the tickets still open at its end.
    out = []
    for _ in range(n):
        d = rng.choice(days[: max(1, len(days) - 6)])
        out.append(datetime(d.year, d.month, d.day, rng.randint(9, 16), rng.choice([0, 15, 30, 45]), tzinfo=desk.calendar.tz))
    return sorted(out)


async def seed_demo_month(desk: Desk, clock: FakeClock, month: str = "2026-11", n: int = 36, seed: int = 7) -> DemoResult:
    """Create `n` tickets in `month` with mixed outcomes (on time, overdue, unhappy, unrated, waiting)."""
    rng = random.Random(seed)
    cal = desk.calendar
    for tg, name, role, depts in DEMO_STAFF:
        await desk.add_staff(tg, name, role, depts)
    by_dept = {d: [tg for tg, _, role, ds in DEMO_STAFF if d in ds] for d in DEMO_DEPARTMENTS}
    leader = DEMO_STAFF[-1][0]
    starts = _working_instants(desk, month, rng, n)
    for i, start in enumerate(starts):
        clock.set(start)
        dept = rng.choice(DEMO_DEPARTMENTS)
        owner = 880000 + i
        t = await desk.create_ticket(
            TicketCreate(
                title=rng.choice(TITLES[dept]), department=dept, reason=rng.choice(["材料", "政策", "跨部门", "超时", "态度"]),
                requester_tg_id=owner, requester_name=f"示例企业{i + 1:02d}", description="按正常程序办理受阻，请协调。",
            )
        )
        staff = rng.choice(by_dept[dept])
        fate = rng.choice(FATES)
        late_accept = fate == "late_accept"
        claim_at = cal.add_working_hours(start, rng.uniform(4.5, 9) if late_accept else rng.uniform(0.2, 3.5))
        if late_accept:
            clock.set(claim_at)
            await desk.run_due()
            await desk.claim(t.number, leader if rng.random() < 0.5 else staff)
            staff_actor = (await desk.get_ticket(t.number)).assignee_tg_id or staff
        else:
            clock.set(claim_at)
            await desk.claim(t.number, staff)
            staff_actor = staff
        clock.set(cal.add_working_hours(claim_at, 0.5))
        await desk.add_message(t.number, "staff", staff_actor, "您好，已收到，正在协调相关科室。")
        if fate == "waiting":
            await desk.wait_for_enterprise(t.number, staff_actor, "请补充加盖公章的申请表")
            clock.set(cal.add_working_days(clock.now(), rng.uniform(1, 3)))
            await desk.add_message(t.number, "enterprise", owner, "申请表已补充。")
        days = rng.uniform(5.3, 7) if fate == "late_resolve" else rng.uniform(0.5, 4.5)
        resolve_at = cal.add_working_days(claim_at, days)
        if fate == "late_resolve":
            clock.set(resolve_at - timedelta(minutes=1))
            await desk.run_due()
        clock.set(resolve_at)
        await desk.resolve(t.number, staff_actor, "已协调办结，结果已告知企业。")
        if fate == "unrated":
            clock.set(cal.add_working_days(resolve_at, desk.cfg.rating_within_days))
            await desk.run_due()
            continue
        clock.set(cal.add_working_hours(resolve_at, rng.uniform(0.5, 6)))
        if fate == "unhappy":
            await desk.rate(t.number, owner, "不满意", "问题没有根本解决")
            clock.set(cal.add_working_days(clock.now(), 1))
            for fu in await desk.followups(t.number, open_only=True):
                await desk.complete_followup(fu.id, staff_actor, "已电话回访企业。")  # type: ignore[arg-type]
            await desk.add_message(t.number, "staff", staff_actor, "已再次协调。")
            await desk.resolve(t.number, staff_actor, "二次协调后已办结。")
            clock.set(cal.add_working_hours(clock.now(), 2))
            await desk.rate(t.number, owner, rng.choice(["满意", "基本满意", "不满意"]))
        else:
            await desk.rate(t.number, owner, rng.choices(["满意", "基本满意", "不满意"], [7, 2, 1])[0])
    # A few late arrivals are still open when the month ends (received, not yet resolved).
    year, mon = (int(x) for x in month.split("-"))
    last = date(year + (mon == 12), mon % 12 + 1, 1) - timedelta(days=1)
    while not cal.is_workday(last):
        last -= timedelta(days=1)
    for j in range(4):
        clock.set(datetime(last.year, last.month, last.day, 10 + j, 0, tzinfo=cal.tz))
        dept = DEMO_DEPARTMENTS[j % len(DEMO_DEPARTMENTS)]
        t = await desk.create_ticket(
            TicketCreate(title=rng.choice(TITLES[dept]), department=dept, reason="超时", requester_tg_id=889000 + j, requester_name=f"示例企业{n + j + 1:02d}")
        )
        if j % 2 == 0:
            await desk.claim(t.number, by_dept[dept][0])
    return DemoResult(tickets=n + 4, month=month)
