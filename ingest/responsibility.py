"""Which department a policy passage makes responsible (牵头单位 / 责任单位 / "由市X局负责").

A policy of many measures ("若干措施", "十五条") names a different lead department for each one; the
file's front-matter department is only one of them. Each chunk is credited to the department its own
text names as responsible, so "担保费率最多多少" points to 财政局, not to the file's 工信局. The
front-matter (or most-named) department stays the fallback for chunks that name none.
"""

from __future__ import annotations

import re

from ingest.directory import DepartmentIndex
from knowledge.departments import loose_name_key

# "牵头单位：市财政局；责任单位：…" — lead roles first: they say who answers for the measure.
_LEAD_ROLES = "牵头单位|牵头部门|主责单位|主责部门|主办单位"
_OTHER_ROLES = "责任单位|责任部门|负责单位|负责部门|承办单位|实施单位|主管部门|受理单位|受理部门"
_ROLE = re.compile(rf"({_LEAD_ROLES}|{_OTHER_ROLES})\s*[:：]\s*([^。；;\n）)]{{2,80}})")
_LEAD = re.compile(_LEAD_ROLES)
# "由市人力资源社会保障局负责" / "（市商务局牵头）" / "本项措施由市数据局负责"
_BY = re.compile(r"由([\u4e00-\u9fff（）()]{2,40}?)(?:牵头|负责|承担|组织实施|具体实施|受理|统筹)")
_PAREN_LEAD = re.compile(r"[（(]([\u4e00-\u9fff、]{2,40}?)(?:牵头|负责)[^）)]{0,20}[）)]")
# Where a lead clause ends: its closing bracket, a full stop or the line end (not "；": 责任单位 follows).
_CLOSE = re.compile(r"[）)]|[。\n]")
# A shorter remainder after the last lead is that lead's clause, not the start of another measure.
_MIN_PIECE = 30


_key = loose_name_key  # the same key the desk and retrieval resolve names with


class ResponsibleDepartments:
    """Finds the responsible department named in a passage, resolved to the directory's canonical name."""

    def __init__(self, index: DepartmentIndex) -> None:
        self._index = index
        self._keys: list[tuple[str, str]] = sorted(
            ((_key(surface), canonical) for surface, canonical in index.names_and_aliases() if len(_key(surface)) >= 2),
            key=lambda item: -len(item[0]),
        )

    def resolve(self, mention: str) -> str | None:
        """A department as a policy writes it ("市人力资源社会保障局") → canonical name, else None."""
        mention = mention.strip(" ：:，,、")
        if not mention:
            return None
        exact = self._index.resolve(mention)
        if exact:
            return exact
        key = _key(mention)
        if len(key) < 2:
            return None
        for surface, canonical in self._keys:
            if surface == key:
                return canonical
        for surface, canonical in self._keys:
            # "人民银行青岚市分行" inside "中国人民银行青岚市分行", and the reverse.
            if len(key) >= 4 and len(surface) >= 4 and (key in surface or surface in key):
                return canonical
        return None

    def in_passage(self, text: str) -> str:
        """The department the passage names as responsible (the last lead named wins), else ""."""
        found: list[tuple[int, bool, str]] = []  # (position, is a lead role, canonical)
        for match in _ROLE.finditer(text):
            canonical = self._first_resolved(match.group(2))
            if canonical:
                found.append((match.start(), bool(_LEAD.fullmatch(match.group(1))), canonical))
        for pattern in (_BY, _PAREN_LEAD):
            for match in pattern.finditer(text):
                canonical = self._first_resolved(match.group(1))
                if canonical:
                    found.append((match.start(), True, canonical))
        if not found:
            return ""
        leads = [f for f in found if f[1]] or found
        # Chunks overlap their neighbours: the passage's own measure comes last.
        return max(leads, key=lambda f: f[0])[2]

    def measures(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, department) pieces of a passage holding several measures, each ending with its
        own lead (“……。（牵头单位：市财政局）”), as a chunk of a 若干措施 often does; [] when it holds
        fewer than two. The text after the last lead belongs to the next measure: department "".
        """
        marks: list[tuple[int, str]] = []  # (where the lead clause ends, canonical)
        for match in _ROLE.finditer(text):
            if _LEAD.fullmatch(match.group(1)):
                marks.append((match.end(), self._first_resolved(match.group(2)) or ""))
        for pattern in (_BY, _PAREN_LEAD):
            for match in pattern.finditer(text):
                marks.append((match.end(), self._first_resolved(match.group(1)) or ""))
        ends: list[tuple[int, str]] = []
        for position, canonical in sorted(marks):
            if not canonical:
                continue
            close = _CLOSE.search(text, position)
            end = close.end() if close else len(text)
            if ends and end <= ends[-1][0]:
                continue  # a second lead inside the same clause
            ends.append((end, canonical))
        if len(ends) < 2:
            return []
        pieces: list[tuple[int, int, str]] = []
        start = 0
        for end, canonical in ends:
            pieces.append((start, end, canonical))
            start = end
        rest = text[start:].strip()
        if len(rest) >= _MIN_PIECE:
            pieces.append((start, len(text), ""))
        elif rest:  # "责任单位：…）" left over: part of the last measure
            last_start, _, last = pieces[-1]
            pieces[-1] = (last_start, len(text), last)
        return pieces

    def _first_resolved(self, span: str) -> str | None:
        for piece in re.split(r"[、，,和及与]|以及", span):
            canonical = self.resolve(piece)
            if canonical:
                return canonical
        return None
