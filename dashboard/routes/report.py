"""月度通报: the same report service as `zhitong report`, as a page, a PNG chart and an .xlsx download."""

from __future__ import annotations

import asyncio
import re
import tempfile
import threading
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from dashboard.deps import LeaderStaff, StateDep
from desk.errors import InvalidInput
from desk.report import COLUMNS, parse_month, write_chart, write_xlsx
from push.report import build_report

router = APIRouter(prefix="/report")
MonthQuery = Annotated[str, Query(max_length=7)]
# pyplot keeps global state: one chart at a time, whichever thread draws it.
_chart_lock = threading.Lock()
_MONTH = re.compile(r"^\d{4}-\d{2}$")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month(state: StateDep, month: str) -> str:
    """The requested month (YYYY-MM), default the current month in the desk's timezone."""
    if not month:
        return state.clock.now().astimezone(state.desk.calendar.tz).strftime("%Y-%m")
    if not _MONTH.match(month):
        raise InvalidInput(f"月份「{month}」格式不对，应为 YYYY-MM，例如 2026-11。")
    parse_month(month, state.desk.calendar.tz)  # raises the desk's Chinese error for e.g. 2026-13
    return month


def _draw_png(report: object) -> bytes:
    with _chart_lock, tempfile.TemporaryDirectory() as tmp:
        path = write_chart(report, Path(tmp) / "chart.png")  # type: ignore[arg-type]
        return path.read_bytes()


def _xlsx_bytes(report: object) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write_xlsx(report, Path(tmp) / "report.xlsx").read_bytes()  # type: ignore[arg-type]


@router.get("")
async def report_page(
    request: Request, state: StateDep, user: LeaderStaff, month: MonthQuery = ""
) -> Response:
    month = _month(state, month)
    report = await build_report(state.desk, state.push, month)
    return state.templates.TemplateResponse(
        request,
        "report.html",
        {"user": user, "nav": "report", "month": month, "report": report, "columns": COLUMNS},
    )


@router.get("/chart.png")
async def report_chart(state: StateDep, user: LeaderStaff, month: MonthQuery = "") -> Response:
    month = _month(state, month)
    report = await build_report(state.desk, state.push, month)
    png = await asyncio.to_thread(_draw_png, report)  # matplotlib is slow and sync: keep it off the loop
    return Response(png, media_type="image/png", headers={"cache-control": "private, max-age=60"})


@router.get("/xlsx")
async def report_xlsx(state: StateDep, user: LeaderStaff, month: MonthQuery = "") -> Response:
    month = _month(state, month)
    report = await build_report(state.desk, state.push, month)
    data = await asyncio.to_thread(_xlsx_bytes, report)
    filename = f"办不成事月通报-{month}.xlsx"
    disposition = f"attachment; filename=\"report-{month}.xlsx\"; filename*=UTF-8''{quote(filename)}"
    return Response(data, media_type=XLSX_TYPE, headers={"content-disposition": disposition})
