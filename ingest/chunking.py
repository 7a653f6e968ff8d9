"""Chinese-aware chunking: sentence-boundary splitting, heading paths (一、/（一）/1.) and spans.

A chunk is always an exact slice of the document text (`text[start:end] == chunk.text`), so every
answer can quote it and point at where it came from. The section path of a chunk is the chain of
headings above it, e.g. "三、优化政务服务 › （二）推行一网通办", which answers cite as
"文件名 › 章节".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTION_SEPARATOR = " › "

_CN_NUM = "一二三四五六七八九十百千零〇两"
# Heading markers in Chinese official documents, from the outermost rank to the innermost.
# Markdown headings (from .md, or produced by the docx/html loaders) rank by their number of '#'.
_HEADING_PATTERNS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (1, re.compile(rf"^第[{_CN_NUM}\d]+[编章](?=\s|$|[^\w]|[\u4e00-\u9fff])")),
    (2, re.compile(rf"^第[{_CN_NUM}\d]+节")),
    (3, re.compile(rf"^[{_CN_NUM}]+[、．.]")),
    (4, re.compile(rf"^[（(][{_CN_NUM}]+[）)]")),
    (5, re.compile(r"^\d{1,3}(?:[、．]|\.(?!\d))")),
    (6, re.compile(r"^[（(]\d{1,3}[）)]")),
    (7, re.compile(rf"^第[{_CN_NUM}\d]+条")),
)
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*$")
# Headings of this rank or higher (章/节/一、) always start a new chunk; deeper ones ((一)/1./第X条) only do
# when the current chunk is already reasonably full, so short numbered lists stay together.
_HARD_BREAK_RANK = 3
# Sentence ends: full stops, exclamation/question marks and semicolons, with closing quotes/brackets.
_SENTENCE_END = re.compile(r"[。！？；!?;…]+[”’」』）)\"']*")
_SOFT_BREAK = re.compile(r"[，,、：:]")
_MAX_HEADING_CHARS = 40


@dataclass(frozen=True, slots=True)
class Chunk:
    """A slice of a document: `text == document[start:end]`, under heading path `section`."""

    text: str
    section: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    path: tuple[str, ...]
    heading_rank: int  # 0 for body text; > 0 when the unit is (the start of) a heading line
    heading_only: bool  # the unit is nothing but a heading


def heading_of(line: str) -> tuple[int, str] | None:
    """(rank, heading text) when `line` starts with a heading marker, else None."""
    stripped = line.strip()
    if not stripped:
        return None
    md = _MARKDOWN_HEADING.match(stripped)
    if md:
        text = md.group(2).strip()
        return (len(md.group(1)), text) if text else None
    for rank, pattern in _HEADING_PATTERNS:
        match = pattern.match(stripped)
        if not match:
            continue
        if rank == 7:  # an article: "第三条 本办法适用于…" is cited as "第三条"
            return rank, match.group(0)
        # "（一）加强组织领导。各地要……": the heading is the part before the first sentence end.
        head = re.split(r"[。；：:！？!?]", stripped, maxsplit=1)[0].strip()
        if len(head) > _MAX_HEADING_CHARS:
            head = head[:_MAX_HEADING_CHARS].rstrip("，,、 ") + "…"
        return rank, head
    return None


def _sentences(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Split text[start:end] into sentence spans no longer than `limit` characters."""
    spans: list[tuple[int, int]] = []
    pos = start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append((pos, match.end()))
        pos = match.end()
    if pos < end:
        spans.append((pos, end))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        # Trim the whitespace between sentences so spans start and end on characters.
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s >= e:
            continue
        # A very long sentence is cut at a comma (or, failing that, hard) below the limit.
        while e - s > limit:
            cut = s + limit
            soft = [m.end() for m in _SOFT_BREAK.finditer(text, s + limit // 2, s + limit)]
            if soft:
                cut = soft[-1]
            out.append((s, cut))
            s = cut
        out.append((s, e))
    return out


def _units(text: str, limit: int, title: str) -> list[_Unit]:
    units: list[_Unit] = []
    stack: list[tuple[int, str]] = []
    pos = 0
    for line in text.split("\n"):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        if not line.strip():
            continue
        heading = heading_of(line)
        rank = 0
        if title and (line.strip().lstrip("#").strip() == title):
            # The document's own title line ("# 文件标题") is not a section; like a bare heading
            # it stays with the text that follows it.
            units.append(_Unit(line_start + len(line) - len(line.lstrip()), line_start + len(line.rstrip()),
                               tuple(t for _, t in stack), heading_rank=0, heading_only=True))
            continue
        if heading is not None:
            rank, title = heading
            while stack and stack[-1][0] >= rank:
                stack.pop()
            stack.append((rank, title))
        path = tuple(title for _, title in stack)
        sentences = _sentences(text, line_start, line_end, limit)
        for i, (s, e) in enumerate(sentences):
            first = i == 0
            units.append(
                _Unit(
                    start=s,
                    end=e,
                    path=path,
                    heading_rank=rank if first else 0,
                    # "一、许可要求" is a bare heading; "（一）应当取得许可证。" is content with a marker.
                    heading_only=first and rank > 0 and len(sentences) == 1 and e - s <= _MAX_HEADING_CHARS + 8
                    and not _SENTENCE_END.search(text, s, e),
                )
            )
    return units


def _common_path(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    common = list(paths[0])
    for path in paths[1:]:
        n = 0
        while n < len(common) and n < len(path) and common[n] == path[n]:
            n += 1
        del common[n:]
    return tuple(common)


def chunk_text(text: str, *, chunk_chars: int = 400, overlap: int = 60, title: str = "") -> list[Chunk]:
    """Split `text` into chunks of about `chunk_chars` characters on sentence boundaries.

    Headings start new chunks (see _HARD_BREAK_RANK) and give each chunk its section path;
    neighbouring chunks of one section share up to `overlap` characters of whole sentences.
    A heading equal to `title` (the document's own title) is not made a section.
    """
    if chunk_chars <= 0:
        raise ValueError("chunk_chars must be positive")
    units = _units(text, chunk_chars, title.strip())
    chunks: list[Chunk] = []
    current: list[_Unit] = []

    def size(group: list[_Unit]) -> int:
        return group[-1].end - group[0].start if group else 0

    def close() -> None:
        if not current:
            return
        start, end = current[0].start, current[-1].end
        # Leading bare headings ("一、总体要求" right above "（一）…") are context: the chunk is
        # cited by where its content sits.
        content = [u for u in current if not u.heading_only] or current
        section = SECTION_SEPARATOR.join(_common_path([u.path for u in content]))
        chunks.append(Chunk(text=text[start:end], section=section, start=start, end=end))

    for unit in units:
        if current:
            # Bare headings stay with what follows them, unless they pile up (a long list of
            # one-line items such as "1. 营业执照；" is all "headings" and must still be split).
            only_headings = all(u.heading_only for u in current) and size(current) < chunk_chars // 3
            heading_break = unit.heading_rank > 0 and not only_headings and (
                unit.heading_rank <= _HARD_BREAK_RANK or size(current) >= chunk_chars // 2
            )
            too_big = unit.end - current[0].start > chunk_chars and not only_headings
            if heading_break:
                close()
                current = []
            elif too_big:
                close()
                # Carry whole trailing sentences of the same section over, for context.
                carried: list[_Unit] = []
                for prev in reversed(current[1:]):
                    if prev.path != unit.path or prev.heading_only:
                        break
                    if unit.end - prev.start > chunk_chars or current[-1].end - prev.start > overlap:
                        break
                    carried.insert(0, prev)
                current = carried
        current.append(unit)
    close()
    return chunks


__all__ = ["SECTION_SEPARATOR", "Chunk", "chunk_text", "heading_of"]
