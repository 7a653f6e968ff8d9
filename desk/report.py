"""月通报: per department and per commissioner — received, resolved, 接收超期, 处置超期, average handling
time in working days, satisfaction — as rows, a terminal table, an .xlsx file and a PNG chart.

Counting rules (each event is counted in the month it happened, so a closed month never changes):
- received: tickets created in the month;
- resolved: tickets first resolved in the month; handling time = creation → first resolution, in
  working days on the desk calendar (time spent waiting for the enterprise included);
- 接收超期 / 处置超期: the audit entries `accept_overdue` / `resolve_overdue` written in the month;
- satisfaction: (满意 + 基本满意) / ratings given in the month; 未评价 auto-closures are shown apart.
Rows are attributed to the ticket's handling department and its current assignee.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from desk.errors import InvalidInput
from desk.models import AuditEntry, Rating, Staff, Ticket

if TYPE_CHECKING:
    from rich.table import Table

    from desk.service import Desk

log = logging.getLogger(__name__)

NO_DEPARTMENT = "未指定部门"
NO_ASSIGNEE = "未分配"
COLUMNS = ["名称", "受理量", "办结量", "接收超期", "处置超期", "平均办理(工作日)", "满意率", "评价数", "未评价"]


@dataclass
class ReportRow:
    name: str
    received: int = 0
    resolved: int = 0
    accept_overdue: int = 0
    resolve_overdue: int = 0
    ratings: int = 0
    satisfied: int = 0  # 满意 + 基本满意
    unrated: int = 0
    handling_days: list[float] = field(default_factory=list)

    @property
    def avg_handling_days(self) -> float | None:
        return round(sum(self.handling_days) / len(self.handling_days), 2) if self.handling_days else None

    @property
    def satisfaction(self) -> float | None:
        return round(self.satisfied / self.ratings, 4) if self.ratings else None

    def cells(self) -> list[object]:
        """Values in COLUMNS order (None for 'not applicable')."""
        return [
            self.name, self.received, self.resolved, self.accept_overdue, self.resolve_overdue,
            self.avg_handling_days, self.satisfaction, self.ratings, self.unrated,
        ]


@dataclass
class ReportSection:
    """A section other parts of the product add to the report (e.g. 政策直达): a title and label → value lines."""

    title: str
    lines: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class MonthlyReport:
    month: str
    by_department: list[ReportRow]
    by_commissioner: list[ReportRow]
    total: ReportRow
    sections: list[ReportSection] = field(default_factory=list)


def parse_month(month: str, tz: object) -> tuple[datetime, datetime]:
    """'2026-11' → [start, end) as aware datetimes in the desk timezone; Chinese error otherwise."""
    try:
        year, mon = (int(x) for x in month.strip().split("-"))
        start = date(year, mon, 1)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"月份「{month}」格式不对，应为 YYYY-MM，例如 2026-11。") from exc
    end = date(year + (mon == 12), mon % 12 + 1, 1)
    return datetime.combine(start, datetime.min.time(), tzinfo=tz), datetime.combine(end, datetime.min.time(), tzinfo=tz)  # type: ignore[arg-type]


async def build_monthly_report(desk: Desk, month: str) -> MonthlyReport:
    """Compute the month's report from tickets, ratings and the audit log."""
    start, end = parse_month(month, desk.calendar.tz)
    departments: dict[str, ReportRow] = {}
    commissioners: dict[str, ReportRow] = {}
    total = ReportRow("合计")

    async with desk.sessions() as s:
        names = {x.id: x.name for x in (await s.exec(select(Staff))).all()}
        tickets: dict[int, Ticket] = {}

        def rows(t: Ticket) -> list[ReportRow]:
            dept = t.department or NO_DEPARTMENT
            who = names.get(t.assignee_id, NO_ASSIGNEE) if t.assignee_id else NO_ASSIGNEE
            return [departments.setdefault(dept, ReportRow(dept)), commissioners.setdefault(who, ReportRow(who)), total]

        async def load(ids: set[int]) -> None:
            missing = ids - tickets.keys()
            if missing:
                for t in (await s.exec(select(Ticket).where(col(Ticket.id).in_(missing)))).all():
                    tickets[t.id] = t  # type: ignore[index]

        created = (await s.exec(select(Ticket).where(col(Ticket.created_at) >= start, col(Ticket.created_at) < end))).all()
        for t in created:
            tickets[t.id] = t  # type: ignore[index]
            for r in rows(t):
                r.received += 1
        resolved = (
            await s.exec(select(Ticket).where(col(Ticket.first_resolved_at) >= start, col(Ticket.first_resolved_at) < end))
        ).all()
        for t in resolved:
            tickets[t.id] = t  # type: ignore[index]
            days = desk.calendar.working_days_between(t.created_at, t.first_resolved_at)  # type: ignore[arg-type]
            for r in rows(t):
                r.resolved += 1
                r.handling_days.append(days)
        audits = (
            await s.exec(
                select(AuditEntry).where(
                    col(AuditEntry.action).in_(["accept_overdue", "resolve_overdue", "auto_close"]),
                    col(AuditEntry.created_at) >= start,
                    col(AuditEntry.created_at) < end,
                )
            )
        ).all()
        ratings = (await s.exec(select(Rating).where(col(Rating.created_at) >= start, col(Rating.created_at) < end))).all()
        await load({a.ticket_id for a in audits if a.ticket_id} | {r.ticket_id for r in ratings})
        for a in audits:
            t = tickets.get(a.ticket_id)  # type: ignore[arg-type,assignment]
            if t is None:
                continue
            for r in rows(t):
                if a.action == "accept_overdue":
                    r.accept_overdue += 1
                elif a.action == "resolve_overdue":
                    r.resolve_overdue += 1
                else:
                    r.unrated += 1
        for rating in ratings:
            for r in rows(tickets[rating.ticket_id]):
                r.ratings += 1
                r.satisfied += rating.score in ("满意", "基本满意")

    def order(d: dict[str, ReportRow]) -> list[ReportRow]:
        return sorted(d.values(), key=lambda r: (-r.received, -r.resolved, r.name))

    return MonthlyReport(month, order(departments), order(commissioners), total)


