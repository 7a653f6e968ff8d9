"""Monthly report: exact counts on a hand-made month, and the xlsx + PNG from a seeded month."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from core.clock import FakeClock
from desk.demo import seed_demo_month
from desk.errors import InvalidInput
from desk.models import TicketCreate
from desk.report import build_monthly_report, cjk_font_path, render_tables, write_chart, write_xlsx
from desk.service import Desk
from tests.desk.conftest import COMMISSIONER_A, COMMISSIONER_OTHER, OWNER, STRANGER, sh


async def test_counts_for_october(staffed: Desk, clock: FakeClock) -> None:
    desk = staffed
    clock.set(sh(2026, 10, 8, 9, 0))
    a = (await desk.create_ticket(TicketCreate(title="办证", department="市场监管局", requester_tg_id=OWNER))).number
    b = (await desk.create_ticket(TicketCreate(title="退税", department="税务局", requester_tg_id=STRANGER))).number
    clock.set(sh(2026, 10, 8, 10, 0))
    await desk.claim(a, COMMISSIONER_A)
    clock.set(sh(2026, 10, 8, 14, 30))  # b's 4 working hours are up
    assert (await desk.run_due()).accept_overdue == 1
    clock.set(sh(2026, 10, 9, 10, 0))
    await desk.resolve(a, COMMISSIONER_A, "已办结")
    await desk.rate(a, OWNER, "满意")
    await desk.claim(b, COMMISSIONER_OTHER)  # resolve due 10-16 10:00 (the Saturday 10-10 counts)
    clock.set(sh(2026, 10, 16, 10, 0))
    assert (await desk.run_due()).resolve_overdue == 1
    clock.set(sh(2026, 10, 19, 10, 0))
    await desk.resolve(b, COMMISSIONER_OTHER, "已退税")
    clock.set(sh(2026, 10, 22, 10, 0))
    assert (await desk.run_due()).auto_closed == 1
    clock.set(sh(2026, 10, 30, 17, 0))
    await desk.create_ticket(TicketCreate(title="发票", department="税务局", requester_tg_id=STRANGER))
    clock.set(sh(2026, 11, 2, 9, 0))
    await desk.create_ticket(TicketCreate(title="十一月的", department="税务局", requester_tg_id=STRANGER))

    report = await build_monthly_report(desk, "2026-10")
    rows = {r.name: r for r in report.by_department}
    market, tax = rows["市场监管局"], rows["税务局"]
    assert (market.received, market.resolved, market.accept_overdue, market.resolve_overdue) == (1, 1, 0, 0)
    assert market.satisfaction == 1.0 and market.avg_handling_days == pytest.approx(8.5 / 7.5, abs=0.01)
    assert (tax.received, tax.resolved, tax.accept_overdue, tax.resolve_overdue, tax.unrated) == (2, 1, 1, 1, 1)
    assert tax.satisfaction is None  # nobody rated: not 0 %
    # 10-08 09:00 → 10-19 10:00: 10-08, 09, 10 (Saturday), 12, 13, 14, 15, 16 full days + 1 h.
    assert tax.avg_handling_days == pytest.approx(8 + 1 / 7.5, abs=0.01)
    people = {r.name: r for r in report.by_commissioner}
    assert people["王专员"].resolve_overdue == 1 and people["张专员"].resolved == 1
    assert people["王专员"].received == 2  # the 10-30 ticket is routed to him, though not yet claimed
    assert report.total.received == 3 and report.total.resolved == 2
    november = await build_monthly_report(desk, "2026-11")
    assert november.total.received == 1 and november.total.resolved == 0
    assert len(render_tables(report)) == 2
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        await build_monthly_report(desk, "2026/13")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_seeded_month_makes_xlsx_and_chart(desk: Desk, clock: FakeClock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await seed_demo_month(desk, clock, "2026-11", n=12, seed=3)
    report = await build_monthly_report(desk, "2026-11")
    assert report.total.received == 16 and report.total.resolved == 12
    xlsx = write_xlsx(report, tmp_path / "out" / "report-2026-11.xlsx")
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["按部门", "按专员"]
    ws = wb["按部门"]
    assert ws["A2"].value == "名称" and ws["B2"].value == "受理量"
    last = ws.max_row
    assert ws.cell(last, 1).value == "合计" and ws.cell(last, 2).value == 16
    png = write_chart(report, tmp_path / "out" / "report-2026-11.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert cjk_font_path() is not None


def test_text_that_looks_like_a_formula_stays_text_in_the_xlsx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    from desk.report import MonthlyReport, ReportRow

    evil = '=HYPERLINK("http://evil.example","点这里")'
    row = ReportRow(name=evil)
    report = MonthlyReport(month="2026-11", by_department=[row], by_commissioner=[ReportRow(name="+1 专员")],
                           total=ReportRow(name="合计"))
    path = write_xlsx(report, tmp_path / "r.xlsx")
    sheet = load_workbook(path)["按部门"]
    cell = sheet["A3"]
    assert cell.value == evil and cell.data_type == "s" and cell.quotePrefix  # shown as written, never run
    assert load_workbook(path)["按专员"]["A3"].data_type == "s"
