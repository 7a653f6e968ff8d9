"""Admins uploading files (change report, refusals that change nothing) and a restart mid-intake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handlers import texts
from tests.auxil.botapi_server import BotApiServer
from tests.conftest import SAMPLE_DIR
from tests.e2e.conftest import ADMIN_ID, STAFF_GROUP, add_default_staff, bot_settings, run_bot


async def test_admin_uploads_docx_and_csv_and_gets_change_report(api: BotApiServer, tmp_path: Path) -> None:
    # Its own, initially empty knowledge base: the uploads are all it knows.
    settings = bot_settings(api, tmp_path / "var")
    async with run_bot(api, settings, None) as bot:
        admin = bot.user(ADMIN_ID, "管理员")
        uploads = settings.data_dir / "uploads"

        docx = (SAMPLE_DIR / "policies" / "工程建设项目审批流程.docx").read_bytes()
        admin.send_document("工程建设项目审批流程.docx", docx)
        await admin.expect("已收到")
        report = await admin.expect("入库完成", timeout=60)
        assert "新增" in report.text and "工程建设项目审批流程.docx" in report.text

        csv = (SAMPLE_DIR / "directory" / "departments.csv").read_bytes()
        admin.send_document("departments.csv", csv, mime_type="text/csv")
        report = await admin.expect("入库完成", timeout=60)
        assert "departments.csv" in report.text and "新增" in report.text
        assert sorted(p.name for p in uploads.iterdir()) == ["departments.csv", "工程建设项目审批流程.docx"]

        # The new knowledge answers at once (the bot reloaded retrieval after the ingest).
        owner = bot.user(701)
        owner.send("市场监管局在哪里办公")
        answer = await owner.expect("市场监督管理局", timeout=20)
        assert "departments.csv" in answer.text

        admin.send("/kb")
        kb = await admin.expect("知识库概况")
        assert "文件：2" in kb.text
        stats_before = bot.services.knowledge.stats()

        # The same file again: skipped, nothing changes.
        admin.send_document("departments.csv", csv, mime_type="text/csv")
        report = await admin.expect("入库完成", timeout=60)
        assert "跳过 1" in report.text or "未变化" in report.text

        # Unsupported type, oversized declaration, a corrupt docx: a clear reply, nothing changes.
        admin.send_document("virus.exe", b"MZ\x90\x00")
        assert "不支持的文件类型" in (await admin.expect("不支持")).text
        admin.send_document("huge.pdf", b"%PDF-1.4 tiny", declared_size=300 * 1024 * 1024)
        assert "文件太大" in (await admin.expect("文件太大")).text
        admin.send_document("坏文件.docx", b"this is not a zip file at all")
        failed = await admin.expect(lambda e: "坏文件.docx" in e.text and ("失败" in e.text), timeout=60)
        assert failed is not None
        assert sorted(p.name for p in uploads.iterdir() if not p.name.startswith(".")) == [
            "departments.csv", "工程建设项目审批流程.docx"]
        after = bot.services.knowledge.stats()
        assert (after["records"], after["files"], after["vectors"]) == (
            stats_before["records"], stats_before["files"], stats_before["vectors"])

        admin.send("/reindex")
        report = await admin.expect("入库完成", timeout=60)
        assert "跳过 2" in report.text or "未变化" in report.text

        admin.send("/stats")
        stats = await admin.expect("使用统计")
        assert "提问 1 次" in stats.text


async def test_restart_in_the_middle_of_an_intake(api: BotApiServer, tmp_path: Path, knowledge: Any) -> None:
    settings = bot_settings(api, tmp_path / "var")
    async with run_bot(api, settings, knowledge) as bot:
        await add_default_staff(bot)
        owner = bot.user(702, "吴老板")
        owner.send("我的环评拖了三个月没人管")
        answer = await owner.expect(lambda e: bool(e.buttons()))
        owner.press(answer, texts.BTN_ESCALATE)
        owner.press(await owner.expect("第 1 步"), texts.BTN_USE_QUESTION)
        owner.press(await owner.expect("第 2 步"), "跨部门")
        await owner.expect("第 3 步")

    # A new Application on the same data dir (same Bot API server): the intake continues at step 3.
    async with run_bot(api, settings, knowledge) as bot:
        owner = bot.user(702, "吴老板")
        owner.skip_all()
        owner.send("环保和住建互相推，说要对方先盖章。")
        summary = await owner.expect("请确认提交")
        assert "跨部门" in summary.text and "我的环评拖了三个月没人管" in summary.text
        owner.press(summary, "确认提交")
        confirmation = await owner.expect("工单号")
        number = confirmation.text.split("工单号 ")[1].split("。")[0]
        ticket = await bot.services.desk.get_ticket(number)
        assert ticket.reason == "跨部门" and "互相推" in ticket.description
        assert "我的环评拖了三个月没人管" in ticket.transcript
        await api.wait_for(lambda e: e.chat_id == STAFF_GROUP and number in e.text)
        # Exactly one ticket, one confirmation: nothing replayed twice after the restart.
        assert len(await bot.services.desk.list_enterprise_tickets(702)) == 1
        assert sum(1 for e in api.events if e.chat_id == 702 and "工单号" in e.text) == 1
