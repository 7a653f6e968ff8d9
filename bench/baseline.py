"""The peer to beat: a plain BM25 over character unigrams + bigrams, the simplest thing a city could run.

No jieba, no dictionary, no aliases, no dense side, no routing: each record's text (title, department,
section, body — what Zhitong itself indexes) is cut into CJK characters and character bigrams
(ASCII words kept whole), and the question is ranked against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knowledge.lexical import char_terms  # the same cut Zhitong's character view uses


class CharBigramBM25:
    def __init__(self, documents: Sequence[str], departments: Sequence[str]) -> None:
        import bm25s

        self.departments = list(departments)
        self._bm25 = bm25s.BM25()
        corpus = [char_terms(d) or [""] for d in documents]
        self._bm25.index(corpus, show_progress=False)
        self._vocab = dict(self._bm25.vocab_dict)

    def departments_for(self, question: str, k: int = 8) -> list[str]:
        """Distinct departments of the best `k` records, best first."""
        terms = [t for t in char_terms(question) if t in self._vocab]
        if not terms:
            return []
        scores = np.asarray(self._bm25.get_scores(terms))
        order = np.argsort(-scores, kind="stable")[:k]
        seen: list[str] = []
        for i in order:
            if scores[i] <= 0:
                break
            dept = self.departments[int(i)]
            if dept and dept not in seen:
                seen.append(dept)
        return seen
