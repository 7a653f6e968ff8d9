"""Hybrid retrieval: dense (exact cosine over the stored vectors) + lexical (BM25), min-max linear
fusion, alias resolution.

Scores of the two retrievers live on different scales, so each candidate list is min-max normalised
and fused as `w * dense + (1 - w) * lexical` with `w = retrieval.dense_weight` (NOTES.md: lexical
carries Chinese retrieval; equal-weight fusion was worse than BM25 alone).

Fused scores are relative (the best candidate always scores high), so whether anything matches at all
is judged separately by `confidence`: how much of the question's content (IDF-weighted) the best
match covers, and how close it is in embedding space. Both generalise to unseen questions; nothing
here is tuned to particular phrasings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.config import RetrievalSettings
from knowledge.coverage import CoverageCheck
from knowledge.departments import build_alias_map
from knowledge.embedder import Embedder
from knowledge.lexical import (
    LexicalIndex,
    add_domain_words,
    analyze,
    char_terms,
    normalize,
    segment,
    word_frequency,
)
from knowledge.store import VectorStore
from knowledge.types import Hit, Record
from knowledge.typo import QueryRepairer

Mode = Literal["hybrid", "dense", "lexical"]

# Boost for records of a department the question names (by name or alias, e.g. 工商局).
DEPARTMENT_BOOST = 0.25
# Small nudges towards the record kind a question is about (contact details vs. policy text).
KIND_BOOST = 0.12
# Share of lexical coverage in the confidence; the dense cosine is scaled between retrieval.dense_floor
# and dense_ceil (USE: off-topic questions reach ~0.1–0.2 against the best of many records by chance,
# related ones 0.3–0.7).
COVERAGE_WEIGHT = 0.4

_CONTACT_INTENT = re.compile(
    r"地址|在哪|哪儿|位置|怎么走|电话|号码|联系方式|联系|办公时间|上班|几点|科室|负责人|窗口在"
)
_POLICY_INTENT = re.compile(
    r"政策|补贴|补助|奖励|奖补|减免|优惠|扶持|资助|条例|办法|规定|文件|通知|细则|意见|贴息|退税|免征"
)
# "XX市" / "XX省" / "XX区" prefixes: users drop them ("市场监督管理局" for "示范市市场监督管理局").


def lexical_document(record: Record) -> str:
    """What BM25 indexes for a record: the title counts twice (names are the strongest evidence)."""
    parts = [record.title, record.title, record.department, record.section, record.text]
    return "\n".join(p for p in parts if p)


@dataclass(slots=True)
class RetrievalResult:
    hits: list[Hit]
    confidence: float
    coverage: float
    dense_top: float
    mentioned: list[str] = field(default_factory=list)  # canonical departments the question names


class KnowledgeIndex:
    """The in-memory side of the knowledge base, built once from kb_record (rebuilt on reload)."""

    def __init__(
        self,
        records: Sequence[Record],
        departments: Mapping[str, Sequence[str]],
        *,
        unigrams: bool = False,
        previous: KnowledgeIndex | None = None,
    ) -> None:
        """Build from records; `previous` (the index being replaced) lends its tokenisation cache."""
        self.records = list(records)
        self.by_id = {r.id: i for i, r in enumerate(self.records)}
        # Alias → canonical departments (an alias may be ambiguous: boost all it names).
        self.alias_map: dict[str, set[str]] = build_alias_map(departments)
        self._alias_pattern = (
            re.compile("|".join(re.escape(a) for a in sorted(self.alias_map, key=len, reverse=True)))
            if self.alias_map
            else None
        )
        # Names the directory knows become jieba words so they are not cut apart.
        vocabulary: set[str] = set(self.alias_map)
        vocabulary.update(r.title for r in self.records if r.kind == "service")
        new_words = add_domain_words(vocabulary)
        # New dictionary words can change how any text is cut: then every document is re-analysed.
        cache: dict[str, str] | None = None
        if previous is not None and new_words == 0:
            cache = previous.lexical.cache
        documents = [lexical_document(r) for r in self.records]
        self.lexical: LexicalIndex = LexicalIndex(documents, unigrams=unigrams, cache=cache)
        # The plain character view (lexical.char_terms): no dictionary, no stop words; cheap to build.
        self.chars: LexicalIndex = LexicalIndex(documents, analyzer=char_terms)
        self.departments = dict(departments)
        self.repairer = QueryRepairer(_repair_vocabulary(self.records, self.alias_map), self._is_known)
        self.coverage = CoverageCheck(self.records, departments)
        # The department's own card (not a section), for answers that point to a department.
        self.department_cards: dict[str, Record] = {}
        for record in self.records:
            if record.kind == "department" and record.department and not record.section:
                self.department_cards.setdefault(record.department, record)

    def _is_known(self, text: str) -> bool:
        """A real word (jieba's dictionary) or a term the knowledge base contains: never a typo."""
        return self.lexical.knows(text) or word_frequency(text) > 0

    def mentioned_departments(self, question: str) -> tuple[list[str], str]:
        """Canonical departments named in the question, and the question with those names canonical."""
        text = normalize(question)
        if self._alias_pattern is None:
            return [], text
        found: list[str] = []

        def replace(match: re.Match[str]) -> str:
            canon = sorted(self.alias_map[match.group(0)])
            for c in canon:
                if c not in found:
                    found.append(c)
            return " ".join(canon) if len(canon) == 1 else match.group(0)

        return found, self._alias_pattern.sub(replace, text)


class HybridRetriever:
    """Ranks records for a question; see the module docstring for the method."""

    def __init__(
        self,
        index: KnowledgeIndex,
        store: VectorStore | None,
        embedder: Embedder | None,
        settings: RetrievalSettings,
    ) -> None:
        self.index = index
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self._vectors, self._has_vector = self._load_vectors()

    def _load_vectors(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Unit-length copies of the records' stored vectors, row i for index.records[i], when the base
        is small enough for exact dense scoring (retrieval.exact_dense_max_records).

        Chroma's HNSW search is approximate: two clean ingests of one corpus built different graphs and
        gave lower-ranked matches dense candidate sets, hence min-max normalised scores, that differed
        by up to 0.06. Scoring every record exactly makes an answer a function of the knowledge base.
        """
        records = self.index.records
        if self.store is None or not records or len(records) > self.settings.exact_dense_max_records:
            return None, None
        matrix, found = self.store.vectors_for([r.id for r in records])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return matrix, found

    def _dense(self, vector: np.ndarray, n: int) -> dict[int, float]:
        """Record position → cosine similarity of the `n` nearest records."""
        if self._vectors is None or self._has_vector is None:
            assert self.store is not None
            scores: dict[int, float] = {}
            for rid, sim in self.store.query_embedding(vector, n):
                pos = self.index.by_id.get(rid)
                # Only ids present in kb_record are trusted (an interrupted ingest leaves orphans).
                if pos is not None:
                    scores[pos] = sim
            return scores
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        sims = self._vectors @ (query / norm if norm > 0 else query)
        sims[~self._has_vector] = -np.inf
        n = min(n, int(self._has_vector.sum()))
        if n <= 0:
            return {}
        # Everything at least as close as the n-th best (ties included), then ordered by similarity and,
        # among equals, by position: the same base and question always give the same candidates.
        kth = np.partition(sims, len(sims) - n)[len(sims) - n]
        near = np.flatnonzero(sims >= kth)
        order = near[np.lexsort((near, -sims[near]))][:n]
        return {int(pos): float(sims[pos]) for pos in order}

    def embed(self, questions: Sequence[str]) -> list[np.ndarray | None]:
        """Query vectors for ``questions`` in one batch (None for each when there is no dense side)."""
        if self.store is None or self.embedder is None or not self.index.records or not questions:
            return [None] * len(questions)
        return list(self.embedder.embed_queries(questions))

    def search(self, question: str, *, mode: Mode = "hybrid", k: int | None = None,
               vector: np.ndarray | None = None) -> RetrievalResult:
        """``vector``: the question's embedding when already computed (``embed``), else it is embedded here."""
        k = k or self.settings.top_k
        n = self.settings.candidates
        mentioned, canonical_q = self.index.mentioned_departments(question)
        query_terms = analyze(canonical_q, unigrams=self.index.lexical.unigrams)

        dense_scores: dict[int, float] = {}
        if self.store is not None and self.embedder is not None and self.index.records:
            if vector is None:
                vector = self.embedder.embed_query(question)
            dense_scores = self._dense(vector, n)
        lexical_scores = {h.index: h.score for h in self.index.lexical.search(query_terms, n)}
        c = self.settings.char_weight
        char_scores = (
            {h.index: h.score for h in self.index.chars.search(char_terms(canonical_q), n)} if c > 0 else {}
        )

        w = self.settings.dense_weight if mode == "hybrid" else (1.0 if mode == "dense" else 0.0)
        dense_norm = _min_max(dense_scores) if w > 0 else {}
        lex_norm = _min_max(lexical_scores) if w < 1 else {}
        char_norm = _min_max(char_scores) if w < 1 else {}
        if char_norm:
            # Lexical = (1 - c) · words-and-bigrams BM25 + c · plain character BM25, each min-max normalised.
            for pos in set(lex_norm) | set(char_norm):
                lex_norm[pos] = (1.0 - c) * lex_norm.get(pos, 0.0) + c * char_norm.get(pos, 0.0)
        candidates = set(dense_norm) | set(lex_norm)

        contact = bool(_CONTACT_INTENT.search(question))
        policy = bool(_POLICY_INTENT.search(question))
        mentioned_set = set(mentioned)
        fused: list[tuple[float, int]] = []
        for pos in candidates:
            record = self.index.records[pos]
            score = w * dense_norm.get(pos, 0.0) + (1.0 - w) * lex_norm.get(pos, 0.0)
            if record.department in mentioned_set:
                score += DEPARTMENT_BOOST
            if contact and record.kind == "department":
                score += KIND_BOOST
            if policy and record.kind == "policy":
                score += KIND_BOOST
            fused.append((score, pos))
        # Ties broken by position, so results are deterministic.
        fused.sort(key=lambda t: (-t[0], t[1]))

        hits = [
            Hit(
                record=self.index.records[pos],
                score=round(float(score), 4),
                dense=round(float(dense_scores.get(pos, 0.0)), 4),
                lexical=round(float(lexical_scores.get(pos, 0.0)), 4),
            )
            for score, pos in fused[:k]
        ]
        coverage, dense_top, confidence = self._confidence(query_terms, fused[:3], dense_scores, mentioned)
        return RetrievalResult(hits, confidence, coverage, dense_top, mentioned)

    def _confidence(
        self,
        query_terms: Sequence[str],
        top: Sequence[tuple[float, int]],
        dense_scores: Mapping[int, float],
        mentioned: Sequence[str],
    ) -> tuple[float, float, float]:
        """How well the best of the top matches answers the question, in [0, 1]."""
        unique = set(query_terms)
        best = (0.0, 0.0, 0.0)
        for _, pos in top:
            coverage = self.index.lexical.coverage(pos, unique) if unique else 0.0
            dense = dense_scores.get(pos, 0.0)
            floor, ceil = (
                self.settings.dense_floor,
                max(self.settings.dense_ceil, self.settings.dense_floor + 1e-6),
            )
            dense_scaled = min(1.0, max(0.0, (dense - floor) / (ceil - floor)))
            confidence = COVERAGE_WEIGHT * coverage + (1.0 - COVERAGE_WEIGHT) * dense_scaled
            if confidence > best[2]:
                best = (coverage, dense, confidence)
        return round(best[0], 4), round(best[1], 4), round(best[2], 4)


def _repair_vocabulary(records: Sequence[Record], alias_map: Mapping[str, set[str]]) -> set[str]:
    """The words typos are repaired towards: names, their words, aliases and keywords of the directory."""
    words: set[str] = set(alias_map)
    for record in records:
        if record.kind == "policy":
            continue
        words.add(record.title)
        words.update(w for w in segment(record.title) if len(w) >= 2)
        keywords = record.data.get("keywords") or record.data.get("关键词") or ""
        if isinstance(keywords, list | tuple):
            keywords = "、".join(str(k) for k in keywords)
        words.update(k.strip() for k in re.split(r"[、,，;；/\s]+", str(keywords)) if len(k.strip()) >= 2)
    return words


def _min_max(scores: Mapping[int, float]) -> dict[int, float]:
    if not scores:
        return {}
    values = np.fromiter(scores.values(), dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    if math.isclose(hi, lo):
        return {k: 1.0 for k in scores}
    return {k: (v - lo) / (hi - lo) for k, v in scores.items()}
