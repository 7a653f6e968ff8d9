"""Broken input is refused in Chinese that names the field and the row — never a Python message."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from core.config import Settings
from ingest.directory import parse_directory
from ingest.errors import IngestError
from ingest.loaders import split_front_matter
from ingest.pipeline import ingest_paths

_ENGLISH = re.compile(r"[A-Za-z]{4,}")  # a word of English (names like YAML/CSV/effective are fine below)
_ALLOWED = {"YAML", "front", "matter", "effective", "expires", "supersedes", "apply", "UTF"}  # key names


def _chinese_only(message: str) -> None:
    message = message.split("：", 1)[-1]  # after the file name
    words = set(_ENGLISH.findall(message)) - _ALLOWED
    assert not words, message


@pytest.mark.parametrize("day", ["2026-02-30", "2026-13-01"])
def test_a_date_no_calendar_has_is_named(day: str) -> None:
    with pytest.raises(IngestError) as caught:
        split_front_matter(f"---\ntitle: 通知\neffective: {day}\n---\n正文", name="通知.md")
    assert day in caught.value.message and "日期" in caught.value.message
    _chinese_only(caught.value.message)


def test_yaml_errors_are_explained_in_chinese() -> None:
    with pytest.raises(IngestError) as caught:
        split_front_matter("---\ntitle: 通知: 第二版\n---\n正文", name="通知.md")
    assert "第 2 行" in caught.value.message and "冒号" in caught.value.message  # the line in the file
    _chinese_only(caught.value.message)


def test_dates_in_lists_read_as_written() -> None:
    meta, _ = split_front_matter("---\ntitle: [2026-01-01, 第二版]\ntags: [2026-01-01, 稳岗]\n---\n正文")
    assert meta.title == "2026-01-01、第二版" and meta.tags == ("2026-01-01", "稳岗")


def test_an_unclosed_quote_in_a_csv_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "departments.csv"
    body = "部门,电话\n示范市财政局,\"0740" + "1" * (csv.field_size_limit() + 10) + "\n"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        parse_directory(path)
    assert "引号没有闭合" in caught.value.message and "第" in caught.value.message
    _chinese_only(caught.value.message)


def test_a_directory_yaml_with_an_impossible_date_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text("departments:\n  - 部门: 示范市财政局\n    办公时间: 2026-02-30\n", encoding="utf-8")
    report = ingest_paths(settings, [path])
    assert report.records_added == 0 and len(report.failed) == 1
    assert "日期" in report.failed[0][1]


def _laughs(levels: int = 9) -> str:
    """The billion-laughs shape: each level lists the previous one ten times (~450 bytes, 10^9 strings)."""
    lines = ['a0: &a0 "哈"']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines)


def test_a_billion_laughs_directory_yaml_is_refused_before_it_expands(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    laughs = _laughs().replace("\n", "\n    ")
    path.write_text(f"departments:\n  - 部门: 示范市财政局\n    关键词:\n    {laughs}\n", encoding="utf-8")
    assert path.stat().st_size < 1024
    report = ingest_paths(settings, [path])
    assert report.records_added == 0 and len(report.failed) == 1 and "别名" in report.failed[0][1]


def test_a_billion_laughs_front_matter_is_refused(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "通知.md"
    path.write_text(f"---\ntitle: 通知\n{_laughs()}\nsupersedes: *a9\n---\n# 通知\n正文\n", encoding="utf-8")
    report = ingest_paths(settings, [path])
    assert report.records_added == 0 and "别名" in report.failed[0][1]


def test_front_matter_lists_are_bounded() -> None:
    names = ", ".join(f"文件{i}.md" for i in range(500))
    with pytest.raises(IngestError, match="supersedes 列得太多"):
        split_front_matter(f"---\ntitle: 通知\nsupersedes: [{names}]\n---\n正文", name="通知.md")


TEXT = "示范市稳岗返还办法：参保企业可申请稳岗返还，由市人力资源和社会保障局负责受理和审核，资金直接拨付企业账户。"


def test_gbk_still_decodes_and_big5_is_read_as_big5() -> None:
    from ingest.loaders import decode_bytes

    assert decode_bytes(TEXT.encode("gbk")) == (TEXT, "gb18030")
    traditional = "示範市穩崗返還辦法：參保企業可申請穩崗返還，由市人力資源和社會保障局負責受理和審核。"
    assert decode_bytes(traditional.encode("big5")) == (traditional, "big5")


def test_japanese_bytes_are_refused_not_stored_as_garbage(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "通知.txt"
    path.write_bytes("東京都の中小企業支援制度について、申請方法と必要書類を説明します。".encode("shift_jis") * 5)
    report = ingest_paths(settings, [path])
    assert report.records_added == 0 and "编码无法可靠识别" in report.failed[0][1]
