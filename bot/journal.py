"""The inbound journal: every update Telegram hands the bot is on disk before Telegram forgets it.

Telegram forgets an update once the bot confirms it — with long polling, by asking for the next batch
(``offset``); with a webhook, by answering 200. python-telegram-bot does both as soon as an update is
*queued*, not when it has been *handled*, so a crash (OOM kill, power loss, a deploy gone wrong) with
updates still queued would lose them: a question never answered, an intake step or a rating gone.

So each update is written here first — a batch in one transaction right before the ``getUpdates`` call
that confirms it, or before the webhook's 200 — and marked done after its handlers ran. On start the bot
replays what is not done, and drops Telegram's re-deliveries of what it already has. Delivery is
therefore at-least-once: an update handled just before a crash, whose done mark was not yet written
(the marks are written every few seconds, right after the conversation state), is handled again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, DateTime, Text, delete, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.telegram_http import AiohttpRequest

log = logging.getLogger(__name__)


class InboundUpdate(SQLModel, table=True):
    __tablename__ = "inbound_update"

    update_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    # Who replays it after a crash: "polling", or host:port of a webhook worker (stable across restarts).
    worker: str = Field(max_length=128, index=True)
    payload: str = Field(sa_type=Text)  # the update as Telegram sent it (JSON)
    # The chat (or, without one, the user) it belongs to: webhook workers take a chat's updates in order
    # from here (bot/chat_order.py). None for updates of no chat.
    chat_key: int | None = Field(default=None, sa_type=BigInteger, index=True)
    received_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    done_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    replays: int = 0  # times handed back after a restart (an update that crashes the bot is not replayed forever)


def chat_key(update: object) -> int | None:
    """What orders an update: its chat, or its user for updates without a chat (inline queries)."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return None


