"""Policy files → records: the department each passage is credited to, its measures, and what it retires.

A policy file is chunked (ingest.chunking); a chunk that holds several measures naming their own lead
department (若干措施) becomes one record per measure, credited to that department; otherwise the chunk is
credited to the department it names, then to the file's (front matter, else the one named most).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from core.config import IngestSettings
from core.db import sync_session
from ingest.chunking import chunk_text
from ingest.directory import DepartmentIndex, name_key
from ingest.errors import IngestError
from ingest.loaders import Document
from ingest.records import make_record
from ingest.responsibility import ResponsibleDepartments
from knowledge.audience import parse_applies_to
from knowledge.departments import resolve_department
from knowledge.models import KbDepartment, KbSource
from knowledge.types import Record

# A file that retires at least this many policies, and at least half of them, needs --force.
MASS_SUPERSEDE_MIN = 3

_MEASURE_HEADING = re.compile(r"^\s*([（(][一二三四五六七八九十百零〇\d]+[）)][^。；;\n]{1,40})")


def policy_records(path: Path, document: Document, department: str, index: DepartmentIndex,
                   settings: IngestSettings) -> list[Record]:
    """The records of one policy file, each credited to the department that leads it."""
    responsible = ResponsibleDepartments(index)
    chunks = chunk_text(document.text, chunk_chars=settings.chunk_chars, overlap=settings.chunk_overlap,
                        title=document.title)
    meta = document.meta
    common = {
        "file": path.name,
        "title": document.title,
        "effective": meta.effective.isoformat() if meta.effective else "",
        "expires": meta.expires.isoformat() if meta.expires else "",
        "tags": list(meta.tags),
    }
    records: list[Record] = []
    for i, chunk in enumerate(chunks):
        # A measure that names its own lead department is credited to it (若干措施: one per measure);
        # a chunk holding several such measures becomes one record per measure.
        pieces = responsible.measures(chunk.text) or [(0, len(chunk.text), responsible.in_passage(chunk.text))]
        for start, end, lead in pieces:
            text = chunk.text[start:end].strip()
            if not text:
                continue
            offset = chunk.start + start + (len(chunk.text[start:end]) - len(chunk.text[start:end].lstrip()))
            section = chunk.section
            if len(pieces) > 1 and start > 0:
                section = _measure_section(chunk.section, text)
            records.append(make_record(
                path, "policy", title=document.title, department=lead or department,
                text=f"{document.title} › {section}\n{text}" if section else f"{document.title}\n{text}",
                section=section, span=(offset, offset + len(text)),
                citation=f"{path.name} › {section}" if section else path.name,
                data={**common, "quote": text, "chunk": i}))
    return records


# How front matter may say what kind of benefit a policy gives (push.models.Benefit values).
_BENEFITS = {
    "免申即享": "免申即享", "免申": "免申即享", "自动兑现": "免申即享", "无需申请": "免申即享", "automatic": "免申即享",
    "申请": "申请", "需申请": "申请", "申报": "申请", "依申请": "申请", "apply": "申请",
}


def push_meta(path: Path, document: Document, districts: Sequence[str],
              warnings: list[tuple[str, str]]) -> dict[str, Any]:
    """Who the policy is for and what it gives, from its front matter, for the push review.

    Unknown names in `applies_to` and an unknown `benefit` are reported as warnings (never dropped in
    silence); the audience keeps them as written, so it is never wider than its author meant.
    """
    meta = document.meta
    out: dict[str, Any] = {}
    if meta.applies_to is not None:
        parsed = parse_applies_to(meta.applies_to, districts)
        out["applies_to"] = parsed.audience.as_dict()
        out["unknown"] = parsed.unknown
        if parsed.unknown:
            warnings.append((path.name, "front matter 的 applies_to 中有未识别的名称：" + "、".join(parsed.unknown)
                             + "（按原样保留，不会匹配任何企业；可用的行业、规模、标签见 README“惠企政策直达”）"))
    if meta.benefit:
        benefit = _BENEFITS.get(meta.benefit.strip().lower())
        if benefit is None:
            warnings.append((path.name, f"front matter 的 benefit“{meta.benefit}”无法识别，应为“免申即享”或“申请”，已忽略"))
        else:
            out["benefit"] = benefit
    if meta.apply_by is not None:
        out["apply_by"] = meta.apply_by.isoformat()
    if meta.summary:
        out["summary"] = meta.summary
    return out


def retired_policies(engine: Engine, path: Path, document: Document, *, force: bool) -> list[str]:
    """The current policy files this one retires (front matter `supersedes`), refusing a file that
    retires itself, or most of the others at once unless --force says it is meant."""
    wanted = [str(item) for item in document.meta.supersedes]
    if not wanted:
        return []
    own = {name_key(k) for k in (path.name, path.stem, document.title) if k}
    if any(name_key(item) in own or name_key(Path(item).stem) in own for item in wanted):
        raise IngestError(f"{path.name}：front matter 的 supersedes 指向了文件自己，请删除这一项")
    with sync_session(engine) as session:
        others = [s for s in session.exec(select(KbSource).where(KbSource.kind == "policy")).all()
                  if s.path != str(path)]
    lookup: dict[str, KbSource] = {}
    for source in others:
        for key in (source.name, Path(source.name).stem, source.title):
            if key:
                lookup.setdefault(name_key(key), source)
    targets = {
        target.name: target
        for item in wanted
        if (target := lookup.get(name_key(item)) or lookup.get(name_key(Path(item).stem))) is not None
    }
    if len(targets) >= MASS_SUPERSEDE_MIN and len(targets) * 2 >= len(others) and not force:
        raise IngestError(
            f"{path.name}：声明替代 {len(targets)} 个现行政策文件（共 {len(others)} 个），疑似误操作，未导入；"
            "确认无误请加 --force 重新导入"
        )
    return sorted(targets)


def directory_departments(engine: Engine) -> DepartmentIndex:
    """The departments the knowledge base knows now (from every directory file ingested)."""
    with sync_session(engine) as session:
        rows = session.exec(select(KbDepartment)).all()
    return DepartmentIndex((r.name, r.aliases or []) for r in rows)


def policy_department(engine: Engine, path: Path, document: Document, index: DepartmentIndex,
                      warnings: list[tuple[str, str]]) -> str:
    """The file's department: its front matter's (as the directory names it), else the one named most.

    An unknown front-matter department is kept as written, with a warning for the admin.
    """
    declared = document.meta.department
    if declared:
        canonical = (index.resolve(declared) or ResponsibleDepartments(index).resolve(declared)
                     or _alias_resolve(engine, declared))
        if canonical is None:
            warnings.append((path.name, f"front matter 中的部门“{declared}”不在部门目录中，按原样保存"))
            return declared
        return canonical
    return department_named_most(document.text, index)


def _alias_resolve(engine: Engine, name: str) -> str | None:
    """The retrieval alias table (generic old names such as 劳动局 included) as the last resort."""
    with sync_session(engine) as session:
        directory = {r.name: list(r.aliases or []) for r in session.exec(select(KbDepartment)).all()}
    return resolve_department(name, directory)[0] if directory else None


def department_named_most(text: str, index: DepartmentIndex) -> str:
    """The department whose names/aliases the text mentions most (longest forms first), else ""."""
    counts: dict[str, int] = {}
    work = text
    for surface, canonical in sorted(index.names_and_aliases(), key=lambda p: -len(p[0])):
        # Two-character aliases (工商, 财政) hide inside ordinary words (个体工商户): not evidence.
        if len(surface) < 3 or surface not in work:
            continue
        # A full name is stronger evidence than a colloquial alias.
        weight = 2 if surface == canonical else 1
        counts[canonical] = counts.get(canonical, 0) + weight * work.count(surface)
        work = work.replace(surface, "\x00")  # a longer name is not counted again as a shorter one
    if not counts:
        return ""
    return max(counts.items(), key=lambda kv: (kv[1], len(kv[0])))[0]


def _measure_section(chunk_section: str, text: str) -> str:
    """The section of a measure split out of a chunk: its own （六）heading under the chunk's parent."""
    match = _MEASURE_HEADING.match(text)
    if match is None:
        return chunk_section
    parts = chunk_section.split(" › ") if chunk_section else []
    if parts and _MEASURE_HEADING.match(parts[-1]):
        parts = parts[:-1]  # the chunk's own (first) measure heading
    return " › ".join([*parts, match.group(1).strip()])


__all__ = [
    "MASS_SUPERSEDE_MIN",
    "department_named_most",
    "directory_departments",
    "policy_department",
    "policy_records",
    "push_meta",
    "retired_policies",
]
