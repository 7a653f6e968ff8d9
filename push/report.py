"""The 政策直达 section of the monthly report (desk.report renders it with the desk's own tables)."""

from __future__ import annotations

from desk.report import MonthlyReport, ReportSection, build_monthly_report, parse_month
from desk.service import Desk
from push.outcomes import PushMonth
from push.service import PushService

TITLE = "政策直达"


def push_section(month: PushMonth) -> ReportSection:
    reasons = "、".join(f"{r} {n}" for r, n in month.reasons.most_common(5)) or "—"
    most = "、".join(f"《{title}》{n}" for title, n in month.most_not_applicable) or "—"
    return ReportSection(TITLE, [
        ("本月批准的政策推送", str(month.campaigns_approved)),
        ("推送条数", str(month.pushes_sent)),
        ("覆盖企业", str(month.enterprises_reached)),
        ("申报提醒", str(month.reminders_sent)),
        ("详细了解", str(month.details)),
        ("不适用", str(month.not_applicable)),
        ("不适用原因", reasons),
        ("推送后办不成事工单", str(month.tickets)),
        ("没有匹配到企业的政策", "、".join(month.reaching_nobody) or "—"),
        ("不适用最多的政策", most),
    ])


async def build_report(desk: Desk, pushes: PushService, month: str) -> MonthlyReport:
    """The monthly report: the desk's tables and the 政策直达 section."""
    report = await build_monthly_report(desk, month)
    start, end = parse_month(month, desk.calendar.tz)
    report.sections.append(push_section(await pushes.month(start, end)))
    return report


__all__ = ["build_report", "push_section"]
