"""Records as chat text: a service card, a department card (with the section asked about), a policy
passage quoted from its source, a one-line brief, and the citation every one of them carries.

Every line is either a fixed label or copied from the record: a card lists only the fields the record has.

Record.data keys read here (DESIGN.md directory contract, English or the Chinese header):
service: window/窗口, materials/办理材料, time_limit/办理时限, steps/办理流程, fee/收费,
legal_basis/设定依据, online/线上入口, phone/咨询电话, keywords/关键词;
department: address/地址, phone/电话, hours/办公时间, functions/职能, section/科室,
section_duties/科室职责, contact/负责人, aliases/别名, or `sections`: a list of such section dicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from knowledge.lexical import analyze
from knowledge.types import Hit, Record

# Long fields (real directories carry whole regulations in 设定依据) are cut for a chat message.
MAX_FIELD_CHARS = 220
MAX_QUOTE_CHARS = 260

# Labels of a service card, in order, with the record.data keys each may come from.
SERVICE_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("窗口/地址", ("window", "窗口", "address", "地址")),
    ("电话", ("phone", "咨询电话", "电话")),
    ("材料", ("materials", "办理材料", "材料")),
    ("时限", ("time_limit", "办理时限", "时限")),
    ("流程", ("steps", "办理流程", "流程")),
    ("收费", ("fee", "收费", "收费标准")),
    ("依据", ("legal_basis", "设定依据", "依据")),
    ("线上入口", ("online", "线上入口", "网办入口")),
)
DEPARTMENT_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("地址", ("address", "地址")),
    ("电话", ("phone", "电话")),
    ("办公时间", ("hours", "办公时间")),
)
# Read from a section dict ({name, duties, contact, phone} as ingest stores it) or from flat data.
SECTION_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("科室", ("section", "科室")),
    ("职责", ("duties", "section_duties", "科室职责")),
    ("负责人", ("contact", "负责人")),
)
_EMPTY_VALUES = {"", "无", "-", "—", "/", "暂无", "none", "null", "nan"}


def field_value(data: Mapping[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = "；".join(str(v).strip() for v in value if str(v).strip())
        text = str(value).strip()
        if text.lower() not in _EMPTY_VALUES:
            return text
    return ""


def clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip("，,；;、 ") + "…"


def cite(record: Record) -> str:
    citation = (record.citation or record.source_file or record.title).strip()
    return citation if citation.startswith("「") else f"「{citation}」"


def best_passage(text: str, question: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """The sentences of `text` that share most terms with the question, kept in document order."""
    sentences = [s for s in re.split(r"(?<=[。！？；!?;\n])", text) if s.strip()]
    if not sentences:
        return ""
    q_terms = set(analyze(question))
    scored = [(len(q_terms & set(analyze(s))), i) for i, s in enumerate(sentences)]
    best = max(scored, key=lambda t: (t[0], -t[1]))[1]
    start = end = best
    length = len(sentences[best])
    # Grow around the best sentence while it fits: context makes a quote readable.
    while True:
        grew = False
        if end + 1 < len(sentences) and length + len(sentences[end + 1]) <= limit:
            end += 1
            length += len(sentences[end])
            grew = True
        if start > 0 and length + len(sentences[start - 1]) <= limit:
            start -= 1
            length += len(sentences[start])
            grew = True
        if not grew:
            break
    return clip("".join(sentences[start : end + 1]).strip(), limit)


def _best_section(sections: Sequence[Mapping[str, Any]], question: str) -> Mapping[str, Any] | None:
    if not sections:
        return None
    q_terms = set(analyze(question))

    def overlap(section: Mapping[str, Any]) -> int:
        text = " ".join(str(v) for v in section.values() if v)
        return len(q_terms & set(analyze(text)))

    return max(sections, key=overlap)


def service_card(record: Record) -> list[str]:
    lines = [f"事项：{record.title}"]
    if record.department:
        lines.append(f"办理部门：{record.department}")
    for label, keys in SERVICE_FIELDS:
        value = field_value(record.data, keys)
        if value:
            lines.append(f"{label}：{clip(value)}")
    if len(lines) <= 2 and record.text:  # nothing structured: quote what the record says
        lines.append(f"说明：{clip(record.text)}")
    return lines


def _section_of(record: Record, question: str) -> Mapping[str, Any] | None:
    """The section a department record is about: its own, else the one closest to the question."""
    section = record.data.get("section")
    if isinstance(section, Mapping):
        return {**section, "section": section.get("name", record.section)}
    sections = record.data.get("sections")
    if isinstance(sections, list) and sections and all(isinstance(s, Mapping) for s in sections):
        best = _best_section(sections, question)
        return {**best, "section": best.get("name", "")} if best is not None else None
    if record.section or isinstance(section, str):
        return {**record.data, "section": record.section or section}
    return None


def department_card(record: Record, question: str) -> list[str]:
    name = record.department or record.title
    lines = [f"部门：{name}"]
    for label, keys in DEPARTMENT_FIELDS:
        value = field_value(record.data, keys)
        if value:
            lines.append(f"{label}：{clip(value)}")
    section = _section_of(record, question)
    if section is not None:
        for label, keys in SECTION_FIELDS:
            value = field_value(section, keys)
            if value:
                lines.append(f"{label}：{clip(value)}")
        phone = field_value(section, ("phone",))
        if phone and phone != field_value(record.data, ("phone", "电话")):
            lines.append(f"科室电话：{phone}")
    else:
        contact = field_value(record.data, ("contact", "负责人"))
        if contact:
            lines.append(f"负责人：{contact}")
    functions = field_value(record.data, ("functions", "职能"))
    if functions and len(lines) <= 4:
        lines.append(f"职能：{clip(functions)}")
    if len(lines) == 1 and record.text:
        lines.append(f"说明：{clip(record.text)}")
    return lines


def policy_passage(record: Record, question: str) -> list[str]:
    body = field_value(record.data, ("quote",)) or record.text  # the chunk without its heading line
    body = re.sub(r"(?m)^\s*#{1,6}\s*", "", body)  # Markdown heading marks are not part of the text
    quote = best_passage(body, question) or clip(body, MAX_QUOTE_CHARS)
    lines = [f"《{record.title}》" + (f"（{record.department}）" if record.department else "")]
    lines.append(f"“{quote}” {cite(record)}")
    return lines


def record_lines(record: Record, question: str) -> list[str]:
    if record.kind == "service":
        return service_card(record)
    if record.kind == "department":
        return department_card(record, question)
    return policy_passage(record, question)


def brief(hit: Hit) -> str:
    record = hit.record
    label = {"service": "事项", "department": "部门", "policy": "政策"}.get(record.kind, "")
    title = record.title
    section = record.section
    if section.startswith(title):  # chunk sections may repeat the document title
        section = section[len(title) :].lstrip(" ›>")
    section = f" › {clip(section, 40)}" if record.kind == "policy" and section else ""
    dept = f"（{record.department}）" if record.department and not title.startswith(record.department) else ""
    return f"· [{label}] {title}{section}{dept}"


__all__ = [
    "MAX_QUOTE_CHARS",
    "best_passage",
    "brief",
    "cite",
    "clip",
    "department_card",
    "field_value",
    "policy_passage",
    "record_lines",
    "service_card",
]
