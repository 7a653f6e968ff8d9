"""Directory import (服务联络簿 + 事项): tables → departments with their sections, and services.

Department rows that share 部门 merge into one department with its sections (科室). Bad rows are
reported with their file and row number and skipped; the rest import. Reading the files themselves
is ingest.tables'. Everything here is pure parsing: the pipeline decides what is written where.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.tables import SERVICE_FIELDS, RowError, Table, read_tables


@dataclass(slots=True)
class Section:
    name: str
    duties: str = ""
    contact: str = ""
    phone: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "duties": self.duties, "contact": self.contact, "phone": self.phone}


@dataclass(slots=True)
class Department:
    """One department of the directory, merged from all its rows."""

    name: str
    row: int
    aliases: list[str] = field(default_factory=list)
    functions: str = ""
    address: str = ""
    phone: str = ""
    hours: str = ""
    contact: str = ""
    sections: list[Section] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "functions": self.functions,
            "address": self.address,
            "phone": self.phone,
            "hours": self.hours,
            "contact": self.contact,
            "sections": [s.as_dict() for s in self.sections],
        }


@dataclass(slots=True)
class Service:
    """One service item (事项); `department` is the canonical department name once resolved."""

    row: int
    fields: dict[str, str]

    @property
    def name(self) -> str:
        return self.fields.get("name", "")

    @property
    def department(self) -> str:
        return self.fields.get("department", "")




@dataclass(slots=True)
class DirectoryFile:
    """The parsed contents of one directory file (a file may hold both tables, e.g. two sheets)."""

    departments: list[Department] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    @property
    def has_departments(self) -> bool:
        return any(t.kind == "departments" for t in self.tables)




def name_key(name: str) -> str:
    """Comparison key for department names: width-folded, without whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def split_aliases(value: str) -> list[str]:
    parts = re.split(r"[、,，;；/|\n]", value)
    out: list[str] = []
    for part in parts:
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


# ---------------------------------------------------------------------------------------------
# Rows → departments and services


def _merge_departments(table: Table, errors: list[RowError]) -> list[Department]:
    by_key: dict[str, Department] = {}
    for row_number, row in table.rows:
        if "__invalid__" in row or not any(row.values()):
            if "__invalid__" in row:
                errors.append(RowError(table.label, row_number, "此项不是“键: 值”形式，已跳过"))
            continue  # blank rows are padding, not errors
        name = row.get("name", "")
        if not name:
            errors.append(RowError(table.label, row_number, "缺少部门名称（部门/name），已跳过"))
            continue
        key = name_key(name)
        dept = by_key.get(key)
        if dept is None:
            dept = by_key[key] = Department(name=re.sub(r"\s+", " ", name).strip(), row=row_number)
        for alias in split_aliases(row.get("aliases", "")):
            if name_key(alias) != key and alias not in dept.aliases:
                dept.aliases.append(alias)
        # Department-wide fields: the first non-empty value wins; later rows usually repeat it.
        for attr in ("functions", "address", "hours"):
            if row.get(attr) and not getattr(dept, attr):
                setattr(dept, attr, row[attr])
        section_name = row.get("section", "")
        if section_name:
            existing = next((s for s in dept.sections if s.name == section_name), None)
            if existing is None:
                dept.sections.append(Section(section_name, row.get("section_duties", ""),
                                             row.get("contact", ""), row.get("phone", "")))
            else:
                existing.duties = existing.duties or row.get("section_duties", "")
                existing.contact = existing.contact or row.get("contact", "")
                existing.phone = existing.phone or row.get("phone", "")
            if row.get("phone") and not dept.phone:
                dept.phone = row["phone"]
        else:
            # A row without 科室 describes the department itself (its main contact and phone).
            dept.contact = dept.contact or row.get("contact", "")
            dept.phone = dept.phone or row.get("phone", "")
            if row.get("section_duties") and not dept.functions:
                dept.functions = row["section_duties"]
    return list(by_key.values())


def parse_directory(path: Path) -> DirectoryFile:
    """Parse a directory file into departments and (unresolved) services, collecting row errors."""
    result = DirectoryFile(tables=read_tables(path))
    for table in result.tables:
        if table.kind == "departments":
            result.departments += _merge_departments(table, result.errors)
    for table in result.tables:
        if table.kind != "services":
            continue
        for row_number, row in table.rows:
            if "__invalid__" in row:
                result.errors.append(RowError(table.label, row_number, "此项不是“键: 值”形式，已跳过"))
                continue
            if not any(row.values()):
                continue
            if not row.get("name"):
                result.errors.append(RowError(table.label, row_number, "缺少事项名称（事项名称/name），已跳过"))
                continue
            if not row.get("department"):
                result.errors.append(RowError(table.label, row_number,
                                              f"事项“{row['name']}”缺少办理部门（办理部门/department），已跳过"))
                continue
            fields = {f: row.get(f, "") for f in SERVICE_FIELDS}
            fields["name"] = re.sub(r"\s+", " ", fields["name"]).strip()
            result.services.append(Service(row=row_number, fields=fields))
            # Remember which table the row came from, for error labels during resolution.
            result.services[-1].fields["__label__"] = table.label
    return result


