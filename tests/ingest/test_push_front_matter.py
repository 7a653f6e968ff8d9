"""Policy push metadata at ingest: `applies_to`, `benefit`, `apply_by`, `summary` from front matter, read
against the audience vocabulary; names it does not know are reported in the change report."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from ingest.errors import IngestError
from ingest.loaders import split_front_matter
from ingest.pipeline import ingest_paths
from knowledge.store import VectorStore
from tests.ingest.conftest import KB

POLICY = """---
title: 示范市餐饮业纾困补贴通知
department: 市商务局
applies_to:
  industries: [餐饮, 美食]
  sizes: 小微企业
  tags: [个体户, 独角兽]
benefit: 免申即享
apply_by: 2027-03-31
summary: 小微餐饮企业每户补贴 1 万元。
---
# 示范市餐饮业纾困补贴通知

一、补贴对象：本市餐饮企业。二、补贴标准：每户 1 万元，由市商务局直接拨付。
"""


def test_push_front_matter_is_stored_and_unknown_names_are_reported(tmp_path: Path, settings: Settings,
                                                                     store: VectorStore, kb: KB) -> None:
    path = tmp_path / "纾困补贴.md"
    path.write_text(POLICY, encoding="utf-8")
    report = ingest_paths(settings, [path], store=store)
    assert report.ok
    warning = " ".join(m for n, m in report.warnings if n == path.name)
    assert "美食" in warning and "独角兽" in warning  # reported, not dropped in silence
    assert "美食" in report.summary_zh()
    meta = kb.sources()[path.name].push_meta
    assert meta["applies_to"]["industries"] == ["住宿和餐饮业", "美食"]
    assert meta["applies_to"]["sizes"] == ["微型", "小型"]
    assert meta["applies_to"]["tags"] == ["个体工商户", "独角兽"]
    assert meta["benefit"] == "免申即享" and meta["apply_by"] == "2027-03-31"
    assert meta["summary"] == "小微餐饮企业每户补贴 1 万元。"


def test_push_an_unknown_benefit_is_a_warning_not_a_failure(tmp_path: Path, settings: Settings,
                                                             store: VectorStore, kb: KB) -> None:
    path = tmp_path / "通知.md"
    path.write_text("---\nbenefit: 看情况\n---\n# 通知\n\n对企业给予补贴。", encoding="utf-8")
    report = ingest_paths(settings, [path], store=store)
    assert report.ok and any("看情况" in m for _, m in report.warnings)
    assert "benefit" not in kb.sources()[path.name].push_meta


def test_push_a_bad_apply_by_date_is_refused_in_chinese() -> None:
    with pytest.raises(IngestError) as caught:
        split_front_matter("---\napply_by: 2027-02-30\n---\n正文", name="通知.md")
    assert "2027-02-30" in caught.value.message and "apply_by" in caught.value.message
