"""Directory tables: CSV (UTF-8 / UTF-8-BOM / GBK), XLSX and YAML files read into classified tables.

Which table a sheet is comes from its headers (Chinese or English, see DESIGN.md); each row is mapped
to the contract's field names with spreadsheet placeholders treated as empty. What the rows mean
(departments, sections, services) is ingest.directory's business.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml

from ingest.archives import check_archive
from ingest.errors import IngestError
from ingest.loaders import decode_bytes
from ingest.safe_yaml import YamlAliasRefused, as_text, load_yaml, yaml_problem

DIRECTORY_EXTENSIONS = frozenset({".csv", ".xlsx", ".xlsm", ".yaml", ".yml"})

TableKind = Literal["departments", "services"]

# Header spellings → field. Keys are compared after normalise_header(); English names are the contract's.
DEPARTMENT_HEADERS: dict[str, str] = {
    "部门": "name", "部门名称": "name", "单位": "name", "单位名称": "name", "name": "name",
    "department": "name", "dept": "name",
    "别名": "aliases", "曾用名": "aliases", "简称": "aliases", "aliases": "aliases", "alias": "aliases",
    "职能": "functions", "主要职能": "functions", "部门职能": "functions", "functions": "functions",
    "科室": "section", "处室": "section", "科室名称": "section", "section": "section",
    "科室职责": "section_duties", "处室职责": "section_duties", "职责": "section_duties",
    "section_duties": "section_duties", "duties": "section_duties",
    "负责人": "contact", "联系人": "contact", "contact": "contact",
    "电话": "phone", "联系电话": "phone", "phone": "phone", "tel": "phone",
    "地址": "address", "办公地址": "address", "address": "address",
    "办公时间": "hours", "工作时间": "hours", "hours": "hours",
}
SERVICE_HEADERS: dict[str, str] = {
    "事项名称": "name", "事项": "name", "服务事项": "name", "name": "name", "service": "name",
    "办理部门": "department", "实施主体": "department", "部门": "department", "department": "department",
    "窗口": "window", "办理窗口": "window", "办理地点": "window", "window": "window",
    "办理材料": "materials", "申请材料": "materials", "materials": "materials",
    "办理时限": "time_limit", "承诺时限": "time_limit", "时限": "time_limit", "time_limit": "time_limit",
    "办理流程": "steps", "流程": "steps", "steps": "steps",
    "收费": "fee", "收费标准": "fee", "是否收费": "fee", "fee": "fee",
    "设定依据": "legal_basis", "依据": "legal_basis", "legal_basis": "legal_basis",
    "线上入口": "online", "网上办理": "online", "在线办理": "online", "online": "online", "url": "online",
    "咨询电话": "phone", "电话": "phone", "联系电话": "phone", "phone": "phone",
    "关键词": "keywords", "关键字": "keywords", "keywords": "keywords", "tags": "keywords",
}
# Headers that only a services table has; "department"/"部门" alone names a department table's key.
_SERVICE_MARKERS = {"事项名称", "事项", "服务事项", "service", "办理部门", "实施主体", "materials", "办理材料",
                    "申请材料", "time_limit", "办理时限", "window", "窗口", "办理窗口", "legal_basis", "设定依据"}
_DEPARTMENT_FIELDS = ("name", "aliases", "functions", "section", "section_duties", "contact", "phone",
                      "address", "hours")
SERVICE_FIELDS = ("name", "department", "window", "materials", "time_limit", "steps", "fee", "legal_basis",
                  "online", "phone", "keywords")
# Placeholder values that mean "nothing here" in real spreadsheets.
_EMPTY_VALUES = {"", "无", "暂无", "/", "-", "—", "－", "n/a", "na", "none", "null", "nan"}


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was skipped: where it is and why (Chinese)."""

    file: str
    row: int
    message: str



@dataclass(slots=True)
class Table:
    """One sheet of a directory file, already classified and with its rows mapped to fields."""

    kind: TableKind
    label: str  # "services.xlsx" or "directory.xlsx[事项]", used in row reports
    rows: list[tuple[int, dict[str, str]]]
    ignored_headers: list[str] = field(default_factory=list)




# ---------------------------------------------------------------------------------------------
# Normalisation


