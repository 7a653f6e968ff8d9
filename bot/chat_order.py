"""One chat's updates in order across webhook workers: a lease per chat in the shared database.

Behind a round-robin proxy, two updates of one chat (an owner typing two intake answers quickly, or a
button press right after a message) can reach two workers at once. Each worker already journals every
update before answering Telegram (bot/journal.py), so the journal is the queue; what a worker needs before
handling an update of chat C is the right to handle C. That right is a row here: ``chat_lease`` with an
expiry, taken with one conditional upsert (free or expired → mine), renewed while a slow handler runs, and
given back at the end. Under it the worker first handles every earlier journaled update of C that nobody
finished (another worker's, or one a crashed worker left), in update-id order, then its own — unless another
worker already handled it.

Why a lease row and not PostgreSQL advisory locks: an advisory lock lives on a connection, so every chat
being handled would pin one of the pool's few connections while its handlers need others (64 concurrent
updates against a pool of 10 deadlocks); a row costs a statement, works the same on SQLite, and a worker
that dies simply lets its leases expire (``lease_s``), or frees them itself when it starts again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, DateTime, String, delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)


class ChatLease(SQLModel, table=True):
    __tablename__ = "chat_lease"

    chat_key: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    worker: str = Field(sa_type=String(128), index=True)
    token: str = Field(sa_type=String(32))  # one per acquisition: only its holder renews or releases it
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class ChatLeases:
    """Take, renew and give back the right to handle one chat's updates."""

    POLL_FIRST_S = 0.02
    POLL_MAX_S = 0.25

    def __init__(self, sessions: async_sessionmaker[AsyncSession], worker: str, lease_s: float = 15.0) -> None:
        self.sessions = sessions
        self.worker = worker
        self.lease_s = lease_s

    async def acquire(self, chat_key: int) -> str:
        """Wait until the chat is free (or its holder's lease ran out), then hold it; returns the token."""
        token = uuid.uuid4().hex
        pause = self.POLL_FIRST_S
        while not await self._try(chat_key, token):
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.POLL_MAX_S)
        return token

    async def _try(self, chat_key: int, token: str) -> bool:
        now = datetime.now(UTC)
        values = {"chat_key": chat_key, "worker": self.worker, "token": token,
                  "expires_at": now + timedelta(seconds=self.lease_s)}
        async with self.sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = insert(ChatLease).values(**values)
            stmt = stmt.on_conflict_do_update(
                index_elements=["chat_key"],
                set_={"worker": stmt.excluded.worker, "token": stmt.excluded.token,
                      "expires_at": stmt.excluded.expires_at},
                where=col(ChatLease.expires_at) < now,
            )
            result = await session.exec(stmt)  # type: ignore[call-overload]
            return bool(result.rowcount)

    async def renew(self, chat_key: int, token: str) -> bool:
        """Push the expiry out; False when the lease was lost (it ran out and another worker took it)."""
        async with self.sessions() as session, session.begin():
            result = await session.exec(  # type: ignore[call-overload]
                update(ChatLease).where(col(ChatLease.chat_key) == chat_key, col(ChatLease.token) == token)
                .values(expires_at=datetime.now(UTC) + timedelta(seconds=self.lease_s))
            )
            return bool(result.rowcount)

    async def release(self, chat_key: int, token: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.exec(delete(ChatLease).where(  # type: ignore[call-overload]
                col(ChatLease.chat_key) == chat_key, col(ChatLease.token) == token))

    async def release_all_of_worker(self) -> int:
        """At start: leases this worker's previous life held when it was killed (same worker name)."""
        async with self.sessions() as session, session.begin():
            result = await session.exec(delete(ChatLease).where(col(ChatLease.worker) == self.worker))  # type: ignore[call-overload]
            return int(result.rowcount or 0)

    async def keep_alive(self, chat_key: int, token: str) -> None:
        """Renew every third of the lease until cancelled (a handler waiting on an LLM may take a while)."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if not await self.renew(chat_key, token):
                    log.warning("the lease on chat %s ran out while its update was being handled", chat_key)
                    return
            except Exception:
                log.warning("could not renew the lease on chat %s", chat_key, exc_info=True)
