"""Answers for the bot: a short-lived cache with coalescing, and the answer worker process."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from core.config import Settings
from knowledge.service import KnowledgeService

if TYPE_CHECKING:
    from knowledge.answer import Answer
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)


MAX_ANSWER_BATCH = 32  # questions per trip to the answer worker
ANSWER_TRIPS_IN_FLIGHT = 2
class AnswerCache:
    """Answers by question text: a short-lived LRU plus coalescing of identical questions in flight.

    Owners ask the same popular questions (开饭店要办什么证…), often in bursts; retrieval is CPU work
    under the GIL, so a repeated question is answered from memory. Cleared whenever the knowledge base
    is reloaded, and entries expire after ``ttl_s`` (policies change by ingest only, so this is safe).
    """

    def __init__(self, knowledge: KnowledgeService, maxsize: int = 2048, ttl_s: float = 600.0,
                 workers: int = 2, process_settings: Settings | None = None) -> None:
        self._knowledge = knowledge
        self._maxsize = maxsize
        self._ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, Answer]] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[Answer]] = {}
        self.hits = 0
        self.misses = 0
        self.batches = 0  # trips to the answer worker (or, while it loads, a thread) for misses
        # Retrieval holds the GIL most of the time: more threads than cores only add contention
        # (measured: 6 default-pool threads were slower than 2), so it gets its own small pool.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zhitong-ask")
        # With process_settings, new questions are answered in one worker process with its own
        # KnowledgeService, so retrieval no longer competes with the event loop for the GIL
        # (profiled under a burst of 200 distinct questions on 2 cores: p95 ~2.2 s → ~1.7 s). The
        # threads above remain the fallback when that process dies.
        self._process_settings = process_settings
        self._warmup: Future[Any] | None = None
        self._started_at = 0.0
        self._queued: list[tuple[str, asyncio.Future[Answer]]] = []
        self._dispatchers: set[asyncio.Task[None]] = set()
        self._procs: ProcessPoolExecutor | None = self._start_worker() if process_settings else None

    @staticmethod
    def _key(question: str) -> str:
        return " ".join(question.split())

    async def ask(self, question: str) -> Answer:
        key = self._key(question)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl_s:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        pending = self._in_flight.get(key)
        if pending is not None:
            self.hits += 1
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            # Retrieval is CPU work (embedding, Chroma, BM25): never on the event loop.
            answer = await self._compute(question)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._in_flight.pop(key, None)
        future.set_result(answer)
        self._entries[key] = (now, answer)
        while len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)
        return answer

    async def _compute(self, question: str) -> Answer:
        if self._procs is None:
            # Threads (an LLM rewrite mostly waits on the network; two questions run at once).
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._knowledge.ask, question)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queued.append((question, future))
        if len(self._dispatchers) < ANSWER_TRIPS_IN_FLIGHT:
            task = asyncio.create_task(self._dispatch(), name="zhitong-answer-batches")
            self._dispatchers.add(task)
            task.add_done_callback(self._dispatchers.discard)
        return await future

    async def _dispatch(self) -> None:
        """Send the queued questions to the worker, in batches of those that queued up while it was busy.

        No waiting to fill a batch: one question alone goes at once; in a burst, the questions that
        arrive while a batch is computed go together next (embedding costs less per question in a batch,
        and one round trip carries them all). Two trips are in flight at once, so the worker starts the
        next batch while the answers of the last one travel back (measured: one trip at a time doubled
        the p95 of a 200-chat burst).
        """
        loop = asyncio.get_running_loop()
        while self._queued:
            batch, self._queued = self._queued[:MAX_ANSWER_BATCH], self._queued[MAX_ANSWER_BATCH:]
            questions = [question for question, _ in batch]
            self.batches += 1
            procs = self._procs
            if procs is not None and self._worker_failed() and time.monotonic() - self._started_at > 60:
                log.warning("answer worker process failed to start: starting another; threads answer meanwhile")
                self._restart_worker()
                procs = self._procs
            try:
                # Until a (re)started worker has loaded its knowledge core (~3 s), a thread answers: this
                # process's own core is already current, so nobody waits for the worker after an ingest.
                if procs is not None and self._worker_ready():
                    try:
                        results = await loop.run_in_executor(procs, _worker_ask_many, questions)
                    except (BrokenProcessPool, RuntimeError):  # died, or shut down by a restart meanwhile
                        log.warning("answer worker process died (or was shut down): restarting it; a thread answers these")
                        if self._procs is procs:
                            self._restart_worker()
                        results = await loop.run_in_executor(self._pool, _ask_each, self._knowledge, questions)
                else:
                    results = await loop.run_in_executor(self._pool, _ask_each, self._knowledge, questions)
            except Exception as exc:  # the thread pool itself failed: every asker gets the error
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue  # the asker went away (cancelled)
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _start_worker(self) -> ProcessPoolExecutor:
        assert self._process_settings is not None
        procs = ProcessPoolExecutor(
            max_workers=1,  # one core for retrieval, the other for the event loop (2-core target)
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a process with threads
            initializer=_worker_open,
            # Our pid, not the worker's getppid(): a worker that starts after the bot died already has
            # a new parent (init), and would watch that one forever.
            initargs=(self._process_settings, os.getpid()),
        )
        self._started_at = time.monotonic()
        self._warmup = procs.submit(_worker_ask, "预热")  # load the model now, not on the first owner's question
        return procs

    def _worker_ready(self) -> bool:
        warmup = self._warmup
        return warmup is not None and warmup.done() and not warmup.cancelled() and warmup.exception() is None

    def _worker_failed(self) -> bool:
        warmup = self._warmup
        return warmup is not None and warmup.done() and not self._worker_ready()

    def _restart_worker(self) -> None:
        old, self._procs = self._procs, self._start_worker()
        if old is not None:
            old.shutdown(wait=False)  # questions already queued there still finish

    def clear(self) -> None:
        self._entries.clear()
        if self._procs is not None:
            # The worker holds its own index and Chroma client: after an ingest a fresh process
            # re-reads the knowledge base, exactly like KnowledgeService.reload in this process.
            self._restart_worker()

    def close(self) -> None:
        for task in list(self._dispatchers):
            task.cancel()
        for _, future in self._queued:
            future.cancel()
        self._queued.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._procs is not None:
            self._procs.shutdown(wait=False, cancel_futures=True)


# The answer worker process's own KnowledgeService (set by its initializer).
_WORKER_KNOWLEDGE: KnowledgeService | None = None


def _worker_open(settings: Settings, parent_pid: int) -> None:
    global _WORKER_KNOWLEDGE
    # Ctrl-C reaches the whole process group; the bot shuts this worker down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(parent_pid)

    _WORKER_KNOWLEDGE = KnowledgeService.open(settings)


def exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """End this worker when the bot process `parent_pid` is gone (killed: no shutdown reached us),
    instead of living on as an orphan holding its own knowledge core (~340 MB) — one more after every
    crash. Checked at once too: the bot may have died while this worker was still starting."""
    def gone() -> bool:
        return os.getppid() != parent_pid

    if gone():
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if gone():
                os._exit(0)

    threading.Thread(target=watch, name="zhitong-parent-watch", daemon=True).start()


def _worker_ask(question: str) -> Answer:
    assert _WORKER_KNOWLEDGE is not None
    return _WORKER_KNOWLEDGE.ask(question)


def _worker_ask_many(questions: list[str]) -> list[Any]:
    assert _WORKER_KNOWLEDGE is not None
    return _ask_each(_WORKER_KNOWLEDGE, questions)


def _ask_each(knowledge: KnowledgeService, questions: list[str]) -> list[Any]:
    """Answers for ``questions`` in one batch; if the batch fails, one by one, so a question that
    breaks retrieval fails alone (its slot holds the exception) instead of failing its neighbours."""
    try:
        return list(knowledge.ask_many(questions))
    except Exception:
        results: list[Any] = []
        for question in questions:
            try:
                results.append(knowledge.ask(question))
            except Exception as exc:
                results.append(exc)
        return results
