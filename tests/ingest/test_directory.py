"""Directory files: encodings, both header languages, kinds from headers, merging, bad rows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.directory import DepartmentIndex, department_text, parse_directory, resolve_services, service_text
from ingest.errors import IngestError
from ingest.tables import RowError, detect_kind
from tests.conftest import GUANGDONG_DIR, SAMPLE_DIR
from tests.ingest.conftest import write_xlsx

FIXTURES = SAMPLE_DIR / "fixtures"
DEPT_CSV = (
    "部门,别名,职能,科室,科室职责,负责人,电话,地址,办公时间\n"
    "示范市市场监督管理局,工商局、市场监管局,市场主体登记,登记注册科,营业执照核发,李娜,0740-1,市民中心A区,工作日\n"
    "示范市市场监督管理局,工商局,,食品经营许可科,食品经营许可,赵强,0740-2,,\n"
    ",,,无名科,,,,,\n"
    "示范市税务局,国税局、地税局,税收征管,,,王五,12366,税兴路6号,工作日\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_department_csv_encodings_and_merge(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "departments.csv"
    path.write_bytes(DEPT_CSV.encode(encoding))
    parsed = parse_directory(path)
    assert [t.kind for t in parsed.tables] == ["departments"]
    by_name = {d.name: d for d in parsed.departments}
    assert set(by_name) == {"示范市市场监督管理局", "示范市税务局"}
    market = by_name["示范市市场监督管理局"]
    assert market.aliases == ["工商局", "市场监管局"]  # merged across rows, no duplicates
    assert [s.name for s in market.sections] == ["登记注册科", "食品经营许可科"]
    assert market.sections[1].contact == "赵强" and market.sections[1].phone == "0740-2"
    assert market.address == "市民中心A区" and market.functions == "市场主体登记"
    tax = by_name["示范市税务局"]
    assert tax.sections == [] and tax.contact == "王五" and tax.phone == "12366"
    # The row without a department name is reported with its line number (header = line 1).
    assert parsed.errors == [RowError("departments.csv", 4, "缺少部门名称（部门/name），已跳过")]


def test_english_headers_gbk_fixture() -> None:
    parsed = parse_directory(FIXTURES / "departments_gbk.csv")
    assert parsed.tables[0].kind == "departments"
    assert len(parsed.departments) == 3 and not parsed.errors
    assert sum(len(d.sections) for d in parsed.departments) == 4


def test_header_kind_detection() -> None:
    assert detect_kind(["事项名称", "办理部门", "窗口"]) == "services"
    assert detect_kind(["name", "department", "materials"]) == "services"
    assert detect_kind(["部门", "别名", "电话"]) == "departments"
    assert detect_kind(["name", "aliases", "phone"]) == "departments"
    assert detect_kind([" 办理部门* ", "事项名称（必填）"]) == "services"
    assert detect_kind(["序号", "企业名称", "联系电话"]) is None


def test_wrong_headers_are_refused() -> None:
    with pytest.raises(IngestError, match="无法识别表头（序号、企业名称"):
        parse_directory(FIXTURES / "wrong_headers.csv")


def test_services_table_without_department_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("事项名称,窗口\n营业执照,1号窗口\n", encoding="utf-8")
    with pytest.raises(IngestError, match="缺少必需的列 办理部门/department"):
        parse_directory(path)


def test_bad_service_rows_are_reported_with_rows_and_the_rest_resolve() -> None:
    departments = parse_directory(SAMPLE_DIR / "directory" / "departments.csv")
    index = DepartmentIndex((d.name, d.aliases) for d in departments.departments)
    parsed = parse_directory(FIXTURES / "services_bad_rows.csv")
    errors = list(parsed.errors)
    services = resolve_services(parsed.services, index, errors)
    assert len(services) == 4
    assert [(e.row, e.message[:6]) for e in errors] == [(4, "缺少事项名称"), (5, "事项“宠物医")]
    assert "示范市宠物管理局" in errors[1].message and "不在部门目录中" in errors[1].message


def test_aliases_resolve_to_the_canonical_department() -> None:
    index = DepartmentIndex([("示范市市场监督管理局", ["工商局", "市场监管局"]), ("示范市税务局", ["国税局"])])
    assert index.resolve("工商局") == "示范市市场监督管理局"
    assert index.resolve(" 示范市税务局 ") == "示范市税务局"
    assert index.resolve("示范市 市场监督管理局") == "示范市市场监督管理局"
    assert index.resolve("宠物局") is None


def test_duplicate_service_rows_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("name,department\n营业执照,工商局\n营业执照,示范市市场监督管理局\n", encoding="utf-8")
    parsed = parse_directory(path)
    errors: list[RowError] = []
    index = DepartmentIndex([("示范市市场监督管理局", ["工商局"])])
    services = resolve_services(parsed.services, index, errors)
    assert [s.department for s in services] == ["示范市市场监督管理局"]
    assert errors[0].row == 3 and "与第 2 行重复" in errors[0].message


def test_csv_row_numbers_follow_file_lines_with_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text('事项名称,办理部门,办理材料\n营业执照,工商局,"1.申请书\n2.身份证"\n,工商局,无\n', encoding="utf-8")
    parsed = parse_directory(path)
    assert parsed.services[0].fields["materials"] == "1.申请书\n2.身份证"
    assert parsed.errors[0].row == 4  # lines 2-3 hold one record (a quoted cell spans them)


def test_xlsx_two_sheets_departments_and_services(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "directory.xlsx", {
        "部门": [["部门", "别名", "科室", "电话"], ["示范市消防救援支队", "消防队", "防火监督处", 81241001],
                 [None, None, None, None]],
        "事项": [["事项名称", "办理部门", "办理时限"], ["消防安全检查", "消防队", "10个工作日"],
                 ["无部门事项", None, "1天"]],
        "说明": [["本表由示范市营商环境建设局维护"]],
    })
    parsed = parse_directory(path)
    assert [t.kind for t in parsed.tables] == ["departments", "services"]
    assert parsed.departments[0].sections[0].phone == "81241001"  # numbers read as text, no ".0"
    assert [s.name for s in parsed.services] == ["消防安全检查"]
    assert parsed.errors == [RowError("directory.xlsx[事项]", 3, "事项“无部门事项”缺少办理部门（办理部门/department），已跳过")]


def test_sample_services_xlsx() -> None:
    parsed = parse_directory(SAMPLE_DIR / "directory" / "services.xlsx")
    assert [t.kind for t in parsed.tables] == ["services"]
    assert len(parsed.services) == 66 and not parsed.errors


def test_yaml_both_tables_english_keys() -> None:
    parsed = parse_directory(FIXTURES / "directory.yaml")
    assert {d.name for d in parsed.departments} == {"示范市市场监督管理局", "示范市消防救援支队"}
    market = next(d for d in parsed.departments if d.name == "示范市市场监督管理局")
    assert [s.name for s in market.sections] == ["登记注册科", "食品经营许可科"]
    assert len(parsed.services) == 2


def test_yaml_nested_sections_and_alias_lists(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        "departments:\n  - name: 示范市税务局\n    aliases: [国税局, 地税局]\n    sections:\n"
        "      - name: 纳税服务科\n        duties: 发票申领\n        phone: '12366'\n      - 征收管理科\n",
        encoding="utf-8",
    )
    dept = parse_directory(path).departments[0]
    assert dept.aliases == ["国税局", "地税局"]
    assert [(s.name, s.duties, s.phone) for s in dept.sections] == [("纳税服务科", "发票申领", "12366"),
                                                                    ("征收管理科", "", "")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("departments: [unclosed\n", "YAML 格式错误"),
        ("just a string\n", "应为列表"),
        ("other: []\n", "YAML 顶层应为 departments"),
        ("- !!python/object/apply:os.system ['echo hi']\n", "YAML 格式错误"),
    ],
)
def test_bad_yaml(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=message):
        parse_directory(path)


def test_corrupt_xlsx_and_empty_csv(tmp_path: Path) -> None:
    bad = tmp_path / "d.xlsx"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(IngestError, match="Excel 文件已损坏"):
        parse_directory(bad)
    empty = tmp_path / "d.csv"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="文件为空"):
        parse_directory(empty)


def test_search_texts_are_compact() -> None:
    fields = {"name": "食品经营许可", "department": "示范市市场监督管理局", "keywords": "开饭店",
              "window": "A区2楼27号窗口", "materials": "申请书；" * 100, "legal_basis": "《食品安全法》" * 50}
    text = service_text(fields)
    assert text.startswith("食品经营许可。开饭店。办理部门：示范市市场监督管理局")
    assert len(text) < 200 and "食品安全法" not in text
    parsed = parse_directory(FIXTURES / "directory.yaml")
    market = next(d for d in parsed.departments if d.name == "示范市市场监督管理局")
    assert "又称工商局" in department_text(market) and "食品经营许可科" in department_text(market)
    assert department_text(market, market.sections[1]).count("食品经营许可核发") == 1


def test_guangdong_directory_parses_fast_and_clean() -> None:
    started = time.perf_counter()
    departments = parse_directory(GUANGDONG_DIR / "departments.csv")
    services = parse_directory(GUANGDONG_DIR / "services.csv")
    index = DepartmentIndex((d.name, d.aliases) for d in departments.departments)
    errors: list[RowError] = []
    resolved = resolve_services(services.services, index, errors)
    assert time.perf_counter() - started < 5
    assert len(departments.departments) == 177 and len(resolved) == 2262
    assert not errors and not departments.errors and not services.errors
    # Names padded with spaces in the source are trimmed, and services still find them.
    assert all(d.name == d.name.strip() for d in departments.departments)
    assert departments.departments[0].phone == "020-87596247"


def test_title_rows_above_the_headers_are_skipped(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "联络簿.xlsx", {"Sheet1": [
        ["示范市部门联络簿（2025年版）", None, None], [None, None, None],
        ["部门", "科室", "电话"], ["示范市税务局", "纳税服务科", "12366"], [None, "无部门", None]]})
    parsed = parse_directory(path)
    assert [d.name for d in parsed.departments] == ["示范市税务局"]
    assert parsed.errors == [RowError("联络簿.xlsx", 5, "缺少部门名称（部门/name），已跳过")]
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("示范市事项清单,,\n事项名称,办理部门,窗口\n营业执照,工商局,1号\n", encoding="utf-8")
    parsed = parse_directory(csv_path)
    assert [(s.row, s.name) for s in parsed.services] == [(3, "营业执照")]


def test_password_protected_xlsx_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    with pytest.raises(IngestError, match="Excel 文件已加密或是旧版 .xls 格式"):
        parse_directory(path)
