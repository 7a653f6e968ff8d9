"""`zhitong ask / eval / chat / demo` in-process through Typer, on a small KB ingested by the real
ingest pipeline (A's `ingest.pipeline.ingest_paths`) into a temporary data dir."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import _register_all, app
from core.config import load_settings
from ingest.pipeline import ingest_paths
from tests.conftest import SAMPLE_DIR

FIXTURES = SAMPLE_DIR / "fixtures"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    if not any(c.name == "ask" for c in app.registered_commands):
        _register_all()
    return CliRunner()


@pytest.fixture(scope="module")
def sample_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny city in the demo layout: directory/ (YAML directory) and policies/ (two policies)."""
    root = tmp_path_factory.mktemp("city")
    (root / "directory").mkdir()
    (root / "policies").mkdir()
    shutil.copy(FIXTURES / "directory.yaml", root / "directory" / "directory.yaml")
    shutil.copy(FIXTURES / "injection.md", root / "policies" / "injection.md")
    shutil.copy(FIXTURES / "policy_gbk.txt", root / "policies" / "policy_gbk.txt")
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, sample_city: Path) -> Path:
    path = tmp_path_factory.mktemp("var")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZHITONG_CONFIG", str(path / "absent.toml"))
        report = ingest_paths(
            load_settings(data_dir=path), [sample_city / "directory", sample_city / "policies"]
        )
    assert report.ok and report.records_added > 0
    return path


