"""Per-passage department credit: each measure of a multi-measure policy goes to its own lead department."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from core.config import Settings
from core.db import make_sync_engine, sync_session
from ingest.directory import DepartmentIndex
from ingest.pipeline import ingest_paths
from ingest.responsibility import ResponsibleDepartments
from knowledge.models import KbRecord

INDEX = DepartmentIndex([
    ("青岚市人力资源和社会保障局", ["人社局"]),
    ("青岚市财政局", []),
    ("中国人民银行青岚市分行", ["人行"]),
    ("国家税务总局青岚市税务局", ["税务局"]),
    ("青岚市工业和信息化局", ["工信局"]),
])


def test_lead_departments_are_resolved_as_policies_write_them() -> None:
    finder = ResponsibleDepartments(INDEX)
    assert finder.in_passage("（牵头单位：国家税务总局青岚市税务局；责任单位：市财政局）") == "国家税务总局青岚市税务局"
    # "市" prefix, and 人力资源社会保障局 without 和
    assert finder.in_passage("按60%返还。（牵头单位：市人力资源社会保障局；配合单位：市财政局）") == "青岚市人力资源和社会保障局"
    assert finder.in_passage("（牵头单位：人民银行青岚市分行）") == "中国人民银行青岚市分行"
    assert finder.in_passage("本项措施由市财政局负责。") == "青岚市财政局"
    # Overlapping chunks: the passage's own (last) measure wins.
    assert finder.in_passage("（牵头单位：市工业和信息化局）。（二）下一条……（牵头单位：市财政局）") == "青岚市财政局"
    assert finder.in_passage("支持企业发展，加大扶持力度。") == ""
    assert finder.resolve("市公安局") is None  # not in the directory: never guessed


def test_each_measure_is_credited_to_its_lead_department(settings: Settings, tmp_path: Path) -> None:
    city = tmp_path / "city"
    (city / "directory").mkdir(parents=True)
    (city / "policies").mkdir()
    (city / "directory" / "departments.csv").write_text(
        "部门,别名,职能\n青岚市工业和信息化局,工信局,中小企业\n青岚市财政局,,财政\n"
        "青岚市人力资源和社会保障局,人社局,就业\n", encoding="utf-8")
    (city / "policies" / "若干措施.md").write_text(
        "---\ntitle: 青岚市支持中小微企业发展若干措施\ndepartment: 青岚市工业和信息化局\n---\n"
        "# 青岚市支持中小微企业发展若干措施\n\n"
        "## 一、扩大政府采购份额\n预留采购项目预算总额的40%以上专门面向中小企业采购。（牵头单位：市财政局）\n\n"
        "## 二、延续稳岗返还\n按企业上年度实际缴纳失业保险费的60%返还。（牵头单位：市人力资源社会保障局）\n\n"
        "## 三、奖励专精特新企业\n新认定的省级专精特新中小企业一次性奖励20万元。\n", encoding="utf-8")
    report = ingest_paths(settings, [city])
    assert not report.failed
    engine = make_sync_engine(settings.database_url)
    with sync_session(engine) as session:
        rows = session.exec(select(KbRecord).where(KbRecord.kind == "policy")).all()
    engine.dispose()
    by_section = {row.section: row.department for row in rows}
    credited = {next(d for s, d in by_section.items() if word in s) for word in ("采购",)}
    assert credited == {"青岚市财政局"}
    assert next(d for s, d in by_section.items() if "稳岗" in s) == "青岚市人力资源和社会保障局"
    # No lead named: the front matter's department is the fallback.
    assert next(d for s, d in by_section.items() if "专精特新" in s) == "青岚市工业和信息化局"


def test_a_chunk_holding_several_measures_becomes_one_record_each(settings: Settings, tmp_path: Path) -> None:
    finder = ResponsibleDepartments(INDEX)
    text = ("（五）降低融资担保费率。担保费率不超过1%。由市财政局负责，市工业和信息化局配合。"
            "（六）加大普惠信贷投放。设立20亿元支小再贷款专项额度。（牵头单位：人民银行青岚市分行；责任单位：各商业银行）"
            "（七）用好应急转贷资金。单笔最高3000万元。（牵头单位：市工业和信息化局；责任单位：市财政局）")
    pieces = finder.measures(text)
    assert [(text[a:b][:4], dept) for a, b, dept in pieces] == [
        ("（五）降", "青岚市财政局"), ("（六）加", "中国人民银行青岚市分行"), ("（七）用", "青岚市工业和信息化局")]
    assert pieces[-1][1] == len(text)  # the trailing 责任单位 clause stays with its measure
    assert finder.measures("（一）只有一条措施。（牵头单位：市财政局）") == []

    city = tmp_path / "city"
    (city / "directory").mkdir(parents=True)
    (city / "policies").mkdir()
    (city / "directory" / "departments.csv").write_text(
        "部门,别名\n青岚市工业和信息化局,工信局\n青岚市财政局,\n中国人民银行青岚市分行,人行\n", encoding="utf-8")
    (city / "policies" / "金融措施.md").write_text(
        f"---\ntitle: 金融支持措施\ndepartment: 青岚市工业和信息化局\n---\n# 金融支持措施\n\n## 二、强化金融支持\n\n{text}\n",
        encoding="utf-8")
    assert not ingest_paths(settings, [city]).failed
    engine = make_sync_engine(settings.database_url)
    with sync_session(engine) as session:
        rows = session.exec(select(KbRecord).where(KbRecord.kind == "policy")).all()
    engine.dispose()
    by_measure = {m: row for row in rows for m in ("（五）", "（六）", "（七）") if m in row.data["quote"]}
    assert by_measure["（五）"].department == "青岚市财政局"
    assert by_measure["（六）"].department == "中国人民银行青岚市分行"
    assert by_measure["（七）"].department == "青岚市工业和信息化局"
    source = (city / "policies" / "金融措施.md").read_text(encoding="utf-8")
    for row in by_measure.values():  # spans still point at the exact text in the file body
        quote = row.data["quote"]
        assert quote in source
    assert "（六）加大普惠信贷投放" in by_measure["（六）"].section  # cited by its own heading
    assert by_measure["（六）"].citation.endswith("（六）加大普惠信贷投放")


def test_front_matter_names_another_citys_form_of_a_department(settings: Settings, tmp_path: Path) -> None:
    city = tmp_path / "city"
    (city / "directory").mkdir(parents=True)
    (city / "policies").mkdir()
    (city / "directory" / "departments.csv").write_text(
        "部门,别名\n示范市人力资源和社会保障局,人社局\n示范市财政局,\n", encoding="utf-8")
    (city / "policies" / "稳岗.md").write_text(
        "---\ntitle: 稳岗返还办法\ndepartment: 云川市人力资源和社会保障局\n---\n# 稳岗返还办法\n\n一、对象\n参保企业。\n",
        encoding="utf-8")
    (city / "policies" / "社保.md").write_text(
        "---\ntitle: 社保补贴办法\ndepartment: 劳动局\n---\n# 社保补贴办法\n\n一、对象\n参保企业。\n", encoding="utf-8")
    report = ingest_paths(settings, [city])
    assert not report.failed and not report.warnings  # no phantom department, no warning
    engine = make_sync_engine(settings.database_url)
    with sync_session(engine) as session:
        departments = {row.department for row in session.exec(select(KbRecord).where(KbRecord.kind == "policy")).all()}
    engine.dispose()
    assert departments == {"示范市人力资源和社会保障局"}
