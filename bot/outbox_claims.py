"""Leases on desk notifications while a bot worker delivers them (several workers, no double send)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.models import Notification, OutboxClaim

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class _AlreadySent(Exception):
    pass


class OutboxClaims:
    LEASE = timedelta(minutes=2)

    def __init__(self, sessions: async_sessionmaker[AsyncSession], worker: str) -> None:
        self._sessions = sessions
        self.worker = worker

    async def claim(self, notification_id: int) -> bool:
        """True when this worker may send the notification now: nobody holds it and nobody sent it.

        The second half matters with several workers: one read the row as pending, another claimed,
        sent and released it meanwhile; the claim is free again, but the message is out."""
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
                    await session.flush()  # the claim is ours (or IntegrityError) before we look
                    sent = (await session.exec(
                        select(Notification.sent_at).where(col(Notification.id) == notification_id)
                    )).first()
                    if sent is not None:
                        raise _AlreadySent  # rolls the claim back
            except (IntegrityError, _AlreadySent):
                return False
        return True

    async def release(self, notification_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await session.exec(delete(OutboxClaim).where(  # type: ignore[call-overload]
                col(OutboxClaim.notification_id) == notification_id, col(OutboxClaim.worker) == self.worker,
            ))
