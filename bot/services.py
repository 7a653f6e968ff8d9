"""The services the Telegram handlers call, built once per Application (post_init) and closed with it.

Nothing here knows about Telegram objects: handlers parse updates, call these, and render the result.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.answers import AnswerCache
from bot.flood import FloodLimiter
from bot.ingest_runner import IngestRunner
from bot.outbox_claims import OutboxClaims
from bot.staff_cards import StaffCards
from core.clock import Clock, SystemClock
from core.config import Settings
from core.db import init_db, make_async_engine, make_sessionmaker
from desk.analytics import Analytics
from desk.models import Staff
from desk.service import Desk
from knowledge.service import KnowledgeService
from push.service import PushService

if TYPE_CHECKING:
    from desk.models import Staff
    from desk.service import Desk
    from knowledge.answer import Answer
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)


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
    push: PushService
    answers: AnswerCache | None
    owns_knowledge: bool = True

    @classmethod
    async def build(
        cls, settings: Settings, *, knowledge: KnowledgeService | None = None, clock: Clock | None = None,
        answer_process: bool = False, engine: AsyncEngine | None = None,
    ) -> Services:
        """Open the database, the desk and the knowledge core (model loading runs in a thread).

        ``answer_process``: answer new questions in a worker process (see AnswerCache); only when
        this call opens the knowledge core itself (an injected one is the caller's to run) and no
        LLM rewrite is configured. ``engine``: the bot's, already opened for its conversation state.
        """
        if engine is None:
            engine = make_async_engine(settings.database_url, echo=settings.database.echo, database=settings.database)
        await init_db(engine)
        sessions = make_sessionmaker(engine)
        owns = knowledge is None
        if knowledge is None:
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
            flood=FloodLimiter(tg.flood_messages, tg.flood_window_s, redis_url=settings.redis.url),
            clock=clock,
            answers=answers,
            claims=OutboxClaims(sessions, worker=f"{os.getpid()}-{uuid.uuid4().hex[:8]}"),
            cards=StaffCards(sessions),
            push=PushService(sessions, settings, clock, desk.calendar),
            owns_knowledge=owns,
        )

    async def ask(self, question: str) -> Answer:
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
        async with self.sessions() as session:
            row = (await session.exec(select(Staff).where(Staff.tg_user_id == tg_user_id))).first()
        return row if row is not None and row.active else None

    async def is_staff(self, tg_user_id: int) -> bool:
        return tg_user_id in self.settings.telegram.admin_ids or await self.staff_member(tg_user_id) is not None

    async def admin_ids(self) -> list[int]:
        """Everyone who administers the bot: telegram.admin_ids and active staff with the admin role."""
        async with self.sessions() as session:
            staff = (await session.exec(select(Staff.tg_user_id).where(Staff.role == "admin", Staff.active))).all()
        return list(dict.fromkeys([*self.settings.telegram.admin_ids, *staff]))

    async def is_admin(self, tg_user_id: int) -> bool:
        if tg_user_id in self.settings.telegram.admin_ids:
            return True
        member = await self.staff_member(tg_user_id)
        return member is not None and member.role == "admin"
