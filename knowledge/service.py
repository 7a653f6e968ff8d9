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
from sqlalchemy import Engine
from sqlmodel import select

from bot.config import Settings
from bot.db import init_db_sync, make_sync_engine, sync_session
from knowledge.answer import (
    EMPTY_PROMPT,
    Answer,
    LLMRewriter,
    best_department,
    compose,
    desk_reason,
    strip_desk_expressions,
)
from knowledge.embedder import Embedder, make_embedder
from knowledge.models import KbDepartment, KbRecord, KbSource, read_generation
from knowledge.retriever import HybridRetriever, KnowledgeIndex, Mode
from knowledge.store import VectorStore
from knowledge.types import Record

__all__ = ["Answer", "KnowledgeService", "MAX_QUESTION_CHARS"]

log = logging.getLogger(__name__)

# Longer questions are searched by their beginning (where people state what they want); the desk
# patterns still see the whole text, because complaints often come at the end of a long story.
MAX_QUESTION_CHARS = 300
_CONTENT = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def policy_is_current(source: KbSource, today: date) -> bool:
    """Expired, superseded or not-yet-effective policies are never cited as current."""
    if source.kind != "policy":
        return True
    if source.superseded_by:
        return False
    if source.expires is not None and source.expires < today:
        return False
    return not (source.effective is not None and source.effective > today)


def truncate_question(question: str, limit: int = MAX_QUESTION_CHARS) -> str:
    """The first `limit` characters, cut at the last sentence end inside them when there is one."""
    if len(question) <= limit:
        return question
    head = question[:limit]
    cut = max(head.rfind(p) for p in "。！？!?；;\n")
    return head[: cut + 1] if cut >= limit // 2 else head


@dataclass(slots=True)
class _State:
    index: KnowledgeIndex
    retriever: HybridRetriever
    stats: dict[str, Any]
    generation: int  # of the knowledge base this index was built from
    valid_on: date  # the day whose current policies it holds (effective / expires are checked per day)


@dataclass(frozen=True)
class _Query:
    question: str  # as asked (stripped)
    searched: str  # what is searched: the beginning of a long question, without complaint words
    reason: str  # why it goes to the desk regardless of the search ("" when it need not)
    note: str  # said before the answer (a long question was cut)


class KnowledgeService:
    def __init__(self, settings: Settings, engine: Engine, embedder: Embedder, store: VectorStore) -> None:
        self.settings = settings
        self.engine = engine
        self.embedder = embedder
        self.store = store
        self.llm: LLMRewriter | None = LLMRewriter(settings.llm) if settings.llm.base_url else None
        self._reload_lock = threading.Lock()
        self._state: _State | None = None

    @classmethod
    def open(cls, settings: Settings, *, store: VectorStore | None = None) -> KnowledgeService:
        """Load the embedder and the vector store and build the lexical index from kb_record."""
        engine = make_sync_engine(settings.database_url, echo=settings.database.echo)
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
                rows = session.exec(select(KbRecord).order_by(KbRecord.id)).all()
            records: list[Record] = []
            excluded = 0
            for row in rows:
                source = sources.get(row.source_id)
                if source is None:
                    continue
                if not policy_is_current(source, today):
                    excluded += 1
                    continue
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
            self._state = _State(index, retriever, stats, generation, today)
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
                pending.append((len(answers), self._query(question)))
            answers.append(early)
        if pending:
            vectors = state.retriever.embed([query.searched for _, query in pending])
            for (slot, query), vector in zip(pending, vectors, strict=True):
                answers[slot] = self._answer(query, state, mode, vector, started)
        return [a for a in answers if a is not None]

    def _early_answer(self, question: str, state: _State, started: float) -> Answer | None:
        """The answer that needs no search (nothing to search for, or nothing to search in), else None."""
        question = (question or "").strip()
        if not _CONTENT.search(question):
            # Empty, emoji-only or punctuation-only: nothing to search for, nothing to escalate.
            return Answer(question, EMPTY_PROMPT, False, hits=[], latency_ms=_ms(started))
        if not state.index.records:
            text = "知识库还没有导入任何服务联络簿或政策文件，暂时无法回答。可转“办不成事”反映窗口，由服务专员跟进。"
            return Answer(question, text, True, "知识库为空", latency_ms=_ms(started))
        return None

    @staticmethod
    def _query(question: str) -> _Query:
        """What to search for: the beginning of a long question, without the complaint words."""
        question = question.strip()
        note = ""
        searched = truncate_question(question)
        if searched != question:
            note = f"（您的问题较长，共 {len(question)} 字，以下按前 {len(searched)} 字检索。）"
        reason = desk_reason(question)
        if reason:
            # "我的环评拖了三个月没人管": search for 环评, not for the complaint words.
            stripped = strip_desk_expressions(searched)
            searched = stripped if _CONTENT.search(stripped) else searched
        return _Query(question, searched, reason, note)

    def _answer(self, query: _Query, state: _State, mode: Mode, vector: np.ndarray | None,
                started: float) -> Answer:
        question, searched, reason = query.question, query.searched, query.reason
        result = state.retriever.search(searched, mode=mode, vector=vector)
        min_confidence = self.settings.retrieval.min_confidence
        route = bool(reason) or not result.hits or result.confidence < min_confidence
        if route and not reason:
            reason = "没有找到足够匹配的内容"
        department = best_department(result, min_confidence)
        text = compose(
            question,
            result,
            route_to_desk=route,
            reason=reason if route and reason != "没有找到足够匹配的内容" else "",
            department=department,
            department_record=state.index.department_cards.get(department),
            note=query.note,
        )
        if self.llm is not None and result.hits:
            try:
                text = self.llm.rewrite(searched, text, result.hits)
            except Exception:  # the composed answer is always a valid answer
                log.warning("LLM 改写失败，使用检索原文回答", exc_info=True)
        return Answer(
            question=question,
            text=text,
            route_to_desk=route,
            reason=reason if route else "",
            hits=result.hits,
            latency_ms=_ms(started),
            confidence=result.confidence,
            department=department,
        )

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


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
