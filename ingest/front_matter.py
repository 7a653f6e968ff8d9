"""Policy metadata from YAML front matter (`---` … `---` at the top of a file): title, department,
dates, what it supersedes, tags — bounded, validated, and refused with a Chinese message when wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import frontmatter
import yaml

from ingest.errors import IngestError
from ingest.safe_yaml import YamlAliasRefused, as_text, load_yaml, yaml_problem


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The policy metadata a file may declare in YAML front matter (all optional)."""

    title: str = ""
    department: str = ""
    effective: date | None = None
    expires: date | None = None
    supersedes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # 惠企政策直达 (push.campaigns): who it is for, read against knowledge.audience at ingest;
    # benefit 免申即享 | 申请 as written; apply_by = 申报截止; summary = what an enterprise gets, in a line.
    applies_to: Any = None
    benefit: str = ""
    apply_by: date | None = None
    summary: str = ""


def _as_date(value: Any, key: str, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time zone
        except ValueError:
            continue
    raise IngestError(f"{name}：front matter 中 {key} 的日期“{text}”无法识别（请写成 2025-01-31）")


def _as_str_list(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        parts = re.split(r"[、,，;；]", value)
    elif isinstance(value, list | tuple):
        parts = [as_text(v) for v in value if v is not None]
    else:
        parts = [as_text(value)]
    items = tuple(p.strip() for p in parts if p.strip())
    if len(items) > MAX_LIST_ITEMS:
        raise ValueError(f"{len(items)} 项，上限 {MAX_LIST_ITEMS} 项")
    return items


# What front matter may hold: a title, a department, dates and short lists — not megabytes.
MAX_FRONT_MATTER_CHARS = 64 * 1024
MAX_LIST_ITEMS = 200
MAX_SUMMARY_CHARS = 500


def split_front_matter(text: str, *, name: str = "文件") -> tuple[FrontMatter, str]:
    """Split YAML front matter (`---` … `---` at the very top) off a text; returns (meta, body)."""
    stripped = text.lstrip("\ufeff")
    if not stripped.startswith("---"):
        return FrontMatter(), text
    handler = frontmatter.YAMLHandler()
    if not handler.detect(stripped):
        return FrontMatter(), text
    try:
        raw_meta, body = handler.split(stripped)
    except ValueError:  # an opening "---" without a closing one: a horizontal rule, not front matter
        return FrontMatter(), text
    if len(raw_meta) > MAX_FRONT_MATTER_CHARS:
        raise IngestError(f"{name}：开头的 front matter 过长（{len(raw_meta)} 字），上限 {MAX_FRONT_MATTER_CHARS} 字")
    try:
        # Safe loader: tags such as !!python/object/apply are refused, never executed.
        metadata = load_yaml(raw_meta)
    except YamlAliasRefused as exc:
        raise IngestError(f"{name}：front matter 使用了 YAML 别名（&/*），出于安全原因不予解析，请直接写出内容") from exc
    except yaml.YAMLError as exc:
        raise IngestError(f"{name}：开头的 YAML front matter 格式错误：{yaml_problem(exc)}") from exc
    except ValueError as exc:  # 2026-02-30 or month 13: YAML reads it as a date and the calendar refuses
        raise IngestError(f"{name}：开头的 front matter 中有不存在的日期（{_bad_date(raw_meta)}），请检查 effective/expires/apply_by") from exc
    if metadata is None:
        return FrontMatter(), body
    if not isinstance(metadata, dict):
        # "---" rules around an ordinary first paragraph look like front matter but hold no keys.
        return FrontMatter(), text
    meta = {str(k).strip().lower(): v for k, v in metadata.items()}
    result = FrontMatter(
        title=as_text(meta.get("title") or meta.get("标题") or "").strip(),
        department=as_text(meta.get("department") or meta.get("部门") or "").strip(),
        effective=_as_date(meta.get("effective", meta.get("生效日期")), "effective", name),
        expires=_as_date(meta.get("expires", meta.get("失效日期")), "expires", name),
        supersedes=_bounded_list(meta.get("supersedes", meta.get("替代")), "supersedes", name),
        tags=_bounded_list(meta.get("tags", meta.get("标签")), "tags", name),
        applies_to=_bounded_audience(meta.get("applies_to", meta.get("适用对象")), name),
        benefit=as_text(meta.get("benefit") or meta.get("兑现方式") or "").strip()[:32],
        apply_by=_as_date(meta.get("apply_by", meta.get("申报截止")), "apply_by", name),
        summary=as_text(meta.get("summary") or meta.get("摘要") or "").strip()[:MAX_SUMMARY_CHARS],
    )
    if result.effective and result.expires and result.expires < result.effective:
        raise IngestError(f"{name}：失效日期 expires 早于生效日期 effective")
    return result, body


def _bounded_list(value: Any, key: str, name: str) -> tuple[str, ...]:
    try:
        return _as_str_list(value)
    except ValueError as exc:
        raise IngestError(f"{name}：front matter 中 {key} 列得太多（{exc}）") from exc


def _bounded_audience(value: Any, name: str) -> Any:
    """`applies_to` with each list bounded; anything but a mapping is passed on for ingest to report."""
    if not isinstance(value, dict):
        return value
    return {str(k).strip(): _bounded_list(v, f"applies_to.{k}", name) for k, v in value.items()}


def _bad_date(text: str) -> str:
    """The first date-looking value of a YAML text that no calendar has (2026-02-30, 2026-13-01)."""
    for match in re.finditer(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", text):
        try:
            date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return match.group(0)
    return "无效的日期"


__all__ = ["FrontMatter", "split_front_matter"]