def test_ask_json_contract(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ask", "开饭店要办什么证", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(data) == {"question", "answer", "intent", "route_to_desk", "matches", "latency_ms"}
    assert data["question"] == "开饭店要办什么证" and data["route_to_desk"] is False and data["intent"] == "answer"
    top = data["matches"][0]
    assert set(top) == {"kind", "title", "department", "score", "source"}
    assert top["department"] == "示范市市场监督管理局" and top["source"].startswith("directory.yaml")
    assert "来源：" in data["answer"]


def test_ask_alias_resolves_to_canonical_department(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ask", "消防队在哪里办公", "--json"])
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["matches"][0]["department"] == "示范市消防救援支队"
    assert "0740-81241001" in data["answer"]


def test_ask_plain_text_and_desk_hint(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ask", "消防检查拖了一个月没人管"])
    assert result.exit_code == 0
    assert "办不成事" in result.stdout and "示范市消防救援支队" in result.stdout


def test_policy_text_is_quoted_never_obeyed(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ask", "小餐饮要不要取得许可", "--json"])
    data = json.loads(result.stdout.strip().splitlines()[-1])
    answer = data["answer"]
    # Whatever the file says, the composer only quotes and cites it; it never turns it into advice.
    assert "6222" not in answer.split("“")[0]
    assert "「" in answer and "来源：" in answer


def test_ask_rejects_bad_mode_and_handles_emoji(runner: CliRunner, data_dir: Path) -> None:
    bad = runner.invoke(app, ["--data-dir", str(data_dir), "ask", "开饭店", "--mode", "magic"])
    assert bad.exit_code == 2 and "--mode" in bad.output
    emoji = runner.invoke(app, ["--data-dir", str(data_dir), "ask", "😀😀", "--json"])
    data = json.loads(emoji.stdout.strip().splitlines()[-1])
    assert data["route_to_desk"] is False and data["matches"] == [] and "文字" in data["answer"]


def test_eval_json_and_modes(runner: CliRunner, data_dir: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    lines = [
        {"q": "开饭店要办什么证", "department": "示范市市场监督管理局", "route_to_desk": False},
        {"q": "工商局在哪", "department": "示范市市场监督管理局", "route_to_desk": False},
        {"q": "开业前消防检查找谁", "department": "消防队", "route_to_desk": False},  # alias → canonical
        {"q": "我要投诉，拖了三个月", "department": "", "route_to_desk": True},
    ]
    questions.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    for mode in ("hybrid", "dense", "lexical"):
        result = runner.invoke(
            app, ["--data-dir", str(data_dir), "eval", str(questions), "--json", "--mode", mode]
        )
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout.strip().splitlines()[-1])
        assert set(data) == {"n", "hit@1", "hit@3", "mrr", "routing_accuracy", "p50_ms", "p95_ms"}
        assert data["n"] == 4 and data["routing_accuracy"] == 1.0
        assert data["hit@3"] == 1.0 and data["hit@1"] <= data["hit@3"] and 0 < data["mrr"] <= 1
    table = runner.invoke(app, ["--data-dir", str(data_dir), "eval", str(questions), "--misses"])
    assert table.exit_code == 0 and "hit@1" in table.stdout


def test_eval_bad_files_get_chinese_messages(runner: CliRunner, data_dir: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["--data-dir", str(data_dir), "eval", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "找不到评测文件" in missing.output
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        '{"q": "开饭店", "department": "示范市市场监督管理局"}\nnot json\n{"x": 1}\n', encoding="utf-8"
    )
    result = runner.invoke(app, ["--data-dir", str(data_dir), "eval", str(broken), "--json"])
    assert result.exit_code == 0
    assert "第 2 行不是有效的 JSON" in result.output and "第 3 行缺少问题字段" in result.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert runner.invoke(app, ["--data-dir", str(data_dir), "eval", str(empty)]).exit_code == 2


def test_chat_answers_until_exit(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "chat"], input="开饭店要办什么证\n\n😀\n退出\n")
    assert result.exit_code == 0, result.output
    assert "食品经营许可" in result.stdout and "请用文字描述" in result.stdout and "再见" in result.stdout


def test_chat_stops_at_a_slash_command_exit(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "chat"], input="/quit\n开饭店要办什么证\n")
    assert result.exit_code == 0, result.output
    assert "再见" in result.stdout and "食品经营许可" not in result.stdout  # the question after /quit is never asked


def test_demo_ingests_incrementally_then_chats(runner: CliRunner, sample_city: Path, tmp_path: Path) -> None:
    data = tmp_path / "demo-var"
    first = runner.invoke(
        app, ["--data-dir", str(data), "demo", "--sample-dir", str(sample_city), "--no-chat"]
    )
    assert first.exit_code == 0, first.output
    assert "新增 3 个文件" in first.stdout
    second = runner.invoke(
        app, ["--data-dir", str(data), "demo", "--sample-dir", str(sample_city)], input="工商局电话\n退出\n"
    )
    assert second.exit_code == 0, second.output
    assert "未变化跳过 3 个" in second.stdout
    assert "0740-81233001" in second.stdout and "再见" in second.stdout
    missing = runner.invoke(app, ["--data-dir", str(data), "demo", "--sample-dir", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "找不到示范数据目录" in missing.output


def test_train_intent_trains_with_city_examples_and_reports(runner: CliRunner, data_dir: Path) -> None:
    examples = data_dir / "intent"
    examples.mkdir(exist_ok=True)
    city = examples / "city.jsonl"
    city.write_text(
        json.dumps({"text": "彩虹桥片区的摊位证找谁", "family": "consult"}, ensure_ascii=False) + "\n", encoding="utf-8")
    holdout = data_dir / "held.jsonl"
    holdout.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in [
            {"text": "你好呀", "family": "chatter"}, {"text": "营业执照在哪办", "family": "consult"},
            {"text": "拖了三个月都没人管，我要投诉", "family": "complaint"}]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["--data-dir", str(data_dir), "train-intent", "--holdout", str(holdout)])
    assert result.exit_code == 0, result.output
    assert "city.jsonl：1 条" in result.stdout and "意图准确率" in result.stdout
    assert (data_dir / "intent_model.joblib").is_file()
    city.unlink()  # the data dir is shared by this module's tests


def test_train_intent_refuses_a_broken_examples_file(runner: CliRunner, data_dir: Path) -> None:
    examples = data_dir / "intent"
    examples.mkdir(exist_ok=True)
    bad = examples / "bad.jsonl"
    bad.write_text('{"text": "x", "family": "???"}\n', encoding="utf-8")
    try:
        result = runner.invoke(app, ["--data-dir", str(data_dir), "train-intent"])
    finally:
        bad.unlink()
    assert result.exit_code == 2 and "第 1 行" in result.output


def test_ask_json_declines_chatter(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ask", "今天天气怎么样", "--json"])
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["intent"] == "decline" and data["route_to_desk"] is False and data["matches"] == []


def test_eval_reports_intent_accuracy_when_the_file_names_intents(runner: CliRunner, data_dir: Path) -> None:
    path = data_dir / "q.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"q": "开饭店要办什么证", "department": "示范市市场监督管理局", "intent": "answer", "kind": "direct"},
        {"q": "你好", "department": "", "intent": "decline", "kind": "chatter"},
    ]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["--data-dir", str(data_dir), "eval", str(path), "--json"])
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["intent_accuracy"] == 1.0 and data["routing_accuracy"] == 1.0


def test_a_broken_city_examples_file_does_not_stop_answering(runner: CliRunner, data_dir: Path) -> None:
    examples = data_dir / "intent"
    examples.mkdir(exist_ok=True)
    bad = examples / "broken.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    try:
        result = runner.invoke(app, ["--data-dir", str(data_dir), "ask", "开饭店要办什么证", "--json"])
    finally:
        bad.unlink()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["intent"] == "answer"


def test_chat_files_a_ticket_from_the_terminal(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(
        app, ["--data-dir", str(data_dir), "chat"], input="转人工\n我的环评拖了三个月没人管\n转人工\n退出\n"
    )
    assert result.exit_code == 0, result.output
    assert "请先描述您要办的事" in result.stdout  # nothing to file yet
    assert "输入“转人工”即可在这里提交" in result.stdout
    number = re.search(r"工单号 (\S+?)。", result.stdout)
    assert number, result.stdout
    from sqlmodel import select

    from core.db import make_sync_engine, sync_session
    from desk.models import Ticket

    engine = make_sync_engine(f"sqlite+aiosqlite:///{data_dir / 'zhitong.db'}")
    with sync_session(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number.group(1))).one()
    engine.dispose()
    assert "环评拖了三个月" in ticket.description and ticket.state == "new"  # committed, waiting for a commissioner


def test_the_demo_finds_the_shipped_demo_city_by_default() -> None:
    """`zhitong demo` without --sample-dir (the README's first command) reads the repository's demo city;
    a package move once made the default point one directory too high."""
    from cli.kb import SAMPLE_DIR

    assert (SAMPLE_DIR / "directory").is_dir() and (SAMPLE_DIR / "policies").is_dir()
    assert SAMPLE_DIR.resolve() == (Path(__file__).resolve().parents[2] / "data" / "sample")
