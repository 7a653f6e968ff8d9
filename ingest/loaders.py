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
from pathlib import Path

from ingest.archives import check_archive
from ingest.chunking import heading_of
from ingest.errors import IngestError
from ingest.front_matter import FrontMatter, split_front_matter

POLICY_EXTENSIONS = frozenset({".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm"})

# Encodings tried in order before asking charset-normalizer: Chinese Excel/Notepad save GBK, and
# GB18030 is its strict superset, so it decodes GBK and GB2312 files too.


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
    # Per-format parsers load only in the parser process, and only for the format it is reading.
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
    # Per-format parsers load only in the parser process, and only for the format it is reading.
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
    # Per-format parsers load only in the parser process, and only for the format it is reading.
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
    # Per-format parsers load only in the parser process, and only for the format it is reading.
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