# ---------------------------------------------------------------- renderers
def _fmt(value: object, column: str) -> str:
    if value is None:
        return "—"
    if column == "满意率":
        return f"{float(value):.1%}"  # type: ignore[arg-type]
    return str(value)


def render_tables(report: MonthlyReport) -> list[Table]:
    """Two rich tables (by department, by commissioner), each ending with the totals row."""
    # Rendering libraries (rich, openpyxl, matplotlib: ~1 s) load only when a report is rendered;
    # the bot and the dashboard import this module for its figures.
    from rich.table import Table

    out = []
    for title, rows in (("按部门", report.by_department), ("按专员", report.by_commissioner)):
        table = Table(title=f"{report.month} 办不成事月通报 · {title}", show_lines=False)
        for i, name in enumerate(COLUMNS):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in [*rows, report.total]:
            table.add_row(*[_fmt(v, c) for v, c in zip(row.cells(), COLUMNS, strict=True)], style="bold" if row is report.total else None)
        out.append(table)
    for section in report.sections:
        table = Table(title=f"{report.month} · {section.title}", show_header=False)
        table.add_column("项目")
        table.add_column("数值", justify="right")
        for label, value in section.lines:
            table.add_row(label, value)
        out.append(table)
    return out


# A text cell starting with one of these is read as a formula by Excel/WPS ("=HYPERLINK(…)" as a
# department name would become a live link): such text is written with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def keep_as_text(cell: Any) -> None:
    """Text that looks like a formula stays text: a string cell with Excel's quote prefix (shown as
    written, never evaluated); numbers and real text are untouched."""
    value = cell.value
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True


