"""`zhitong staff|enterprise|desk|report` end to end on a SQLite data dir (same Desk as the bot)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from cli import _register_all, app


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    if not any(g.name == "desk" for g in app.registered_groups):  # other test modules may have done it
        _register_all()
    return CliRunner()


def test_desk_commands(cli: CliRunner, tmp_path: Path) -> None:
    base = ["--data-dir", str(tmp_path / "var")]

    def run(*args: str, code: int = 0) -> str:
        result = cli.invoke(app, [*base, *args])
        assert result.exit_code == code, (args, result.output)
        return result.output

    run("staff", "add", "11", "张敏", "--dept", "市场监管局")
    run("staff", "add", "12", "王芳", "--dept", "税务局")
    run("staff", "add", "99", "赵局长", "--role", "leader")
    assert "张敏" in run("staff", "list")
    assert "校验位" in run("enterprise", "add", "--name", "城东小饭馆", "--code", "91110000600037341X", code=1)
    run("enterprise", "add", "--name", "城东小饭馆", "--code", "91110000600037341L", "--tg", "500")
    assert "承办：张敏" in run("desk", "open", "--title", "许可证未发", "--department", "市场监管局", "--requester", "500")
    assert "待受理" in run("desk", "list", "--as", "11")
    assert "工单（0）" in run("desk", "list", "--as", "12")  # another department sees nothing
    assert "不负责" in run("desk", "claim", "1", "--as", "12", code=1)
    assert "找不到工单" in run("desk", "claim", "BC-20990101-0001", "--as", "11", code=1)
    assert "已受理" in run("desk", "claim", "1", "--as", "11")
    run("desk", "reply", "1", "已联系审批科", "--as", "11")
    assert "不能为空" in run("desk", "resolve", "1", "--as", "11", code=1)
    run("desk", "resolve", "1", "--note", "已制证", "--as", "11")
    run("desk", "close", "1", "--note", "电话确认", "--as", "11")
    shown = run("desk", "show", "1", "--as", "99")
    assert "已销号" in shown and "resolved→closed" in shown and "已联系审批科" in shown
    ticked = run("desk", "tick")
    assert "接收超期 0" in ticked and "待补充提醒 0" in ticked and "待补充跟进 0" in ticked
    assert "enterprise" in run("desk", "outbox")
    run("staff", "remove", "12")
    assert "王芳" not in run("staff", "list")


def test_report_command(cli: CliRunner, tmp_path: Path) -> None:
    base = ["--data-dir", str(tmp_path / "var")]
    seeded = cli.invoke(app, [*base, "desk", "demo", "--month", "2026-11", "--tickets", "6", "--yes"])
    assert seeded.exit_code == 0, seeded.output
    result = cli.invoke(app, [*base, "report", "--month", "2026-11", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "按部门" in result.output and "合计" in result.output
    wb = load_workbook(tmp_path / "out" / "desk-report-2026-11.xlsx")
    assert wb["按专员"]["A2"].value == "名称"
    assert (tmp_path / "out" / "desk-report-2026-11.png").stat().st_size > 20_000
    bad = cli.invoke(app, [*base, "report", "--month", "11/2026"])
    assert bad.exit_code == 1 and "YYYY-MM" in bad.output
