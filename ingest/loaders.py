"""Policy files → plain text + title + front matter, one loader per format.

Every loader returns a :class:`Document` whose `text` is what chunk spans point into. Files are data:
nothing in them is executed (front matter is read with YAML's safe loader, HTML scripts are dropped).
Problems raise :class:`IngestError` with a Chinese message for the admin.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from ingest.archives import check_archive
from ingest.errors import IngestError

POLICY_EXTENSIONS = frozenset({".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm"})

# Encodings tried in order before asking charset-normalizer: Chinese Excel/Notepad save GBK, and
# GB18030 is its strict superset, so it decodes GBK and GB2312 files too.


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The policy metadata a file may declare in YAML front matter (all optional)."""

    title: str = ""
    department: str = ""
    effective: date | None = None
    expires: date | None = None
    supersedes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded policy document: `text` (front matter removed) is what chunk spans refer to."""

    text: str
    title: str = ""
    meta: FrontMatter = field(default_factory=FrontMatter)
    encoding: str = ""


# ---------------------------------------------------------------------------------------------
# Text decoding


def decode_bytes(data: bytes, *, name: str = "文件") -> tuple[str, str]:
    """Decode UTF-8 (with or without BOM) or GBK/GB18030 text; returns (text, encoding)."""
    if not data.strip():
        raise IngestError(f"{name}：文件为空")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(f"{name}：不是文本文件（含二进制内容）")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    if text:
        if _plausible_chinese(text):
            return text, "gb18030"
        # GB18030 decodes almost any bytes: Big5 or Shift-JIS text comes out as rare characters.
        try:
            traditional = data.decode("big5")
        except UnicodeDecodeError:
            traditional = ""
        if traditional and _plausible_chinese(traditional, level1_only=False):
            return traditional, "big5"
        raise IngestError(f"{name}：文件编码无法可靠识别（看起来不是 UTF-8 或 GBK，可能是 Big5、Shift-JIS 等），"
                          "请另存为 UTF-8 后再导入")
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise IngestError(f"{name}：无法识别文件编码（请另存为 UTF-8 或 GBK）")
    return str(best), best.encoding


def _is_common_hanzi(ch: str) -> bool:
    """A character of GB2312 level 1: the 3,755 most common Simplified Chinese characters."""
    try:
        encoded = ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(encoded) == 2 and 0xB0 <= encoded[0] <= 0xD7


def _plausible_chinese(text: str, *, level1_only: bool = True) -> bool:
    """Does decoded text read as Chinese? Real Simplified text is ~99% common characters; Big5 or
    Shift-JIS bytes read as GBK are a quarter or none. Short texts give too little evidence: accepted."""
    sample = text[:20000]
    cjk = [ch for ch in sample if "\u3040" <= ch <= "\u9fff"]
    if len(cjk) < 8:
        return True
    if not level1_only:  # Traditional Chinese (Big5): no kana, mostly unified ideographs
        return sum("\u4e00" <= ch <= "\u9fff" for ch in cjk) / len(cjk) > 0.95
    return sum(_is_common_hanzi(ch) for ch in cjk) / len(cjk) >= 0.8


def read_text(path: Path) -> tuple[str, str]:
    """Read a text file in UTF-8/UTF-8-BOM/GBK; returns (text, encoding)."""
    return decode_bytes(path.read_bytes(), name=path.name)


def normalise_text(text: str) -> str:
    """Unify line endings and drop characters that only get in the way of chunking and search."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ")
    text = text.replace("\ufeff", "").replace("\u200b", "").replace("\xa0", " ")
    # Form feeds and other control characters come out of PDFs; keep newlines and tabs only.
    text = "".join(ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " " for ch in text)
    lines = [line.rstrip() for line in text.split("\n")]
    # At most one empty line in a row: paragraphs stay visible, padding goes.
    out: list[str] = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line)
    return "\n".join(out).strip()


# ---------------------------------------------------------------------------------------------
# Front matter


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


class YamlAliasRefused(ValueError):
    """The YAML uses anchors/aliases (&a / *a): refused, since a few hundred bytes of nested aliases
    expand into gigabytes ("billion laughs"); no directory or front matter needs them."""


