"""Question analytics: what owners ask, whether it was answered or routed, and their 有用/没用 feedback.

One small table of its own (``question_log``). Written by the bot after each answer; read by /stats and
by anyone wanting "unanswered questions of the week" to improve the directory.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, DateTime, Text, func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.models import Ticket
from desk.states import TicketState


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QuestionLog(SQLModel, table=True):
    __tablename__ = "question_log"

    # Ids are made by the bot (see Analytics._new_id) so rows can be written in batches.
    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    tg_user_id: int = Field(sa_type=BigInteger, index=True)
    question: str = Field(sa_type=Text)
    routed: bool = False  # the knowledge core said "route to desk"
    escalated: bool = False  # the owner pressed 转人工 on it (or intake started from it)
    top_kind: str = Field(default="", max_length=16)
    top_title: str = Field(default="", max_length=200)
    top_department: str = Field(default="", max_length=100)
    feedback: str = Field(default="", max_length=8)  # "" | "up" | "down"
    latency_ms: float = 0.0
    created_at: datetime = Field(default_factory=_utcnow, sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]


@dataclass
class StatsReport:
    days: int
    asked: int
    answered: int
    routed: int
    escalated: int
    up: int
    down: int
    unanswered: list[tuple[str, int]] = field(default_factory=list)  # (question, times asked)

    @property
    def down_rate(self) -> float:
        rated = self.up + self.down
        return self.down / rated if rated else 0.0


class FeedbackRefused(Exception):
    """The question is not the presser's own (or unknown)."""


class Analytics:
    """Question log with batched writes.

    Every question is logged, and under load one commit (one fsync) per question would serialise the
    bot on the database. Rows get their id at once (needed for the answer's buttons) and are written
    together FLUSH_DELAY_S later; every read flushes first, so nobody ever sees a missing row.
    """

    FLUSH_DELAY_S = 0.3
    _EPOCH_MS = 1_700_000_000_000

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: list[QuestionLog] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._worker = secrets.randbits(6)  # separates ids made by several bot processes
        self._counter = itertools.count()

    def _new_id(self) -> int:
        """Time-ordered 64-bit id: milliseconds << 16 | worker (6 bits) << 10 | counter (10 bits)."""
        ms = int(time.time() * 1000) - self._EPOCH_MS
        return (ms << 16) | (self._worker << 10) | (next(self._counter) & 0x3FF)

    async def record_question(
        self, *, tg_user_id: int, question: str, routed: bool, top_kind: str = "", top_title: str = "",
        top_department: str = "", latency_ms: float = 0.0,
    ) -> int:
        row = QuestionLog(
            id=self._new_id(), tg_user_id=tg_user_id, question=question[:2000], routed=routed,
            top_kind=top_kind, top_title=top_title[:200], top_department=top_department[:100],
            latency_ms=latency_ms,
        )
        self._pending.append(row)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_later())
        assert row.id is not None
        return row.id

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.FLUSH_DELAY_S)
        await self.flush()

    async def flush(self) -> None:
        """Write the pending rows in one transaction."""
        async with self._flush_lock:
            rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                async with self._sessions() as session, session.begin():
                    session.add_all(rows)
            except Exception:
                self._pending[:0] = rows  # keep them for the next flush
                raise

    async def aclose(self) -> None:
        if self._flush_task is not None and not self._flush_task.done():
            self._flush_task.cancel()
        await self.flush()

    async def get(self, question_id: int, tg_user_id: int) -> QuestionLog:
        """The owner's own question row; FeedbackRefused for anybody else's or an unknown id."""
        await self.flush()
        async with self._sessions() as session:
            row = await session.get(QuestionLog, question_id)
        if row is None or row.tg_user_id != tg_user_id:
            raise FeedbackRefused(question_id)
        return row

    async def record_feedback(self, question_id: int, tg_user_id: int, useful: bool) -> None:
        await self.flush()
        async with self._sessions() as session, session.begin():
            row = await session.get(QuestionLog, question_id)
            if row is None or row.tg_user_id != tg_user_id:
                raise FeedbackRefused(question_id)
            row.feedback = "up" if useful else "down"
            session.add(row)

    async def mark_escalated(self, question_id: int, tg_user_id: int) -> None:
        await self.flush()
        async with self._sessions() as session, session.begin():
            row = await session.get(QuestionLog, question_id)
            if row is not None and row.tg_user_id == tg_user_id:
                row.escalated = True
                session.add(row)

    async def stats(self, *, days: int = 7, now: datetime | None = None, top: int = 10) -> StatsReport:
        await self.flush()
        since = (now or _utcnow()) - timedelta(days=days)
        async with self._sessions() as session:
            base = select(QuestionLog).where(col(QuestionLog.created_at) >= since)
            rows = list((await session.exec(base)).all())
            # Unanswered = routed by the core, escalated by the owner, or marked 没用.
            unanswered_q = (
                select(QuestionLog.question, func.count())
                .where(col(QuestionLog.created_at) >= since)
                .where(
                    col(QuestionLog.routed) | col(QuestionLog.escalated) | (col(QuestionLog.feedback) == "down")
                )
                .group_by(QuestionLog.question)
                .order_by(func.count().desc(), QuestionLog.question)
                .limit(top)
            )
            unanswered = [(str(q), int(n)) for q, n in (await session.exec(unanswered_q)).all()]
        return StatsReport(
            days=days,
            asked=len(rows),
            answered=sum(1 for r in rows if not r.routed),
            routed=sum(1 for r in rows if r.routed or r.escalated),
            escalated=sum(1 for r in rows if r.escalated),
            up=sum(1 for r in rows if r.feedback == "up"),
            down=sum(1 for r in rows if r.feedback == "down"),
            unanswered=unanswered,
        )

    async def ticket_counts(self) -> list[tuple[str, int]]:
        """Tickets per state label (all time), for /stats."""
        async with self._sessions() as session:
            rows = (await session.exec(select(Ticket.state, func.count()).group_by(Ticket.state))).all()
        counts = {str(state): int(n) for state, n in rows}
        return [(TicketState(s).label, counts[s]) for s in (x.value for x in TicketState) if counts.get(s)]
