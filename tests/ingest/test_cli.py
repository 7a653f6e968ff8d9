"""`zhitong ingest` and `python -m ingest` end to end, and what B's retrieval makes of the result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import _register_all, app
from core.config import Settings, load_settings
from knowledge.store import VectorStore
from tests.conftest import REPO_ROOT, SAMPLE_DIR
from tests.ingest.test_pipeline import make_city


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    if not any(c.name == "ingest" for c in app.registered_commands):  # other modules may have done it
        _register_all()
    return CliRunner()


def test_ingest_command_reports_changes(cli: CliRunner, tmp_path: Path) -> None:
    city = make_city(tmp_path / "city")
    base = ["--data-dir", str(tmp_path / "var")]
    first = cli.invoke(app, [*base, "ingest", str(city)])
    assert first.exit_code == 0, first.output
    assert "新增 4 个文件" in first.output and "services.csv（3 条记录）" in first.output
    assert "services.csv 第 4 行：事项“宠物医院设立审批”的办理部门“示范市宠物管理局”不在部门目录中" in first.output
    again = cli.invoke(app, [*base, "ingest", str(city), "--json"])
    assert again.exit_code == 0
    data = json.loads(again.stdout)
    assert data["added"] == [] and sorted(data["skipped"]) == sorted(
        ["departments.csv", "services.csv", "小餐饮.md", "房租.txt"])
    assert data["totals"]["service"] == 3 and data["records_added"] == 0
    forced = cli.invoke(app, [*base, "ingest", "-q", "--force", str(city / "policies")])
    assert forced.exit_code == 0 and "更新 2 个" in forced.output and "新增 0 条" in forced.output


def test_ingest_command_exits_1_on_bad_files_with_chinese_messages(cli: CliRunner, tmp_path: Path) -> None:
    fixtures = SAMPLE_DIR / "fixtures"
    result = cli.invoke(app, ["--data-dir", str(tmp_path / "var"), "ingest", "-q",
                              str(fixtures / "corrupt.pdf"), str(fixtures / "empty.txt"),
                              str(fixtures / "wrong_headers.csv")])
    assert result.exit_code == 1
    assert "corrupt.pdf：PDF 文件已损坏，无法读取" in result.output
    assert "empty.txt：文件为空" in result.output
    assert "wrong_headers.csv：无法识别表头" in result.output
    assert "Traceback" not in result.output


def test_python_dash_m_ingest_takes_root_options_anywhere(tmp_path: Path) -> None:
    missing = tmp_path / "没有这个文件.md"
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", str(missing), "--data-dir", str(tmp_path / "var"), "--quiet"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "ZHITONG_CONFIG": str(tmp_path / "none.toml"), "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 1, proc.stderr
    assert f"{missing}：路径不存在" in proc.stdout
    assert (tmp_path / "var" / "zhitong.db").exists()  # --data-dir after the path still applied


def test_demo_city_is_answerable_after_ingest(settings: Settings, store: VectorStore) -> None:
    """The contract between ingest and retrieval, exercised: what ingest wrote, B's service finds."""
    from ingest.pipeline import ingest_paths
    from knowledge.service import KnowledgeService

    policies = SAMPLE_DIR / "policies"
    report = ingest_paths(settings, [SAMPLE_DIR / "directory", policies / "示范市惠企稳岗十条措施.md",
                                     policies / "示范市2023年稳就业若干措施.md"], store=store)
    assert report.failed == [] and report.row_errors == []
    assert report.totals["service"] == 66 and report.totals["departments"] == 28
    service = KnowledgeService.open(load_settings(data_dir=settings.data_dir), store=store)
    answer = service.ask("开饭店要办什么证？")
    assert answer.hits and answer.hits[0].record.department == "示范市市场监督管理局"
    policy = service.ask("稳岗返还比例是多少")
    cited = [h.record.citation for h in policy.hits if h.record.kind == "policy"]
    assert cited and not any("2023年稳就业" in c for c in cited)  # the superseded, expired file