def load_yaml(text: str) -> Any:
    """yaml.safe_load, after refusing aliases (checked on the event stream, before anything expands)."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise YamlAliasRefused(event.anchor)
    return yaml.safe_load(text)


def split_front_matter(text: str, *, name: str = "文件") -> tuple[FrontMatter, str]:
    """Split YAML front matter (`---` … `---` at the very top) off a text; returns (meta, body)."""
    import frontmatter

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
        raise IngestError(f"{name}：开头的 front matter 中有不存在的日期（{_bad_date(raw_meta)}），请检查 effective/expires") from exc
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
    )
    if result.effective and result.expires and result.expires < result.effective:
        raise IngestError(f"{name}：失效日期 expires 早于生效日期 effective")
    return result, body


def _bounded_list(value: Any, key: str, name: str) -> tuple[str, ...]:
    try:
        return _as_str_list(value)
    except ValueError as exc:
        raise IngestError(f"{name}：front matter 中 {key} 列得太多（{exc}）") from exc


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


def _bad_date(text: str) -> str:
    """The first date-looking value of a YAML text that no calendar has (2026-02-30, 2026-13-01)."""
    for match in re.finditer(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", text):
        try:
            date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return match.group(0)
    return "无效的日期"


# ---------------------------------------------------------------------------------------------
# Per-format loaders. Each returns (raw text, title found in the document).


def _load_text(path: Path) -> tuple[str, str, str]:
    text, encoding = read_text(path)
    return text, "", encoding


def _markdown_title(text: str) -> str:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else ""


def _load_markdown(path: Path) -> tuple[str, str, str]:
    text, encoding = read_text(path)
    return text, "", encoding


# libxml2's HTML parser stops descending at 256 levels and drops what is deeper without a word; real
# pages nest a few dozen. Refusing at that depth means no content is ever silently lost.
MAX_HTML_DEPTH = 255
_HTML_DROP = ("head", "script", "style", "noscript", "template", "iframe", "form")
_HTML_BLOCKS = frozenset({"p", "div", "li", "tr", "br", "section", "article", "table"})
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def _load_html(path: Path) -> tuple[str, str, str]:
    """Text of an HTML page: headings as Markdown headings, blocks on their own lines, cells apart.

    One linear walk over lxml's tree (start/end events), so a page of 100,000 nested <div>s costs what
    its size costs (BeautifulSoup's insert_after per block was quadratic in depth: 20,000 levels took
    13 s, 100,000 did not finish in 3 minutes).
    """
    from lxml import etree
    from lxml import html as lxml_html

    raw, encoding = read_text(path)
    try:
        root = lxml_html.document_fromstring(_XML_DECLARATION.sub("", raw, count=1) or "<html></html>")
    except (etree.ParserError, ValueError) as exc:
        raise IngestError(f"{path.name}：HTML 文件无法解析") from exc
    title_node = root.find(".//title")
    title = " ".join((title_node.text_content() if title_node is not None else "").split())
    if not title:
        first_h1 = root.find(".//h1")
        title = " ".join(first_h1.text_content().split()) if first_h1 is not None else ""
    # Scripts, styles and forms are never content; dropping them also keeps hidden payloads out.
    for tag in list(root.iter(*_HTML_DROP)):
        tag.drop_tree()
    parts: list[str] = []
    depth = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""  # comments and PIs have no str tag
        if event == "start":
            depth += 1
            if depth >= MAX_HTML_DEPTH:
                raise IngestError(f"{path.name}：HTML 嵌套层数超过 {MAX_HTML_DEPTH} 层，无法完整读取，已拒绝导入")
            if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
                parts.append("\n" + "#" * int(tag[1]) + " ")
            if tag and element.text:
                parts.append(element.text)
            continue
        depth -= 1
        if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456" or tag in _HTML_BLOCKS:
            parts.append("\n")
        elif tag in ("td", "th"):
            parts.append(" ")  # cells of a row would otherwise run together
        if element.tail and element is not root:
            parts.append(element.tail)
    return "".join(parts), title, encoding


def _load_docx(path: Path) -> tuple[str, str, str]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    with path.open("rb") as fh:
        if fh.read(8) == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # OLE: encrypted .docx or an old .doc
            raise IngestError(f"{path.name}：Word 文件已加密或是旧版 .doc 格式，请去除密码并另存为 .docx")
    check_archive(path, "Word")
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise IngestError(f"{path.name}：Word 文件已损坏或不是 .docx 格式") from exc
    except Exception as exc:  # zipfile.BadZipFile, lxml errors: all mean "cannot read"
        raise IngestError(f"{path.name}：Word 文件已损坏或不是 .docx 格式") from exc
    lines: list[str] = []
    title = (document.core_properties.title or "").strip()
    # Walk the body in order so tables stay where they were between paragraphs.
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = block.text.strip()
            if not text:
                lines.append("")
                continue
            style = (block.style.name if block.style is not None else "") or ""
            level = _docx_heading_level(style)
            if style == "Title" and not title:
                title = text
            lines.append(("#" * level + " " + text) if level else text)
        elif isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = cell.text.strip().replace("\n", " ")
                    if value and (not cells or cells[-1] != value):  # merged cells repeat
                        cells.append(value)
                if cells:
                    lines.append(" | ".join(cells))
            lines.append("")
    return "\n".join(lines), title, ""


def _docx_heading_level(style: str) -> int:
    match = re.match(r"(?:Heading|标题)\s*(\d)", style)
    return int(match.group(1)) if match else 0


def _load_pdf(path: Path) -> tuple[str, str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs every repair it attempts ("EOF marker not found"); our message says it better.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            # Owner-password-only PDFs open with the empty user password; real encryption does not.
            try:
                ok = reader.decrypt("")
            except Exception as exc:
                raise IngestError(f"{path.name}：PDF 已加密，无法读取（请上传未加密的版本）") from exc
            if not ok:
                raise IngestError(f"{path.name}：PDF 已加密，无法读取（请上传未加密的版本）")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = ""
        try:
            info = reader.metadata
            title = str(info.title).strip() if info and info.title else ""
        except Exception:  # broken metadata must not hide readable pages
            title = ""
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, IndexError) as exc:
        raise IngestError(f"{path.name}：PDF 文件已损坏，无法读取") from exc
    except Exception as exc:  # pypdf raises many types on garbage input; all mean "corrupt"
        if exc.__class__.__module__.startswith("pypdf"):
            raise IngestError(f"{path.name}：PDF 文件已损坏，无法读取") from exc
        raise
    text = "\n".join(_unwrap_pdf_lines(page) for page in pages)
    if not text.strip():
        raise IngestError(f"{path.name}：PDF 中没有可提取的文字（可能是扫描件，请提供文字版）")
    return text, title, ""


# A PDF line that ends without punctuation and is about as long as a full line was wrapped by the
# layout, not by the author: Chinese needs no space to join it with the next line.
_LINE_END_PUNCT = tuple("。！？；：:!?;”’」』）)】")
_MIN_WRAPPED_LINE = 18


def _unwrap_pdf_lines(page: str) -> str:
    from ingest.chunking import heading_of

    out: list[str] = []
    for raw in page.split("\n"):
        line = raw.strip()
        if not line:
            out.append("")
            continue
        if out and out[-1]:
            prev = out[-1]
            wrapped = (len(prev) >= _MIN_WRAPPED_LINE and not prev.endswith(_LINE_END_PUNCT)
                       and heading_of(line) is None and _is_cjk(prev[-1]) and _is_cjk(line[0]))
            if wrapped:
                out[-1] = prev + line
                continue
        out.append(line)
    return "\n".join(out)


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or ch in "，、“‘《（"


_LOADERS: dict[str, Callable[[Path], tuple[str, str, str]]] = {
    ".txt": _load_text,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".docx": _load_docx,
    ".pdf": _load_pdf,
}


def _first_line_title(text: str) -> str:
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if not line:
            continue
        # A real title is short and is not a sentence of body text.
        if len(line) <= 60 and not line.endswith(("。", "；", "：", ":")):
            return line
        return ""
    return ""


def load_document(path: Path) -> Document:
    """Load a policy file of any supported format. Raises IngestError (Chinese) when it cannot."""
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise IngestError(f"{path.name}：不支持的文件类型“{suffix or '无扩展名'}”")
    if path.stat().st_size == 0:
        raise IngestError(f"{path.name}：文件为空")
    raw, doc_title, encoding = loader(path)
    meta, body = split_front_matter(raw, name=path.name)
    text = normalise_text(body)
    if not text:
        raise IngestError(f"{path.name}：没有可提取的文字")
    if suffix in (".md", ".markdown") and not doc_title:
        doc_title = _markdown_title(text)
    title = meta.title or doc_title or _first_line_title(text) or path.stem
    return Document(text=text, title=title, meta=meta, encoding=encoding)


__all__ = [
    "POLICY_EXTENSIONS",
    "Document",
    "FrontMatter",
    "decode_bytes",
    "load_document",
    "normalise_text",
    "read_text",
    "split_front_matter",
]
