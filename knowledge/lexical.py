"""BM25 over Chinese: jieba words plus character bigrams in ONE index (NOTES.md: best on Chinese).

Why both: jieba words carry exact matches of names the directory knows (added to jieba's dictionary:
department names, aliases, item names), bigrams survive typos, unknown words and segmentation
mistakes. Stop words (question phrasing, generic verbs such as 办理/申请) are removed before bigrams
are formed, so "怎么办理" does not produce the noise bigram "么办".
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)
# bm25s logs every index build at DEBUG with its own level set; it is noise in a chat terminal.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# Words that say how someone asks, not what about. Generic government verbs are here too: they occur
# in nearly every record and otherwise dominate BM25 scores (Langchain-Chatchat #5024).
_STOP_TEXT = """
    的 了 着 过 吗 呢 吧 啊 呀 哦 嘛 哈 么 啦 喔 哟 噢 呗 咯 嗯 额 哎 唉 诶 耶 之 与 及 和 或 跟 同 并 而 且
    也 都 就 还 又 再 才 很 太 挺 最 更 比较 非常 特别 真的 一下 一点 一些 有点 有些 这 那 这个 那个 这些 那些
    这样 那样 这么 那么 这里 那里 这儿 那儿 哪 哪个 哪些 哪里 哪儿 哪家 什么 啥 咋 怎 怎么 怎样 怎么样 如何
    为什么 为啥 多少 几 几个 是否 是不是 能不能 可不可以 能否 有没有 要不要 会不会 多久 多长时间 多长 多大
    我 我们 你 你们 您 他 她 它 他们 咱 咱们 自己 本人 人家 大家 企业 老板 单位 一个 个 家 位
    是 有 在 去 来 到 给 让 把 被 对 向 从 往 为 以 于 用 按 要 想 需要 需 得 应该 应当 必须 能 能够 可以 可
    会 该 请 请问 问 问一下 问下 咨询 知道 告诉 了解 打听 麻烦 谢谢 你好 您好 好 喂 在吗 求 帮 帮忙 帮我
    办 办理 申请 申办 申领 办个 弄 搞 做 干 找 找谁 谁 哪位 部门 单位 地方 手续 流程 程序 事 事情 事项 问题
    情况 东西 方面 相关 有关 关于 一般 通常 现在 目前 今天 已经 刚 刚刚 准备 打算 开始 之后 以后 以前
    然后 如果 要是 但是 可是 不过 因为 所以 还是 或者 以及 等 等等 啊 吗 呢 么 呐 哇 没 没有 不 不是 不能
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_TEXT.split())

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORDLIKE = re.compile(r"^[\w\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
_NAME_OK = re.compile(r"^[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff（）()]{2,24}$")
# Parenthesised parts of names ("（广东省人民防空办公室）") are also names worth knowing.
_PARENS = re.compile(r"[（(]([^（）()]{2,24})[）)]")

_tokenizer_lock = threading.Lock()
_tokenizer: object | None = None
_known_words: set[str] = set()


def _jieba() -> object:
    """One jieba Tokenizer per process (initialising costs ~1 s; it caches in the temp dir)."""
    global _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None:
            # Loaded on first use: jieba builds its dictionary and bm25s pulls SciPy (~1 s); many importers never index.
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.initialize()
            _tokenizer = tok
        return _tokenizer


def add_domain_words(words: Iterable[str]) -> int:
    """Teach jieba the directory's names (departments, aliases, item names); returns how many were new."""
    tok = _jieba()
    added = 0
    with _tokenizer_lock:
        for raw in words:
            for word in _name_variants(raw):
                if word in _known_words:
                    continue
                _known_words.add(word)
                # A high frequency makes jieba keep the whole name together.
                tok.add_word(word, freq=max(2000, 200 * len(word)))  # type: ignore[attr-defined]
                added += 1
    return added


def _name_variants(raw: str) -> list[str]:
    name = normalize(raw).strip()
    out: list[str] = []
    if _NAME_OK.match(name):
        out.append(name)
    out.extend(m for m in _PARENS.findall(name) if _NAME_OK.match(m))
    bare = _PARENS.sub("", name).strip()
    if bare != name and _NAME_OK.match(bare):
        out.append(bare)
    return [w for w in out if "(" not in w and "（" not in w]


def segment(text: str) -> list[str]:
    """jieba's words of `text` (with the domain words taught so far)."""
    return list(_jieba().lcut(normalize(text), HMM=False))  # type: ignore[attr-defined]


def word_frequency(word: str) -> int:
    """jieba's dictionary frequency of `word` (0 when it is not a word)."""
    return int(_jieba().FREQ.get(word, 0) or 0)  # type: ignore[attr-defined]


_CHAR_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[0-9a-z]+")


def char_terms(text: str) -> list[str]:
    """Characters and character bigrams of CJK runs, ASCII words whole: no dictionary, no stop words.

    The second lexical view. jieba cuts a colloquial question and a formal item name differently, and
    the stop-word list drops words that still carry meaning in a long paraphrase; plain characters do
    neither (on the Guangdong tuning questions it added 0.026 hit@1).
    """
    terms: list[str] = []
    for run in _CHAR_RUN.findall(normalize(text)):
        if run.isascii():
            terms.append(run)
            continue
        terms.extend(run)
        terms.extend(run[i : i + 2] for i in range(len(run) - 1))
    return terms


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, collapsed whitespace."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).lower()


def _is_content(word: str) -> bool:
    return bool(word.strip()) and bool(_WORDLIKE.match(word)) and word not in STOP_WORDS


def analyze(text: str, *, unigrams: bool = False) -> list[str]:
    """Index/query terms: jieba words (and their dictionary sub-words) + CJK bigrams of content runs."""
    tok = _jieba()
    text = normalize(text)
    terms: list[str] = []
    runs: list[str] = []
    run: list[str] = []
    for word in tok.lcut(text, HMM=True):  # type: ignore[attr-defined]
        if not _is_content(word):
            if run:
                runs.append("".join(run))
                run = []
            continue
        run.append(word)
        # Single characters carry little on their own ("1", "a"); CJK ones still enter the bigrams.
        if len(word) >= 2:
            terms.append(word)
        if len(word) > 2 and _CJK.match(word):
            freq = tok.FREQ  # type: ignore[attr-defined]
            # Same idea as jieba's cut_for_search: known 2/3-character words inside a long word.
            for size in (2, 3):
                if len(word) > size:
                    terms.extend(
                        g
                        for i in range(len(word) - size + 1)
                        if freq.get(g := word[i : i + size]) and g not in STOP_WORDS
                    )
    if run:
        runs.append("".join(run))
    for chunk in runs:
        for piece in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", chunk):
            if unigrams:
                terms.extend(piece)
            terms.extend(piece[i : i + 2] for i in range(len(piece) - 1))
    return terms


# Joins a document's cached terms (terms never contain control characters).
_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class LexicalHit:
    index: int
    score: float


class LexicalIndex:
    """A BM25 index over documents; documents are referred to by their position."""

    def __init__(
        self,
        documents: Sequence[str],
        *,
        unigrams: bool = False,
        cache: dict[str, str] | None = None,
        analyzer: Callable[[str], list[str]] | None = None,
    ) -> None:
        """Index `documents`; `cache` (document hash → joined terms) skips re-tokenising unchanged ones.

        Tokenising is most of the build time (jieba), so a reload after an ingest passes the previous
        index's cache and only new or changed documents are analysed. Memory matters at tens of
        thousands of chunks: terms are interned while building, the cache keeps one joined string per
        document, and each document's distinct terms are kept as a small array of vocabulary ids.
        """
        # Loaded on first use: jieba builds its dictionary and bm25s pulls SciPy (~1 s); many importers never index.
        import bm25s

        # bm25s sets its own logger to DEBUG when first imported (after our module-level setting).
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.unigrams = unigrams
        self.cache: dict[str, str] = {}
        intern: dict[str, str] = {}
        corpus: list[list[str]] = []
        for doc in documents:
            key = hashlib.blake2b(doc.encode("utf-8"), digest_size=16).hexdigest()
            joined = (cache or {}).get(key)
            if joined is not None:
                terms = joined.split(_SEP)
            else:
                terms = analyzer(doc) if analyzer is not None else analyze(doc, unigrams=unigrams)
            terms = [intern.setdefault(t, t) for t in terms] or [""]
            self.cache[key] = _SEP.join(terms)
            corpus.append(terms)
        self.size = len(corpus)
        self._bm25 = bm25s.BM25()
        self._vocab: dict[str, int] = {}
        self._doc_ids: list[np.ndarray] = []
        self._df = np.zeros(0, dtype=np.int32)
        if corpus:
            self._bm25.index(corpus, show_progress=False)
            self._vocab = dict(self._bm25.vocab_dict)
            self._doc_ids = [
                np.unique(np.fromiter((self._vocab[t] for t in terms), dtype=np.int32)) for terms in corpus
            ]
            self._df = np.bincount(np.concatenate(self._doc_ids), minlength=len(self._vocab)).astype(np.int32)

    def knows(self, term: str) -> bool:
        """True when some document contains `term` as an indexed term."""
        return term in self._vocab

    def idf(self, term: str) -> float:
        """Inverse document frequency; a term the corpus never saw gets the highest value."""
        tid = self._vocab.get(term)
        df = int(self._df[tid]) if tid is not None else 0
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def coverage(self, position: int, terms: Iterable[str]) -> float:
        """IDF-weighted share of `terms` that occur in the document at `position` (0..1)."""
        present = set(self._doc_ids[position].tolist()) if self._doc_ids else set()
        total = covered = 0.0
        for term in set(terms):
            weight = self.idf(term)
            total += weight
            if self._vocab.get(term) in present:
                covered += weight
        return covered / total if total > 0 else 0.0

    def search(self, query_terms: Sequence[str], k: int) -> list[LexicalHit]:
        """The best `k` documents with a positive score, best first."""
        # bm25s silently drops unknown terms and returns arbitrary score-0 documents when none is left.
        known = [t for t in query_terms if t in self._vocab and t]
        if not known or self.size == 0:
            return []
        scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k] if k < self.size else np.arange(self.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [LexicalHit(int(i), float(scores[i])) for i in top if scores[i] > 0]
