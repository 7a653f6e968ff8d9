"""The monthly report's 政策直达 section: figures of the month, in the terminal tables and the .xlsx."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from desk.report import render_tables, write_xlsx
from desk.service import Desk
from push.models import Response
from push.report import build_report
from push.service import PushService
from tests.push.conftest import ADMIN, RENT_RELIEF, add_owner, add_policy

META = {"applies_to": {"industries": ["住宿和餐饮业"]}, "benefit": "申请"}


async def test_push_section_of_the_monthly_report(engine, desk: Desk, pushes: PushService, tmp_path: Path) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=META)
    await add_policy(engine, "制造业补贴.md", RENT_RELIEF, push_meta={"applies_to": {"industries": ["采矿业"]}})
    owners = [await add_owner(desk, pushes, n, industry="住宿和餐饮业") for n in (1, 2)]
    for campaign in await pushes.sync_from_knowledge():
        await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    for due in await pushes.claim_due("w1"):
        await pushes.mark_sent(due.id)
        if due.tg_user_id == owners[0].tg:
            await pushes.respond(due.id, due.tg_user_id, Response.NOT_APPLICABLE, "已经享受")
    report = await build_report(desk, pushes, "2026-11")
    (section,) = report.sections
    lines = dict(section.lines)
    assert section.title == "政策直达"
    assert lines["本月批准的政策推送"] == "2" and lines["推送条数"] == "2" and lines["覆盖企业"] == "2"
    assert lines["不适用"] == "1" and lines["不适用原因"] == "已经享受 1"
    assert lines["没有匹配到企业的政策"] == "制造业补贴"
    assert lines["不适用最多的政策"] == "《房租减免》1"
    assert any(t.title and "政策直达" in str(t.title) for t in render_tables(report))
    book = load_workbook(write_xlsx(report, tmp_path / "r.xlsx"))
    sheet = book["政策直达"]
    assert [c.value for c in sheet["A"]][1:4] == ["本月批准的政策推送", "推送条数", "覆盖企业"]
    october = await build_report(desk, pushes, "2026-10")
    assert dict(october.sections[0].lines)["推送条数"] == "0"