class UpdateJournal:
    """Buffers what arrived and what was handled; ``flush`` writes both in one transaction."""

    KEEP_DONE = timedelta(days=2)  # Telegram re-delivers unconfirmed updates for up to 24 h
    MAX_REPLAYS = 2
    # Takes by the holder of a chat's lease (webhook workers): a worker handing over or dying while another
    # waits is normal in a rolling restart, so the bar is higher — an earlier update skipped here would be
    # handled after the later one that skipped it (the order the lease exists to keep).
    MAX_TAKES = 6
    PRUNE_EVERY = timedelta(minutes=10)

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._received: dict[int, tuple[str, int | None]] = {}
        self._done: set[int] = set()
        self._lock = asyncio.Lock()
        self._floor = 0  # every update id up to this was journaled before this process started
        self._last_prune = datetime.min.replace(tzinfo=UTC)

    def attach(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @property
    def attached(self) -> bool:
        return self._sessions is not None

    async def received(self, update: Update) -> bool:
        """Note an update that arrived; False when it is a re-delivery of one already journaled.

        A re-delivery is the same id *and* the same content: Telegram restarts update ids at a random
        number after a week without updates (and a new bot token starts its own sequence), so an old id
        can come back as a different update.
        """
        payload = json.dumps(update.to_dict(), ensure_ascii=False, sort_keys=True)
        if update.update_id <= self._floor and await self._stored_payload(update.update_id) == payload:
            return False
        self._received[update.update_id] = (payload, chat_key(update))
        return True

    def done(self, update_id: int) -> None:
        self._done.add(update_id)

    async def flush(self, *, done_marks: bool = True) -> None:
        """Write the arrivals and (unless ``done_marks`` is False) the done marks buffered so far, in one
        transaction; with nothing buffered, no I/O.

        The bot writes done marks only right after it saved its conversation state (see cli/telegram_app.py): an
        update marked done must not be one whose intake step a crash would then forget.
        """
        if self._sessions is None or not (self._received or (done_marks and self._done)):
            return
        async with self._lock:
            received, self._received = self._received, {}
            done: set[int] = set()
            if done_marks:
                done, self._done = self._done, set()
            if not received and not done:
                return  # another flush took them while we waited
            now = datetime.now(UTC)
            try:
                async with self._sessions() as session, session.begin():
                    if received:
                        rows = [
                            {"update_id": uid, "worker": self.worker, "payload": payload, "chat_key": key,
                             "received_at": now, "done_at": now if uid in done else None}
                            for uid, (payload, key) in received.items()
                        ]
                        # A webhook retry may reach another worker that already wrote it: keep the first.
                        # A reused id with new content (see received) replaces the old row.
                        dialect = session.get_bind().dialect.name
                        insert = pg_insert if dialect == "postgresql" else sqlite_insert
                        stmt = insert(InboundUpdate).values(rows)
                        stmt = stmt.on_conflict_do_update(
                            index_elements=["update_id"],
                            set_={"worker": stmt.excluded.worker, "payload": stmt.excluded.payload,
                                  "chat_key": stmt.excluded.chat_key,
                                  "received_at": stmt.excluded.received_at, "done_at": stmt.excluded.done_at,
                                  "replays": 0},
                            where=col(InboundUpdate.payload) != stmt.excluded.payload,
                        )
                        await session.exec(stmt)  # type: ignore[call-overload]
                    earlier = done - received.keys()
                    if earlier:
                        await session.exec(  # type: ignore[call-overload]
                            update(InboundUpdate).where(col(InboundUpdate.update_id).in_(earlier)).values(done_at=now)
                        )
                    if now - self._last_prune > self.PRUNE_EVERY:
                        self._last_prune = now
                        await session.exec(  # type: ignore[call-overload]
                            delete(InboundUpdate).where(col(InboundUpdate.done_at) < now - self.KEEP_DONE)
                        )
            except Exception:
                # Keep them for the next flush; the caller (getUpdates, webhook) fails and Telegram keeps
                # the updates, so nothing is confirmed that is not on disk.
                self._received = {**received, **self._received}
                self._done |= done
                raise

    async def unfinished(self) -> list[dict[str, Any]]:
        """This worker's updates that arrived but were not handled (a crash), oldest first; sets the floor.

        Each is counted as replayed now: one that crashed the bot twice is left (and logged) for a
        person, instead of crashing every restart.
        """
        assert self._sessions is not None
        async with self._sessions() as session, session.begin():
            self._floor = (await session.exec(select(func.max(InboundUpdate.update_id)))).one() or 0
            pending = col(InboundUpdate.done_at).is_(None) & (InboundUpdate.worker == self.worker)
            rows = (await session.exec(
                select(InboundUpdate).where(pending).order_by(col(InboundUpdate.update_id))
            )).all()
            replay = [r for r in rows if r.replays < self.MAX_REPLAYS]
            for row in rows:
                if row.replays >= self.MAX_REPLAYS:
                    log.error("update %s was interrupted %d times; not replayed again (see inbound_update)",
                              row.update_id, row.replays)
            if replay:
                await session.exec(  # type: ignore[call-overload]
                    update(InboundUpdate)
                    .where(col(InboundUpdate.update_id).in_([r.update_id for r in replay]))
                    .values(replays=InboundUpdate.replays + 1)
                )
            payloads = [json.loads(r.payload) for r in replay]
        return payloads

    # ------------------------------------------------------------------ the journal as a per-chat queue
    # (webhook workers, bot/chat_order.py): read and marked under the chat's lease, written at once.
    async def pending_of_chat(self, key: int, *, before: int) -> list[dict[str, Any]]:
        """Unfinished updates of chat ``key`` older than ``before`` (any worker's), oldest first.

        Each take is counted: one that keeps killing whoever takes it is left for a person after MAX_TAKES
        (at start a worker replays its own only below MAX_REPLAYS, see unfinished)."""
        assert self._sessions is not None
        async with self._sessions() as session, session.begin():
            rows = (await session.exec(
                select(InboundUpdate).where(
                    InboundUpdate.chat_key == key, col(InboundUpdate.done_at).is_(None),
                    col(InboundUpdate.update_id) < before, col(InboundUpdate.replays) < self.MAX_TAKES,
                ).order_by(col(InboundUpdate.update_id))
            )).all()
            if rows:
                await session.exec(  # type: ignore[call-overload]
                    update(InboundUpdate).where(col(InboundUpdate.update_id).in_([r.update_id for r in rows]))
                    .values(replays=InboundUpdate.replays + 1)
                )
        return [json.loads(r.payload) for r in rows]

    async def missing_before(self, update_id: int, window: int, floor: int = 0) -> int:
        """How many of the ``window`` update ids just below ``update_id`` (and above ``floor``) no worker has
        journaled yet.

        Telegram numbers a bot's updates consecutively, so a gap is an update still on its way (posted
        to another worker a moment ago, or being retried): possibly this chat's previous one."""
        assert self._sessions is not None
        async with self._sessions() as session:
            lowest = (await session.exec(select(func.min(InboundUpdate.update_id)))).one()
            if lowest is None:
                return 0
            start = max(update_id - window, lowest, floor + 1)
            if start >= update_id:
                return 0
            present = (await session.exec(
                select(func.count()).select_from(InboundUpdate).where(
                    col(InboundUpdate.update_id) >= start, col(InboundUpdate.update_id) < update_id)
            )).one()
        return (update_id - start) - int(present)

    async def is_done(self, update_id: int) -> bool:
        assert self._sessions is not None
        async with self._sessions() as session:
            row = await session.get(InboundUpdate, update_id)
        return row is not None and row.done_at is not None

    async def mark_done_in(self, session: AsyncSession, update_id: int) -> None:
        """The done mark written in the caller's transaction (the one that saves the conversation state),
        not buffered: the next holder of the chat's lease must see it."""
        self._done.discard(update_id)
        await session.exec(  # type: ignore[call-overload]
            update(InboundUpdate).where(col(InboundUpdate.update_id) == update_id).values(done_at=datetime.now(UTC))
        )

    async def mark_done_now(self, update_id: int) -> None:
        assert self._sessions is not None
        async with self._sessions() as session, session.begin():
            await self.mark_done_in(session, update_id)

    async def stalled_chats(self, older_than: timedelta, limit: int = 50) -> list[int]:
        """Chats with an update nobody finished for ``older_than``: its worker died and the chat has said
        nothing since (which would have made the next worker take it)."""
        assert self._sessions is not None
        cutoff = datetime.now(UTC) - older_than
        async with self._sessions() as session:
            keys = (await session.exec(
                select(InboundUpdate.chat_key).where(
                    col(InboundUpdate.done_at).is_(None), col(InboundUpdate.chat_key).is_not(None),
                    col(InboundUpdate.received_at) < cutoff, col(InboundUpdate.replays) < self.MAX_TAKES,
                ).distinct().limit(limit)
            )).all()
        return [int(k) for k in keys if k is not None]

    async def _stored_payload(self, update_id: int) -> str | None:
        if update_id in self._received:
            return self._received[update_id][0]
        if self._sessions is None:
            return None
        async with self._sessions() as session:
            row = await session.get(InboundUpdate, update_id)
        return row.payload if row is not None else None


class JournalQueue(asyncio.Queue[object]):
    """The Application's update queue: drops re-deliveries; with ``durable_put`` (webhook mode) an update
    is on disk before ``put`` returns, i.e. before PTB answers Telegram's POST with 200."""

    def __init__(self, journal: UpdateJournal, *, durable_put: bool) -> None:
        super().__init__()
        self.journal = journal
        self.durable_put = durable_put

    async def put(self, item: object) -> None:
        if isinstance(item, Update) and self.journal.attached:
            if not await self.journal.received(item):
                log.info("update %s was already received before a restart; dropped", item.update_id)
                return
            if self.durable_put:
                await self.journal.flush(done_marks=False)  # concurrent webhook posts share one transaction
        await super().put(item)


class JournalingRequest(AiohttpRequest):
    """The request object for ``getUpdates`` only: each call confirms the previous batch to Telegram,
    so the journal is flushed first. A failed flush fails the call; PTB's polling loop retries it with
    the same offset, and Telegram keeps the batch meanwhile."""

    def __init__(self, journal: UpdateJournal, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.journal = journal

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        await self.journal.flush(done_marks=False)
        return await super().do_request(url, method, request_data, read_timeout, write_timeout,
                                        connect_timeout, pool_timeout)