def normalise_header(header: Any) -> str:
    text = unicodedata.normalize("NFKC", str(header or "")).strip().lower()
    text = text.replace("\ufeff", "")
    text = re.sub(r"[\s*＊:：]+", "", text)  # "办理部门*" (required marker) and stray spaces
    text = re.sub(r"[（(].*?[)）]", "", text)  # "电话（座机）" → "电话"
    return text.replace("-", "_")


def clean_value(value: Any) -> str:
    """A cell as text: trimmed, inner line breaks kept, spreadsheet placeholders treated as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # openpyxl reads 12345 as 12345.0
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ").replace("\xa0", " ")
    text = text.strip()
    return "" if text.lower() in _EMPTY_VALUES else text



# ---------------------------------------------------------------------------------------------
# Reading raw tables


def detect_kind(headers: Iterable[Any]) -> TableKind | None:
    keys = {normalise_header(h) for h in headers if normalise_header(h)}
    if keys & _SERVICE_MARKERS or ("name" in keys and "department" in keys):
        return "services"
    if keys & {"部门", "部门名称", "单位", "单位名称", "name", "department", "dept"}:
        return "departments"
    return None


def _wrong_headers(label: str, headers: list[str]) -> IngestError:
    shown = "、".join(h for h in headers if h) or "（空）"
    return IngestError(
        f"{label}：无法识别表头（{shown}）。部门表需要“部门/name”等列，"
        "事项表需要“事项名称/name”和“办理部门/department”等列，详见 README 的“Ingest and data formats”。"
    )


def _make_table(label: str, header_row: list[Any], rows: Iterable[tuple[int, list[Any]]]) -> Table:
    headers = [clean_value(h) for h in header_row]
    kind = detect_kind(headers)
    if kind is None:
        raise _wrong_headers(label, headers)
    mapping = DEPARTMENT_HEADERS if kind == "departments" else SERVICE_HEADERS
    columns: list[str | None] = []
    ignored: list[str] = []
    seen: set[str] = set()
    for header in headers:
        target = mapping.get(normalise_header(header))
        if target is None or target in seen:  # first column wins when two headers mean one field
            if header:
                ignored.append(header)
            columns.append(None)
            continue
        seen.add(target)
        columns.append(target)
    required = {"name"} if kind == "departments" else {"name", "department"}
    missing = required - seen
    if missing:
        names = {"name": "事项名称/name", "department": "办理部门/department"} if kind == "services" else {
            "name": "部门/name"}
        raise IngestError(f"{label}：缺少必需的列 {'、'.join(names[m] for m in sorted(missing))}")
    mapped: list[tuple[int, dict[str, str]]] = []
    for row_number, values in rows:
        record = {col: clean_value(values[i]) if i < len(values) else ""
                  for i, col in enumerate(columns) if col is not None}
        mapped.append((row_number, record))
    return Table(kind=kind, label=label, rows=mapped, ignored_headers=ignored)


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"某个单元格超过 {csv.field_size_limit()} 个字符（常见原因：引号没有闭合，后面的内容都算进了一个单元格）"
    if "new-line character seen in unquoted field" in text:
        return "单元格内换行却没有加引号"
    if "NUL" in text or "line contains NUL" in text:
        return "含有空字符（\\0），可能不是文本格式的 CSV"
    return "引号或分隔符不配对"


def _read_csv(path: Path) -> list[Table]:
    text, _encoding = decode_bytes(path.read_bytes(), name=path.name)
    # Excel in some locales writes ';' or tabs; sniff only among the plausible ones.
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[tuple[int, list[Any]]] = []
    try:
        line_before = 0
        for values in reader:
            rows.append((line_before + 1, list(values)))  # the line where this record starts
            line_before = reader.line_num
    except csv.Error as exc:
        raise IngestError(f"{path.name}：CSV 格式错误（第 {reader.line_num} 行）：{_csv_problem(exc)}") from exc
    split = _split_header(rows)
    if split is None:
        raise IngestError(f"{path.name}：文件为空")
    return [_make_table(path.name, split[0], split[1])]


# Spreadsheets often carry a title row or two ("示范市部门联络簿（2025年版）") above the headers.
_HEADER_SEARCH_ROWS = 10


def _split_header(rows: list[tuple[int, list[Any]]]) -> tuple[list[Any], list[tuple[int, list[Any]]]] | None:
    """(header, data rows): the first row whose headers name a table, else the first non-empty row."""
    non_empty = [i for i, (_, values) in enumerate(rows) if any(clean_value(v) for v in values)]
    if not non_empty:
        return None
    chosen = non_empty[0]
    for i in non_empty[:_HEADER_SEARCH_ROWS]:
        if detect_kind(rows[i][1]) is not None:
            chosen = i
            break
    return list(rows[chosen][1]), rows[chosen + 1 :]


def _read_xlsx(path: Path) -> list[Table]:
    # Per-format parsers load only in the parser process, and only for the format it is reading.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if _is_ole(path):
        raise IngestError(f"{path.name}：Excel 文件已加密或是旧版 .xls 格式，请去除密码并另存为 .xlsx")
    check_archive(path, "Excel")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise IngestError(f"{path.name}：Excel 文件已损坏或不是 .xlsx 格式（若已加密请先去除密码）") from exc
    tables: list[Table] = []
    try:
        sheets = list(workbook.worksheets)
        for sheet in sheets:
            label = path.name if len(sheets) == 1 else f"{path.name}[{sheet.title}]"
            rows = _sheet_rows(label, sheet)
            split = _split_header(rows)
            if split is None:
                continue  # an empty sheet (e.g. an unused "Sheet2") is not an error
            if len(sheets) > 1 and detect_kind(split[0]) is None:
                continue  # extra sheets (notes, lookups) in a multi-sheet workbook are skipped
            tables.append(_make_table(label, split[0], split[1]))
    finally:
        workbook.close()
    if not tables:
        raise IngestError(f"{path.name}：没有找到部门表或事项表（文件为空或表头无法识别）")
    return tables


# A directory is a few thousand rows of a dozen columns (Guangdong: 2,262 items). Far past that it is
# not a directory, and reading it would take minutes.
MAX_SHEET_ROWS = 100_000
MAX_SHEET_COLUMNS = 256


def _sheet_rows(label: str, sheet: Any) -> list[tuple[int, list[Any]]]:
    """The sheet's rows with values, bounded in rows and columns.

    The sheet's *declared* dimension is not trusted: a 2 KB file declaring A1:XFD200000 made openpyxl
    pad every row to 16,384 cells over 200,000 rows. After reset_dimensions each row holds only the
    cells the file really has.
    """
    sheet.reset_dimensions()
    rows: list[tuple[int, list[Any]]] = []
    for n, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = list(values)
        while cells and cells[-1] is None:
            cells.pop()
        if not cells:
            continue
        if n > MAX_SHEET_ROWS:
            raise IngestError(f"{label}：第 {n} 行仍有内容，超过 {MAX_SHEET_ROWS} 行的上限，请拆分表格")
        if len(cells) > MAX_SHEET_COLUMNS:
            raise IngestError(f"{label}：第 {n} 行有 {len(cells)} 列，超过 {MAX_SHEET_COLUMNS} 列的上限")
        rows.append((n, cells))
    return rows


# Office stores password-protected .xlsx/.docx (and old .xls/.doc) as an OLE compound file, not a zip.
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _is_ole(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(8) == OLE_SIGNATURE


def _yaml_rows(items: Any, label: str) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(items, list):
        raise IngestError(f"{label}：应为列表（每项一个部门或事项）")
    return [(i, item if isinstance(item, dict) else {"__invalid__": item}) for i, item in enumerate(items, 1)]


def _yaml_table(label: str, kind_hint: TableKind | None, rows: list[tuple[int, dict[str, Any]]]) -> list[Table]:
    """Turn YAML mappings into tables; department items may nest their sections under `sections`."""
    headers: list[str] = []
    for _, item in rows:
        for key in item:
            if key not in headers and key not in ("sections", "科室列表"):
                headers.append(str(key))
    kind = kind_hint or detect_kind(headers)
    if kind is None:
        raise _wrong_headers(label, headers)
    if kind == "departments":
        # Flatten nested sections into one row per section, as the spreadsheet form has.
        flat: list[tuple[int, dict[str, Any]]] = []
        for number, item in rows:
            nested = item.get("sections") or item.get("科室列表")
            base = {k: v for k, v in item.items() if k not in ("sections", "科室列表")}
            if isinstance(nested, list) and nested:
                for section in nested:
                    if isinstance(section, dict):
                        merged = dict(base)
                        for key, value in section.items():
                            key_n = normalise_header(key)
                            target = {"name": "section", "名称": "section", "科室": "section",
                                      "duties": "section_duties", "职责": "section_duties"}.get(key_n, key)
                            merged[str(target)] = value
                        flat.append((number, merged))
                    else:
                        flat.append((number, {**base, "section": section}))
            else:
                flat.append((number, base))
        rows = flat
        for _, item in rows:
            for key in item:
                if key not in headers:
                    headers.append(str(key))
    if kind == "departments" and not any(normalise_header(h) in DEPARTMENT_HEADERS for h in headers):
        raise _wrong_headers(label, headers)
    values = [(number, [_yaml_cell(item.get(h)) for h in headers]) for number, item in rows]
    table = _make_table(label, headers if kind_hint is None else _force_kind(headers, kind), values)
    return [table]


def _force_kind(headers: list[str], kind: TableKind) -> list[str]:
    # Under an explicit "departments:" key, a bare "name" column is the department name, and under
    # "services:" detection already prefers services; nothing to rewrite beyond that.
    if kind == "services" and detect_kind(headers) != "services":
        return ["事项名称" if normalise_header(h) == "name" else h for h in headers]
    return headers


def _yaml_cell(value: Any) -> Any:
    if isinstance(value, list | dict | date):  # dates as written (2026-01-01), lists joined with 、
        return as_text(value)
    return value


def _read_yaml(path: Path) -> list[Table]:
    text, _ = decode_bytes(path.read_bytes(), name=path.name)
    try:
        data = load_yaml(text)  # safe_load: tags like !!python/object are refused, never executed
    except YamlAliasRefused as exc:
        raise IngestError(f"{path.name}：使用了 YAML 别名（&/*），出于安全原因不予解析，请直接写出每个值") from exc
    except yaml.YAMLError as exc:
        raise IngestError(f"{path.name}：YAML 格式错误：{yaml_problem(exc)}") from exc
    except ValueError as exc:  # a date no calendar has (2026-02-30): YAML's constructor refuses it
        raise IngestError(f"{path.name}：YAML 中有不存在的日期（{exc}），请检查") from exc
    if data is None:
        raise IngestError(f"{path.name}：文件为空")
    tables: list[Table] = []
    if isinstance(data, dict):
        keys = {normalise_header(k): k for k in data}
        dept_key = next((keys[k] for k in ("departments", "部门", "部门表", "联络簿") if k in keys), None)
        svc_key = next((keys[k] for k in ("services", "事项", "事项表", "items") if k in keys), None)
        if dept_key is None and svc_key is None:
            raise IngestError(f"{path.name}：YAML 顶层应为 departments:（部门）和/或 services:（事项）列表")
        if dept_key is not None:
            tables += _yaml_table(f"{path.name}[{dept_key}]", "departments",
                                  _yaml_rows(data[dept_key], f"{path.name}[{dept_key}]"))
        if svc_key is not None:
            tables += _yaml_table(f"{path.name}[{svc_key}]", "services",
                                  _yaml_rows(data[svc_key], f"{path.name}[{svc_key}]"))
    else:
        tables += _yaml_table(path.name, None, _yaml_rows(data, path.name))
    return tables


def read_tables(path: Path) -> list[Table]:
    """Read every table of a directory file. Raises IngestError (Chinese) for unreadable files."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise IngestError(f"{path.name}：文件为空")
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".yaml", ".yml"):
        return _read_yaml(path)
    raise IngestError(f"{path.name}：不支持的目录文件类型“{suffix}”")



__all__ = [
    "DEPARTMENT_HEADERS",
    "DIRECTORY_EXTENSIONS",
    "SERVICE_FIELDS",
    "SERVICE_HEADERS",
    "RowError",
    "Table",
    "TableKind",
    "clean_value",
    "detect_kind",
    "normalise_header",
    "read_tables",
]
