"""YAML as untrusted input: safe loading without aliases, values read back as text, problems in Chinese.

Directory files (.yaml) and policy front matter are both YAML written by admins; nothing in them is
executed (safe loader) and nothing expands (aliases refused before loading).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import yaml


class YamlAliasRefused(ValueError):
    """The YAML uses anchors/aliases (&a / *a): refused, since a few hundred bytes of nested aliases
    expand into gigabytes ("billion laughs"); no directory or front matter needs them."""


def load_yaml(text: str) -> Any:
    """yaml.safe_load, after refusing aliases (checked on the event stream, before anything expands)."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise YamlAliasRefused(event.anchor)
    return yaml.safe_load(text)


def as_text(value: Any) -> str:
    """A YAML value as the text a user wrote: dates as 2026-01-01, lists joined with 、 (never a
    Python repr such as [datetime.date(2026, 1, 1)])."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "、".join(t for t in (as_text(v) for v in value) if t)
    if isinstance(value, dict):
        return "、".join(f"{as_text(k)}：{as_text(v)}" for k, v in value.items())
    return str(value)


# PyYAML's problems, in the words an admin can act on (anything else: a generic Chinese phrase).
_YAML_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed", "冒号使用不当（“键: 值”的冒号后要有空格，值里含冒号时请加引号）"),
    ("could not find expected ':'", "缺少冒号（每行应写成“键: 值”）"),
    ("cannot start any token", "含有不允许的字符（例如制表符：请用空格缩进，或把值加上引号）"),
    ("expected <block end>", "缩进不一致"),
    ("did not find expected key", "缩进不一致或缺少键名"),
    ("found undefined alias", "引用了未定义的别名（*）"),
    ("found unknown escape character", "引号内有无法识别的转义字符（\\）"),
    ("found unexpected end of stream", "引号或括号没有闭合"),
    ("could not determine a constructor", "含有不支持的标签（!! 开头），出于安全原因不予解析"),
)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what is wrong with a YAML text, in Chinese."""
    mark = getattr(exc, "problem_mark", None)
    where = f"第 {mark.line + 1} 行" if mark is not None else ""
    problem = str(getattr(exc, "problem", None) or exc)
    said = next((zh for en, zh in _YAML_PROBLEMS if en in problem), "格式不正确")
    return f"{where}{'：' if where else ''}{said}"


__all__ = ["YamlAliasRefused", "as_text", "load_yaml", "yaml_problem"]