def write_xlsx(report: MonthlyReport, path: Path) -> Path:
    """An .xlsx with one sheet per grouping; satisfaction as a percentage-formatted number."""
    # Rendering libraries (rich, openpyxl, matplotlib: ~1 s) load only when a report is rendered;
    # the bot and the dashboard import this module for its figures.
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    first = True
    for title, rows in (("按部门", report.by_department), ("按专员", report.by_commissioner)):
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = title  # type: ignore[union-attr]
        ws.append([f"{report.month} 办不成事月通报（{title}）"])  # type: ignore[union-attr]
        ws.append(COLUMNS)  # type: ignore[union-attr]
        for row in [*rows, report.total]:
            ws.append(row.cells())  # type: ignore[union-attr]
        for line in ws.iter_rows():  # type: ignore[union-attr]
            for cell in line:
                keep_as_text(cell)
        for cell in ws[2]:  # type: ignore[index]
            cell.font = Font(bold=True)
        for cell in ws["G"][2:]:  # type: ignore[index]
            cell.number_format = "0.0%"
        ws.column_dimensions["A"].width = 18  # type: ignore[union-attr]
    for section in report.sections:
        ws = wb.create_sheet(section.title[:31])
        ws.append([f"{report.month} {section.title}"])
        for label, value in section.lines:
            ws.append([label, value])
        for line in ws.iter_rows():
            for cell in line:
                keep_as_text(cell)
        ws.column_dimensions["A"].width = 36
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def cjk_font_path() -> Path | None:
    """A font file with Simplified Chinese glyphs: the one mplfonts ships, else any system CJK font."""
    try:
        # Rendering libraries (rich, openpyxl, matplotlib: ~1 s) load only when a report is rendered;
        # the bot and the dashboard import this module for its figures.
        import mplfonts

        shipped = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
        if shipped.exists():
            return shipped
    except ImportError:
        pass
    # Rendering libraries (rich, openpyxl, matplotlib: ~1 s) load only when a report is rendered;
    # the bot and the dashboard import this module for its figures.
    from matplotlib import font_manager

    for candidate in font_manager.findSystemFonts():
        lowered = candidate.lower()
        if any(k in lowered for k in ("notosanscjk", "noto sans cjk", "wqy", "sourcehansans", "simhei", "droidsansfallback")):
            return Path(candidate)
    return None


def write_chart(report: MonthlyReport, path: Path) -> Path:
    """A PNG: grouped bars per department (received, resolved, overdue) and satisfaction on a second axis."""
    # Rendering libraries (rich, openpyxl, matplotlib: ~1 s) load only when a report is rendered;
    # the bot and the dashboard import this module for its figures.
    import matplotlib

    matplotlib.use("Agg")
    # Rendering libraries (rich, openpyxl, matplotlib: ~1 s) load only when a report is rendered;
    # the bot and the dashboard import this module for its figures.
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    font = cjk_font_path()
    if font is not None:
        font_manager.fontManager.addfont(str(font))
        family = font_manager.FontProperties(fname=str(font)).get_name()
        plt.rcParams["font.family"] = [family]
    else:
        log.warning("no CJK font found: Chinese labels in the chart will not render (pip install mplfonts)")
    plt.rcParams["axes.unicode_minus"] = False

    groups = [("按部门", report.by_department), ("按专员", report.by_commissioner)]
    fig, axes = plt.subplots(len(groups), 1, figsize=(11, 8.5), constrained_layout=True)
    series = [("受理量", "received", "#4C72B0"), ("办结量", "resolved", "#55A868"),
              ("接收超期", "accept_overdue", "#DD8452"), ("处置超期", "resolve_overdue", "#C44E52")]
    width = 0.2
    for ax, (title, rows) in zip(axes, groups, strict=True):
        names = [r.name for r in rows] or ["（无数据）"]
        xs = range(len(names))
        for i, (label, attr, color) in enumerate(series):
            values = [getattr(r, attr) for r in rows] or [0]
            bars = ax.bar([x + (i - 1.5) * width for x in xs], values, width, label=label, color=color)
            ax.bar_label(bars, fmt="%d", fontsize=8, padding=1)
        ax.set_xticks(list(xs), names, rotation=0 if len(names) < 7 else 30)
        ax.set_ylabel("件数")
        ax.set_title(f"{report.month} 办不成事月通报 · {title}")
        ax2 = ax.twinx()
        sat = [r.satisfaction * 100 if r.satisfaction is not None else float("nan") for r in rows] or [float("nan")]
        ax2.plot(list(xs), sat, "D-", color="#8172B3", label="满意率(%)")
        ax2.set_ylim(0, 130)  # keep the line under the legend
        ax2.set_yticks(range(0, 101, 20))
        ax2.set_ylabel("满意率 %")
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=8, ncols=5)
        ax.set_ylim(0, max([r.received for r in rows] + [1]) * 1.35)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
