"""KnowledgeService: the one entry point the CLI, the bot and the dashboard use to ask questions.

Sync by design (the bot calls it in a thread). The BM25 index and the record table are built once
from kb_record and swapped atomically by `reload()`, so `ask` never blocks on a rebuild and is safe
to call from several threads.

The service remembers the knowledge generation (knowledge.models.KbGeneration) it loaded, so a
long-running process can compare it with `stored_generation()` and reload after another process's ingest.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, func, not_
from sqlmodel import col, select

from core.config import Settings
from core.db import init_db_sync, make_sync_engine, sync_session
from knowledge.answer import EMPTY_PROMPT, Answer, best_department, compose, decline_text, meta_text
from knowledge.currency import current_clause
from knowledge.desk_guide import desk_records, guide_records
from knowledge.desk_signals import desk_reason, strip_desk_expressions
from knowledge.embedder import Embedder, make_embedder
from knowledge.intent import (
    IntentClassifier,
    IntentCorpusError,
    corpus_files,
    corpus_key,
    directory_examples,
    load_or_train,
)
from knowledge.llm_rewrite import LLMRewriter
from knowledge.models import KbDepartment, KbRecord, KbSource, read_generation
from knowledge.retriever import HybridRetriever, KnowledgeIndex, Mode
from knowledge.store import VectorStore
from knowledge.types import Hit, Record

__all__ = ["Answer", "KnowledgeService", "MAX_QUESTION_CHARS"]

log = logging.getLogger(__name__)

# Longer questions are searched by their beginning (where people state what they want); the desk
# patterns still see the whole text, because complaints often come at the end of a long story.
MAX_QUESTION_CHARS = 300
QUESTION_TAIL_CHARS = 120
_CONTENT = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def truncate_question(question: str, limit: int = MAX_QUESTION_CHARS) -> str:
    """The first `limit` characters, cut at the last sentence end inside them when there is one."""
    if len(question) <= limit:
        return question
    head = question[:limit]
    cut = max(head.rfind(p) for p in "。！？!?；;\n")
    return head[: cut + 1] if cut >= limit // 2 else head


# A message the classifier calls chatter is still answered when the knowledge base matches it this
# well and the classifier was not sure: "社保" alone is a consultation, whatever it looks like.
DECLINE_OVERRIDE = ((0.45, 0.8), (0.75, 0.97))  # (retrieval confidence at least, P(decline) below)
# A question naming a department is about the desk only when the classifier is this sure.
META_SURE = 0.8
# Meta questions: the city's own desk document is quoted before the built-in rules when its best
# passage scores at least this (cosine + term overlap, see _meta_answer): its own rules prevail.
META_CITY_MIN_SCORE = 0.2


@dataclass(slots=True)
class _State:
    index: KnowledgeIndex
    retriever: HybridRetriever
    stats: dict[str, Any]
    generation: int  # of the knowledge base this index was built from
    valid_on: date  # the day whose current policies it holds (effective / expires are checked per day)
    meta_records: list[Record]  # the desk's rules: built-in guide, then the city's own desk records
    meta_vectors: np.ndarray  # their embeddings (rows in the same order)


@dataclass(frozen=True)
class _Query:
    question: str  # as asked (stripped)
    searched: str  # what is searched and classified: the beginning (and end) of a long question, typos repaired
    note: str  # said before the answer (a long question was cut, a typo was repaired)


class KnowledgeService:
    def __init__(self, settings: Settings, engine: Engine, embedder: Embedder, store: VectorStore) -> None:
        self.settings = settings
        self.engine = engine
        self.embedder = embedder
        self.store = store
        self.llm: LLMRewriter | None = LLMRewriter(settings.llm) if settings.llm.base_url else None
        self._reload_lock = threading.Lock()
        self._state: _State | None = None
        self.intent: IntentClassifier | None = None

    def _refresh_intent_model(self, records: Sequence[Record], *, force: bool = False) -> None:
        """Load (or train) the intent model when the corpus, the city's names or the embedder changed."""
        if not self.settings.intent.enabled:
            self.intent = None
            return
        examples_dir = self.settings.resolve_in_data_dir(self.settings.intent.examples_dir)
        names = directory_examples(
            r.title if r.kind == "service" else r.department for r in records if r.kind != "policy"
        )
        if not force and self.intent is not None:
            key = corpus_key(corpus_files(examples_dir), self.embedder.name, names)
            if key == self.intent.key:
                return
        try:
            self.intent = load_or_train(
                self.settings.data_dir, examples_dir, self.embedder.name, self.embedder.embed_queries,
                directory=names, force=force,
            )
        except IntentCorpusError as exc:
            # A broken city examples file must not stop the bot: train without it, say why in the log.
            log.error("intent examples in %s ignored: %s", examples_dir, exc)
            self.intent = load_or_train(
                self.settings.data_dir, None, self.embedder.name, self.embedder.embed_queries, directory=names
            )

    def train_intent(self) -> IntentClassifier | None:
        """Retrain the intent model from the shipped corpus and the city's examples (and cache it)."""
        with self._reload_lock:
            records = self._state.index.records if self._state is not None else []
            self._refresh_intent_model(records, force=True)
        return self.intent

    @classmethod
    def open(cls, settings: Settings, *, store: VectorStore | None = None) -> KnowledgeService:
        """Load the embedder and the vector store and build the lexical index from kb_record."""
        engine = make_sync_engine(settings.database_url, echo=settings.database.echo, database=settings.database)
        init_db_sync(engine)
        embedder = store.embedder if store is not None else make_embedder(settings.embedder)
        service = cls(settings, engine, embedder, store or VectorStore(settings, embedder))
        service.reload()
        return service

    def reload(self) -> None:
        """Rebuild the in-memory index from the database (call after an ingest)."""
        with self._reload_lock:
            started = time.perf_counter()
            self.store.refresh()  # another process may have ingested since
            today = self.today()
            with sync_session(self.engine) as session:
                # Read before the tables: an ingest committing meanwhile then leaves the loaded
                # generation behind the stored one (one extra reload), never ahead of it (a missed one).
                generation = read_generation(session)
                sources = {s.id: s for s in session.exec(select(KbSource)).all()}
                departments = {
                    d.name: list(d.aliases or []) for d in session.exec(select(KbDepartment)).all()
                }
                # Only records of current sources (knowledge.currency), chosen by the database.
                of_sources = select(KbRecord).join(KbSource, col(KbSource.id) == col(KbRecord.source_id))
                rows = session.exec(of_sources.where(current_clause(today)).order_by(KbRecord.id)).all()
                excluded = session.exec(
                    select(func.count()).select_from(KbRecord)
                    .join(KbSource, col(KbSource.id) == col(KbRecord.source_id))
                    .where(not_(current_clause(today)))
                ).one()
            records: list[Record] = []
            for row in rows:
                source = sources[row.source_id]
                records.append(
                    Record(
                        id=row.id,
                        kind=row.kind,  # type: ignore[arg-type]
                        title=row.title,
                        department=row.department,
                        text=row.text,
                        citation=row.citation,
                        source_file=source.name,
                        section=row.section,
                        span=(row.span_start, row.span_end),
                        data=dict(row.data or {}),
                    )
                )
            # Departments named by records but missing from kb_department still resolve by name.
            for record in records:
                if record.department and record.department not in departments:
                    departments[record.department] = []
            index = KnowledgeIndex(records, departments, previous=self._state.index if self._state else None)
            retriever = HybridRetriever(index, self.store, self.embedder, self.settings.retrieval)
            per_kind: dict[str, int] = {}
            for record in records:
                per_kind[record.kind] = per_kind.get(record.kind, 0) + 1
            last = max((s.ingested_at for s in sources.values()), default=None)
            stats = {
                "records": len(records),
                "per_kind": per_kind,
                "files": len(sources),
                "departments": len(departments),
                "not_current": excluded,
                "last_ingest": last.isoformat() if last else None,
                "generation": generation,
                "index_build_s": round(time.perf_counter() - started, 3),
            }
            # Warm up: the first query otherwise pays for lazy initialisation (seconds, not milliseconds).
            if records:
                retriever.search("预热 营业执照")
            meta_records = guide_records(self.settings.desk) + desk_records(records)
            meta_vectors = self.embedder.embed_documents([r.text for r in meta_records])
            self._refresh_intent_model(records)
            self._state = _State(index, retriever, stats, generation, today, meta_records, meta_vectors)
            log.debug("知识库索引已加载：%s 条记录，%s 个文件", len(records), len(sources))

    @property
    def loaded_generation(self) -> int | None:
        """The knowledge generation the current index was built from (None before the first load)."""
        return self._state.generation if self._state is not None else None

    def today(self) -> date:
        """The city's date (desk.timezone): policies take effect and expire by it."""
        return datetime.now(ZoneInfo(self.settings.desk.timezone)).date()

    def is_stale(self) -> bool:
        """True when the index should be rebuilt: the knowledge base changed (possibly in another
        process), or the day changed, so a policy may have taken effect or expired since it was built."""
        state = self._state
        return state is None or self.today() != state.valid_on or self.stored_generation() != state.generation

    def stored_generation(self) -> int:
        """The knowledge generation in the database now (sync: one small query)."""
        with sync_session(self.engine) as session:
            return read_generation(session)

    def stats(self) -> dict[str, Any]:
        state = self._require_state()
        return {**state.stats, "vectors": self.store.count(), "embedder": self.embedder.name}

    def ask(self, question: str, *, mode: Mode = "hybrid") -> Answer:
        """Answer one question (sync, thread-safe)."""
        return self.ask_many([question], mode=mode)[0]

    def ask_many(self, questions: Sequence[str], *, mode: Mode = "hybrid") -> list[Answer]:
        """Answer several questions at once (sync, thread-safe), each exactly as ``ask`` would.

        Embedding is half the CPU of an answer and costs far less per question in one batch, which is
        how the bot's answer worker takes the questions that queued up while it was busy.
        """
        started = time.perf_counter()
        state = self._require_state()
        answers: list[Answer | None] = []
        pending: list[tuple[int, _Query]] = []
        for question in questions:
            early = self._early_answer(question, state, started)
            if early is None:
                pending.append((len(answers), self._query(question, state)))
            answers.append(early)
        if pending:
            vectors = state.retriever.embed([query.searched for _, query in pending])
            classes = self._classify([query.searched for _, query in pending], vectors)
            for (slot, query), vector, probs in zip(pending, vectors, classes, strict=True):
                answers[slot] = self._answer(query, state, mode, vector, probs, started)
        return [a for a in answers if a is not None]

    def _early_answer(self, question: str, state: _State, started: float) -> Answer | None:
        """The answer that needs no search (nothing to search for, or nothing to search in), else None."""
        question = (question or "").strip()
        if not _CONTENT.search(question):
            # Empty, emoji-only or punctuation-only: nothing to search for, nothing to escalate.
            return Answer(question, EMPTY_PROMPT, False, hits=[], latency_ms=_ms(started), intent="decline")
        if not state.index.records:
            text = "知识库还没有导入任何服务联络簿或政策文件，暂时无法回答。可转“办不成事”反映窗口，由服务专员跟进。"
            return Answer(question, text, True, "知识库为空", latency_ms=_ms(started), intent="desk")
        return None

    @staticmethod
    def _query(question: str, state: _State) -> _Query:
        """What to search for: the beginning of a long question, with its typos repaired."""
        question = question.strip()
        notes: list[str] = []
        searched = truncate_question(question)
        if searched != question:
            notes.append(f"（您的问题较长，共 {len(question)} 字，以下按前 {len(searched)} 字检索。）")
            # Long stories often end with what went wrong ("……已经拖了三个月没人管"): keep the end too.
            searched = f"{searched}……{question[-QUESTION_TAIL_CHARS:]}"
        repaired, repairs = state.index.repairer.repair(searched)
        if repairs:
            searched = repaired
            pairs = "、".join(f"“{r.wrong}”按“{r.right}”" for r in repairs)
            notes.append(f"（{pairs}理解。）")
        return _Query(question, searched, "".join(notes))

    def _classify(self, texts: Sequence[str], vectors: Sequence[np.ndarray | None]) -> list[dict[str, float]]:
        """Each message's class probabilities; {} for all when there is no model (all consultations)."""
        model = self.intent
        if model is None or any(v is None for v in vectors) or model.embedder_name != self.embedder.name:
            return [{} for _ in texts]
        return model.probabilities(texts, np.vstack([np.asarray(v) for v in vectors]))

    def _answer(self, query: _Query, state: _State, mode: Mode, vector: np.ndarray | None,
                probs: dict[str, float], started: float) -> Answer:
        question, searched = query.question, query.searched
        desk_min = self.settings.intent.desk_min_probability
        kind = _decide(probs, desk_min)
        if kind == "meta" and probs.get("meta", 0.0) < META_SURE and state.index.mentioned_departments(searched)[0]:
            # "投促局项目服务科的联系人是谁" names a department: a consultation about it, not about the desk.
            kind = max(("consult", "complaint", "person"), key=lambda c: probs.get(c, 0.0))
            kind = kind if kind == "consult" or _desk_probability(probs) >= desk_min / 2 else "consult"
        if kind == "meta":
            return self._meta_answer(query, state, vector, started)
        lexical_text = searched
        if kind in ("complaint", "person"):
            # "我的环评拖了三个月没人管": search for 环评, not for the complaint words.
            stripped = strip_desk_expressions(searched)
            lexical_text = stripped if _CONTENT.search(stripped) else searched
        result = state.retriever.search(lexical_text, mode=mode, vector=vector)
        min_confidence = self.settings.retrieval.min_confidence
        if kind == "decline":
            p_decline = probs.get("decline", 1.0)
            if not any(result.confidence >= c and p_decline < p for c, p in DECLINE_OVERRIDE):
                return Answer(question, decline_text(question), False, hits=[], latency_ms=_ms(started),
                              confidence=result.confidence, intent="decline")
            kind = "consult"
        reason = ""
        missing = state.index.coverage.uncovered(searched) if kind == "consult" else ""
        if kind == "complaint":
            reason = desk_reason(question) or "正常渠道未能办成"
        elif kind == "person":
            reason = desk_reason(question) or "希望人工协助"
        elif missing or not result.hits or result.confidence < min_confidence:
            reason = "服务联络簿和政策文件中没有找到负责这件事的部门"
        route = bool(reason)
        # A matter no listed department handles has no department to point to, however close a record is.
        department = "" if missing else best_department(result, min_confidence)
        text = compose(
            question,
            result,
            route_to_desk=route,
            reason=reason if kind in ("complaint", "person") else "",
            department=department,
            department_record=state.index.department_cards.get(department),
            note=query.note,
        )
        if self.llm is not None and result.hits and not route:
            try:
                text = self.llm.rewrite(searched, text, result.hits)
            except Exception:  # the composed answer is always a valid answer
                log.warning("LLM 改写失败，使用检索原文回答", exc_info=True)
        return Answer(
            question=question,
            text=text,
            route_to_desk=route,
            reason=reason,
            hits=result.hits,
            latency_ms=_ms(started),
            confidence=result.confidence,
            department=department,
            intent="desk" if route else "answer",
        )

    def _meta_answer(self, query: _Query, state: _State, vector: np.ndarray | None, started: float) -> Answer:
        """A question about the desk or the bot: answered from the desk's rules, never escalated."""
        records = state.meta_records
        scores = np.zeros(len(records))
        if vector is not None and len(records):
            scores = state.meta_vectors @ np.asarray(vector, dtype=np.float32).reshape(-1)
        # Character bigrams, stop words included: "多久" and "在哪" are what a meta question asks.
        q_terms = _bigrams(query.searched) - _bigrams("办不成事反映窗口")
        for i, record in enumerate(records):
            if q_terms:
                scores[i] += 0.5 * len(q_terms & _bigrams(f"{record.section} {record.text}")) / len(q_terms)
        guide = [i for i, r in enumerate(records) if r.id.startswith("desk-guide-")]
        city = [i for i in range(len(records)) if i not in set(guide)]
        chosen = [max(guide, key=lambda i: scores[i])]
        if city:
            best_city = max(city, key=lambda i: scores[i])
            if scores[best_city] >= META_CITY_MIN_SCORE:
                chosen.insert(0, best_city)  # the city's own rules first
        picked = [records[i] for i in chosen]
        hits = [Hit(record=records[i], score=round(float(scores[i]), 4)) for i in chosen]
        department = next((r.department for r in picked if r.department), "")
        return Answer(
            question=query.question,
            text=meta_text(query.question, picked, note=query.note),
            route_to_desk=False,
            hits=hits,
            latency_ms=_ms(started),
            confidence=round(float(max(scores[i] for i in chosen)), 4),
            department=department,
            intent="answer",
        )

    def records(self) -> list[Record]:
        """The records the current index holds (current policies only)."""
        return list(self._require_state().index.records)

    def canonical_department(self, name: str) -> str:
        """The canonical name for a department name or alias (unchanged when unknown or ambiguous)."""
        index = self._require_state().index
        if name in index.departments:
            return name
        found, _ = index.mentioned_departments(name)
        return found[0] if len(found) == 1 else name

    def close(self) -> None:
        self.engine.dispose()

    def _require_state(self) -> _State:
        if self._state is None:
            self.reload()
        assert self._state is not None
        return self._state


def _decide(probs: dict[str, float], desk_min: float) -> str:
    """The class a message is handled as: the likeliest, except that the desk needs `desk_min`."""
    if not probs:
        return "consult"
    kind = max(probs, key=probs.__getitem__)
    if kind in ("complaint", "person") and _desk_probability(probs) < desk_min:
        kind = max(("consult", "meta", "decline"), key=lambda c: probs.get(c, 0.0))
    return kind


def _bigrams(text: str) -> set[str]:
    runs = re.findall(r"[\u4e00-\u9fff]+", text)
    return {run[i : i + 2] for run in runs for i in range(len(run) - 1)}


def _desk_probability(probs: dict[str, float]) -> float:
    return probs.get("complaint", 0.0) + probs.get("person", 0.0)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