class DepartmentIndex:
    """Resolves department names and aliases (width/whitespace-insensitive) to canonical names."""

    def __init__(self, entries: Iterable[tuple[str, Iterable[str]]] = ()) -> None:
        self._names: dict[str, str] = {}
        self._aliases: dict[str, str] = {}
        self._alias_surface: dict[str, str] = {}
        for name, aliases in entries:
            self.add(name, aliases)

    def add(self, name: str, aliases: Iterable[str] = ()) -> None:
        self._names[name_key(name)] = name
        for alias in aliases:
            # A name always beats an alias; among aliases the first department keeps it.
            if name_key(alias) not in self._aliases:
                self._aliases[name_key(alias)] = name
                self._alias_surface[alias] = name

    def resolve(self, name: str) -> str | None:
        key = name_key(name)
        return self._names.get(key) or self._aliases.get(key)

    def __len__(self) -> int:
        return len(self._names)

    def names_and_aliases(self) -> list[tuple[str, str]]:
        """(surface form, canonical name) for every name and alias."""
        out = [(name, name) for name in self._names.values()]
        out += list(self._alias_surface.items())
        return out


def resolve_services(services: list[Service], index: DepartmentIndex, errors: list[RowError]) -> list[Service]:
    """Map each service to its canonical department; unknown departments and duplicates are row errors."""
    resolved: list[Service] = []
    seen: dict[tuple[str, str], int] = {}
    for service in services:
        label = service.fields.pop("__label__", "")
        canonical = index.resolve(service.department)
        if canonical is None:
            errors.append(RowError(label, service.row,
                                   f"事项“{service.name}”的办理部门“{service.department}”不在部门目录中"
                                   "（既不是部门名称也不是别名），已跳过"))
            continue
        key = (name_key(service.name), canonical)
        if key in seen:
            errors.append(RowError(label, service.row,
                                   f"事项“{service.name}”与第 {seen[key]} 行重复（同一办理部门），已跳过"))
            continue
        seen[key] = service.row
        service.fields["department"] = canonical
        resolved.append(service)
    return resolved


def service_text(fields: Mapping[str, str], limit: int = 100) -> str:
    """The compact text a service is searched by: name, keywords, department, materials and steps (heads)."""
    parts = [fields.get("name", "")]
    if fields.get("keywords"):
        parts.append(fields["keywords"])
    parts.append(f"办理部门：{fields.get('department', '')}")
    # The window address, fee and legal basis stay in `data` for the card: they are long, repeat
    # across items and would only blur what the item is about (and slow embedding down).
    if fields.get("materials"):
        parts.append(f"材料：{_head(fields['materials'], limit)}")
    if fields.get("steps"):
        parts.append(f"流程：{_head(fields['steps'], 60)}")
    return "。".join(p.rstrip("。") for p in parts if p) + "。"


def department_text(dept: Department, section: Section | None = None) -> str:
    """Searchable text of a department (or of one of its sections, with the department's context).

    Section records repeat the department's aliases and functions on purpose: on the demo city's
    held-out questions, dropping them cost hit@1 (0.91 → 0.86) for little embedding time saved.
    """
    parts = [dept.name]
    if dept.aliases:
        parts.append("又称" + "、".join(dept.aliases))
    if section is not None:
        parts.append(f"{section.name}：{section.duties}" if section.duties else section.name)
        if dept.functions:
            parts.append(_head(dept.functions, 120))
        return "。".join(p.rstrip("。") for p in parts if p) + "。"
    if dept.functions:
        parts.append(dept.functions)
    for s in dept.sections:
        parts.append(f"{s.name}：{_head(s.duties, 80)}" if s.duties else s.name)
    return "。".join(p.rstrip("。") for p in parts if p) + "。"


def _head(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[:limit].rstrip("，,、；; ") + "…"


__all__ = [
    "Department",
    "DepartmentIndex",
    "DirectoryFile",
    "Section",
    "Service",
    "department_text",
    "name_key",
    "parse_directory",
    "resolve_services",
    "service_text",
    "split_aliases",
]
