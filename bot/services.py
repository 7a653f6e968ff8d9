"""The services the Telegram handlers call, built once per Application (post_init) and closed with it.

Nothing here knows about Telegram objects: handlers parse updates, call these, and render the result.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.staff_cards import StaffCards
from core.clock import Clock, SystemClock
from core.config import Settings
from core.db import init_db, make_async_engine, make_sessionmaker
from desk.analytics import Analytics
from desk.models import OutboxClaim

if TYPE_CHECKING:
    from desk.models import Staff
    from desk.service import Desk
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- flood control
@dataclass
class FloodDecision:
    allowed: bool
    notify: bool  # tell the user once per window, not on every dropped message
    retry_after_s: float


@dataclass
class FloodLimiter:
    """Sliding-window limit per user: at most ``limit`` messages within ``window_s`` seconds."""

    limit: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[int, deque[float]] = field(default_factory=dict)
    _notified_until: dict[int, float] = field(default_factory=dict)

    def check(self, user_id: int) -> FloodDecision:
        now = self.clock()
        stamps = self._seen.setdefault(user_id, deque())
        while stamps and now - stamps[0] >= self.window_s:
            stamps.popleft()
        if len(stamps) < self.limit:
            stamps.append(now)
            return FloodDecision(True, False, 0.0)
        retry = self.window_s - (now - stamps[0])
        notify = self._notified_until.get(user_id, 0.0) <= now
        if notify:
            self._notified_until[user_id] = now + retry
        if len(self._seen) > 10_000:  # forget idle users so memory stays bounded
            self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < self.window_s}
        return FloodDecision(False, notify, max(retry, 0.0))


# ---------------------------------------------------------------- answers
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
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[Any]] = {}
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
        self._queued: list[tuple[str, asyncio.Future[Any]]] = []
        self._dispatchers: set[asyncio.Task[None]] = set()
        self._procs: ProcessPoolExecutor | None = self._start_worker() if process_settings else None

    @staticmethod
    def _key(question: str) -> str:
        return " ".join(question.split())

    async def ask(self, question: str) -> Any:
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
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
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

    async def _compute(self, question: str) -> Any:
        if self._procs is None:
            # Threads (an LLM rewrite mostly waits on the network; two questions run at once).
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._knowledge.ask, question)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
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
    from knowledge.service import KnowledgeService

    _WORKER_KNOWLEDGE = KnowledgeService.open(settings)


def exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """End this worker when the bot process `parent_pid` is gone (killed: no shutdown reached us),
    instead of living on as an orphan holding its own knowledge core (~340 MB) — one more after every
    crash. Checked at once too: the bot may have died while this worker was still starting."""
    import threading

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


def _worker_ask(question: str) -> Any:
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


# ---------------------------------------------------------------- ingest
class IngestBusy(Exception):
    """Another ingest is running (one at a time: the store is written by one writer)."""


class IngestRunner:
    """Runs the ingest pipeline in a worker thread, one at a time, then reloads the knowledge core.

    Also the one place where "the knowledge base changed" becomes a reload of this process's knowledge
    core and answers (``on_reload``: the answer cache): after its own ingest, and when the knowledge
    generation shows that another process ingested (dashboard upload, `zhitong ingest`, another
    webhook worker) — see ``reload_if_changed``.
    """

    def __init__(self, settings: Settings, knowledge: KnowledgeService | None,
                 on_reload: Callable[[], None] | None = None) -> None:
        self._settings = settings
        self._knowledge = knowledge
        self._on_reload = on_reload
        self._lock = asyncio.Lock()  # one ingest at a time (held through its reload)
        self._reload_lock = asyncio.Lock()  # one reload at a time

    @property
    def uploads_dir(self) -> Path:
        path = self._settings.data_dir / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @property
    def reloading(self) -> bool:
        """A reload of the knowledge core (and the answer cache) is running."""
        return self._reload_lock.locked()

    # Uploads (admins send files to the bot) --------------------------------------------------
    ALLOWED_EXTENSIONS = (".pdf", ".docx", ".txt", ".md", ".html", ".htm", ".csv", ".xlsx", ".yaml", ".yml")

    @property
    def max_upload_mb(self) -> float:
        return min(self._settings.telegram.max_upload_mb, self._settings.ingest.max_file_mb)

    @staticmethod
    def safe_name(name: str) -> str:
        """A file name that stays inside the uploads dir (no path parts, no control characters)."""
        import re

        base = Path(name.replace("\\", "/")).name
        base = re.sub(r"[\x00-\x1f/]", "_", base).strip(" .")
        return base[:120] or "upload"

    def check_upload(self, name: str, size_bytes: int) -> str | None:
        """None when acceptable, else "unsupported" or "too_large" (checked before any download)."""
        if Path(name).suffix.lower() not in self.ALLOWED_EXTENSIONS:
            return "unsupported"
        if size_bytes / (1024 * 1024) > self.max_upload_mb:
            return "too_large"
        return None

    def partial_path(self, name: str) -> Path:
        """Where a download goes before it is complete (hidden, never ingested)."""
        return self.uploads_dir / f".{name}.part"

    async def ingest_upload(
        self, name: str, partial: Path, progress: Callable[[str, int, int], None] | None = None,
    ) -> Any:
        """Put a downloaded upload in place and ingest it; a failure restores the previous version.

        The store is unchanged by a file that fails, and the uploads dir must keep matching the store
        (/reindex ingests the dir, removing what is gone), so the file on disk is rolled back too.
        """
        if self._lock.locked():
            partial.unlink(missing_ok=True)  # noqa: ASYNC240 (a local unlink: microseconds)
            raise IngestBusy()
        target = self.uploads_dir / name
        backup = target.with_name(f".{target.name}.bak")
        had_previous = target.exists()
        if had_previous:
            os.replace(target, backup)
        os.replace(partial, target)
        report = None
        try:
            report = await self.run([target], progress)
        finally:
            failed = report is None or any(Path(str(f)).name == name for f, _ in report.failed)
            if failed:
                if had_previous:
                    os.replace(backup, target)
                else:
                    target.unlink(missing_ok=True)
            elif had_previous:
                backup.unlink(missing_ok=True)
        return report

    async def run(self, paths: Sequence[Path], progress: Callable[[str, int, int], None] | None = None) -> Any:
        """Ingest ``paths`` (thread), reload retrieval; returns the IngestReport."""
        if self._lock.locked():
            raise IngestBusy()
        async with self._lock:
            from ingest.pipeline import ingest_paths

            store = getattr(self._knowledge, "store", None)
            report = await asyncio.to_thread(
                ingest_paths, self._settings, list(paths), progress=progress, store=store
            )
            try:
                await self.reload()
            except Exception:
                # The ingest is committed: the knowledge base (and so the uploads dir, which must match
                # it) holds the new version. The previous index keeps answering until the periodic
                # check (reload_if_changed, which sees the new generation) reloads successfully.
                log.exception("reloading after an ingest failed; the next knowledge check retries")
            return report

    async def reload(self) -> None:
        """Rebuild the knowledge core from the database (thread), then drop the cached answers.

        Raises when the rebuild fails: the previous index keeps answering and the cache is kept.
        """
        async with self._reload_lock:
            if self._knowledge is not None:
                await asyncio.to_thread(self._knowledge.reload)
            if self._on_reload is not None:
                self._on_reload()

    async def reload_if_changed(self) -> bool:
        """Reload when the knowledge base changed since it was loaded, or the day changed (a policy may
        have taken effect or expired at midnight); True when it did.

        Skipped while this bot's own ingest or a reload runs (each ends with a reload that reads the
        newest generation), so an upload to this bot is never reloaded twice. A failure is logged and
        the next call tries again; the previous index keeps answering meanwhile.
        """
        knowledge = self._knowledge
        if knowledge is None or self._lock.locked() or self._reload_lock.locked():
            return False
        try:
            stale = await asyncio.to_thread(knowledge.is_stale)
        except Exception:
            log.warning("could not read the knowledge generation; checking again later", exc_info=True)
            return False
        # An ingest of this bot may have started while the generation was read: it reloads itself.
        if not stale or self._lock.locked() or self._reload_lock.locked():
            return False
        log.info("knowledge base changed elsewhere, or a new day began (validity dates): reloading")
        try:
            await self.reload()
        except Exception:
            log.exception("reloading the knowledge base failed; still answering from the previous index")
            return False
        return True


# ---------------------------------------------------------------- outbox claims
class OutboxClaims:
    LEASE = timedelta(minutes=2)

    def __init__(self, sessions: async_sessionmaker[AsyncSession], worker: str) -> None:
        self._sessions = sessions
        self.worker = worker

    async def claim(self, notification_id: int) -> bool:
        now = datetime.now(UTC)
        async with self._sessions() as session:
            try:
                async with session.begin():
                    # Take over a stale lease (its worker died) before trying to insert ours.
                    await session.exec(delete(OutboxClaim).where(  # type: ignore[call-overload]
                        col(OutboxClaim.notification_id) == notification_id,
                        col(OutboxClaim.claimed_at) < now - self.LEASE,
                    ))
                    session.add(OutboxClaim(notification_id=notification_id, worker=self.worker, claimed_at=now))
            except IntegrityError:
                return False
        return True

    async def release(self, notification_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await session.exec(delete(OutboxClaim).where(  # type: ignore[call-overload]
                col(OutboxClaim.notification_id) == notification_id, col(OutboxClaim.worker) == self.worker,
            ))


# ---------------------------------------------------------------- container
@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    knowledge: KnowledgeService | None
    desk: Desk
    analytics: Analytics
    ingest: IngestRunner
    flood: FloodLimiter
    clock: Clock
    claims: OutboxClaims
    cards: StaffCards
    answers: AnswerCache | None
    owns_knowledge: bool = True

    @classmethod
    async def build(
        cls, settings: Settings, *, knowledge: KnowledgeService | None = None, clock: Clock | None = None,
        answer_process: bool = False,
    ) -> Services:
        """Open the database, the desk and the knowledge core (model loading runs in a thread).

        ``answer_process``: answer new questions in a worker process (see AnswerCache); only when
        this call opens the knowledge core itself (an injected one is the caller's to run) and no
        LLM rewrite is configured.
        """
        from desk.service import Desk

        engine = make_async_engine(settings.database_url, echo=settings.database.echo, database=settings.database)
        await init_db(engine)
        sessions = make_sessionmaker(engine)
        owns = knowledge is None
        if knowledge is None:
            from knowledge.service import KnowledgeService

            knowledge = await asyncio.to_thread(KnowledgeService.open, settings)
        clock = clock or SystemClock()
        desk = Desk(sessions, settings, clock)
        # With an LLM configured, answering mostly waits on the network: the threads serve that
        # better than one worker process answering one question at a time.
        use_worker = answer_process and owns and not settings.llm.base_url
        answers = (
            AnswerCache(knowledge, process_settings=settings if use_worker else None)
            if knowledge is not None else None
        )
        tg = settings.telegram
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            knowledge=knowledge,
            desk=desk,
            analytics=Analytics(sessions),
            ingest=IngestRunner(settings, knowledge, on_reload=answers.clear if answers else None),
            flood=FloodLimiter(tg.flood_messages, tg.flood_window_s),
            clock=clock,
            answers=answers,
            claims=OutboxClaims(sessions, worker=f"{os.getpid()}-{uuid.uuid4().hex[:8]}"),
            cards=StaffCards(sessions),
            owns_knowledge=owns,
        )

    async def ask(self, question: str) -> Any:
        """The knowledge core's Answer (cached, computed in a worker thread)."""
        if self.answers is None:
            raise RuntimeError("knowledge core not loaded")
        return await self.answers.ask(question)

    async def aclose(self) -> None:
        await self.analytics.aclose()
        if self.answers is not None:
            self.answers.close()
        if self.owns_knowledge and self.knowledge is not None:
            close = getattr(self.knowledge, "close", None)
            if callable(close):
                await asyncio.to_thread(close)
        await self.engine.dispose()

    # ------------------------------------------------------------ roles
    async def staff_member(self, tg_user_id: int) -> Staff | None:
        """The active staff row of this Telegram user, if any (read fresh: `zhitong staff add` is live)."""
        from desk.models import Staff

        async with self.sessions() as session:
            row = (await session.exec(select(Staff).where(Staff.tg_user_id == tg_user_id))).first()
        return row if row is not None and row.active else None

    async def is_staff(self, tg_user_id: int) -> bool:
        return tg_user_id in self.settings.telegram.admin_ids or await self.staff_member(tg_user_id) is not None

    async def is_admin(self, tg_user_id: int) -> bool:
        if tg_user_id in self.settings.telegram.admin_ids:
            return True
        member = await self.staff_member(tg_user_id)
        return member is not None and member.role == "admin"

    # ------------------------------------------------------------ desk helpers
    async def claim(self, ticket_id: int, tg_user_id: int) -> Any:
        """Claim through the desk, retrying once when the optimistic lock lost to an unrelated write.

        The desk's claim fails with AlreadyClaimed whenever the row changed since it was read (e.g. the
        bot saving the ticket's topic at the same moment); only a real claim by someone else stands.
        """
        from desk.errors import AlreadyClaimed
        from desk.states import CLAIMABLE_STATES

        try:
            return await self.desk.claim(ticket_id, tg_user_id)
        except AlreadyClaimed:
            ticket = await self.desk.get_ticket(ticket_id)
            if ticket.state not in {s.value for s in CLAIMABLE_STATES}:
                raise
            return await self.desk.claim(ticket_id, tg_user_id)
