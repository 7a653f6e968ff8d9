"""Query repair: homophone and near-miss typos of the directory's own words (营业职照 → 营业执照).

Owners type with pinyin input methods, so the commonest typo is a character with the same (or a
dialect-confused) pinyin: 社报 for 社保, 环平 for 环评, 公积经 for 公积金. A misspelt name shares no
term with the record that answers it, so the search misses it although the correct spelling finds
it at once. The repair uses only vocabulary the knowledge base itself has — item names and their
words, department names and aliases, keywords — plus a short list of terms every Chinese city uses:

- a window of the question (2–8 CJK characters) that is neither a dictionary word nor a string the
  knowledge base contains is looked up by its *fuzzy pinyin* (tones dropped; zh/z, ch/c, sh/s, l/n
  and -ng/-n merged, the confusions of southern Mandarin); a vocabulary word with the same key and
  the same length replaces it;
- a window of four or more characters one character away from a vocabulary word (营业执找) is
  replaced by it when that word is the only one.

Longer windows first, and a character is repaired at most once. Nothing here knows a question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

from knowledge.lexical import segment

# Terms of government business that every city uses; repaired towards even when the city's own
# directory spells them differently (the dense side still finds the matching records).
COMMON_TERMS: tuple[str, ...] = (
    "营业执照", "社保", "医保", "公积金", "环评", "消防", "税务", "发票", "纳税", "个体户", "个体工商户",
    "食品经营许可", "卫生许可", "施工许可", "排污许可", "许可证", "备案", "资质", "注销", "变更",
    "登记", "年报", "商标", "专利", "补贴", "补助", "奖励", "减免", "退税", "贷款", "担保", "招聘",
    "劳动合同", "工伤", "失业", "养老", "稳岗", "用工", "营业", "执照", "审批", "验收", "不动产",
    "产权", "土地", "规划", "报建", "消防验收", "安全生产", "危险化学品", "特种设备", "进出口", "报关",
    "海关", "外资", "市场监管", "卫生健康", "生态环境", "人社", "住建", "城管", "招商", "融资",
)

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_MIN_LEN, _MAX_LEN = 2, 8
# The shortest window that may be repaired by one different character rather than by sound.
_MIN_EDIT_LEN = 4


def fuzzy_syllable(syllable: str) -> str:
    """A toneless pinyin syllable with the commonly confused sounds merged."""
    s = syllable.lower()
    for retroflex, flat in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if s.startswith(retroflex):
            s = flat + s[2:]
            break
    if s.startswith("l"):
        s = "n" + s[1:]
    if s.endswith("ng") and len(s) > 2:
        s = s[:-1]
    return s


def _pinyin_key(text: str, *, fuzzy: bool = True) -> tuple[str, ...]:
    syllables = lazy_pinyin(text, style=Style.NORMAL, errors="ignore")
    return tuple(fuzzy_syllable(p) if fuzzy else p for p in syllables)


@dataclass(frozen=True, slots=True)
class Repair:
    wrong: str
    right: str


class QueryRepairer:
    """Repairs typos towards the knowledge base's vocabulary; built once per index (re)load."""

    def __init__(self, vocabulary: Iterable[str], is_known: Callable[[str], bool]) -> None:
        """`vocabulary`: words to repair towards; `is_known(s)`: True when `s` is a real word or a
        string the knowledge base contains (such windows are never "repaired")."""
        self._is_known = is_known
        words = {w for w in vocabulary if _MIN_LEN <= len(w) <= _MAX_LEN and _CJK_RUN.fullmatch(w)}
        words.update(COMMON_TERMS)
        self.vocabulary = frozenset(words)
        self._by_sound: dict[tuple[str, ...], set[str]] = {}
        self._by_exact_sound: dict[tuple[str, ...], set[str]] = {}
        self._by_shape: dict[str, set[str]] = {}
        for word in self.vocabulary:
            key = _pinyin_key(word)
            if len(key) == len(word):  # every character has a reading
                self._by_sound.setdefault(key, set()).add(word)
                self._by_exact_sound.setdefault(_pinyin_key(word, fuzzy=False), set()).add(word)
            if len(word) >= _MIN_EDIT_LEN:
                for i in range(len(word)):
                    self._by_shape.setdefault(word[:i] + "\x00" + word[i + 1 :], set()).add(word)

    def repair(self, question: str) -> tuple[str, list[Repair]]:
        """The question with its typos replaced, and what was replaced."""
        repairs: list[Repair] = []
        pieces: list[str] = []
        last = 0
        for match in _CJK_RUN.finditer(question):
            fixed, found = self._repair_run(match.group(0))
            if found:
                pieces.append(question[last : match.start()])
                pieces.append(fixed)
                last = match.end()
                repairs.extend(found)
        if not repairs:
            return question, []
        pieces.append(question[last:])
        return "".join(pieces), repairs

    def _repair_run(self, run: str) -> tuple[str, list[Repair]]:
        if len(run) < _MIN_LEN:
            return run, []
        exact = lazy_pinyin(run, style=Style.NORMAL, errors="default")
        if len(exact) != len(run):  # a character pypinyin cannot read: compare sounds per character
            exact = [lazy_pinyin(ch, style=Style.NORMAL)[0] for ch in run]
        syllables = [fuzzy_syllable(p) for p in exact]
        inside: set[tuple[int, int]] | None = None  # computed only when some window has a candidate
        chars = list(run)
        fixed = [False] * len(run)
        protected = [False] * len(run)
        # Words the vocabulary already has are right as typed: never rewrite inside them.
        for size in range(min(_MAX_LEN, len(run)), _MIN_LEN - 1, -1):
            for start in range(len(run) - size + 1):
                if run[start : start + size] in self.vocabulary:
                    for i in range(start, start + size):
                        protected[i] = True
        repairs: list[Repair] = []
        for size in range(min(_MAX_LEN, len(run)), _MIN_LEN - 1, -1):
            for start in range(len(run) - size + 1):
                span = range(start, start + size)
                if any(fixed[i] for i in span) or all(protected[i] for i in span):
                    continue
                window = "".join(chars[start : start + size])
                if window in self.vocabulary:
                    continue
                # Cheap dictionary lookups first; the word checks below only for windows with a candidate.
                if size == _MIN_LEN:
                    # Two characters carry little: only an exact homophone (社报/社保), never a merged
                    # sound (小饭 xiaofan would become 消防 xiaofang).
                    right = self._unique(self._by_exact_sound.get(tuple(exact[start : start + size]), set()), window)
                else:
                    right = self._by_sound_match(tuple(syllables[start : start + size]), window)
                if right is None and size >= _MIN_EDIT_LEN:
                    right = self._by_shape_match(window)
                    if right is not None and self._word_plus_one(window):
                        right = None
                if right is None or self._is_known(window):
                    continue
                if inside is None:
                    inside = self._inside_known_words(run)
                if (start, start + size) in inside:
                    continue
                repairs.append(Repair(window, right))
                for i, ch in zip(span, right, strict=True):
                    chars[i] = ch
                    fixed[i] = True
        return "".join(chars), repairs

    def _inside_known_words(self, run: str) -> set[tuple[int, int]]:
        """Spans strictly inside a real word of the run (小饭 in 小饭馆): never repaired on their own."""
        spans: set[tuple[int, int]] = set()
        position = 0
        for word in segment(run):
            end = position + len(word)
            if len(word) >= 3 and self._is_known(word):
                for a in range(position, end):
                    for b in range(a + _MIN_LEN, end + 1):
                        if (a, b) != (position, end):
                            spans.add((a, b))
            position = end
        return spans

    def _word_plus_one(self, window: str) -> bool:
        """A known word with one more character (中小企业预, 供电公司's parts): not a misspelt name."""
        head, tail = window[:-1], window[1:]
        if any(w in self.vocabulary or self._is_known(w) for w in (head, tail)):
            return True
        # Made of known words throughout (供电+公司): a real phrase, not a typo.
        return any(self._is_known(window[:i]) and self._is_known(window[i:]) for i in range(2, len(window) - 1))

    @staticmethod
    def _unique(candidates: set[str], window: str) -> str | None:
        options = candidates - {window}
        return next(iter(options)) if len(options) == 1 else None

    def _by_sound_match(self, key: tuple[str, ...], window: str) -> str | None:
        candidates = self._by_sound.get(key, set()) - {window}
        if len(candidates) != 1:
            return None  # none, or ambiguous: a guess would mislead more than the typo
        right = next(iter(candidates))
        # A homophone must differ in the typed characters only where the sound allowed it: at least
        # half of the characters stay (营页执照 → 营业执照), so two unrelated words never swap.
        same = sum(a == b for a, b in zip(window, right, strict=True))
        return right if same * 2 >= len(window) or len(window) == 2 else None

    def _by_shape_match(self, window: str) -> str | None:
        candidates: set[str] = set()
        for i in range(len(window)):
            candidates |= self._by_shape.get(window[:i] + "\x00" + window[i + 1 :], set())
        candidates.discard(window)
        return next(iter(candidates)) if len(candidates) == 1 else None
