"""What every part of the push service shares: sessions, the clock and calendar, who may review."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import Clock, SystemClock
from core.config import Settings
from desk.models import Enterprise, Staff
from desk.workcalendar import WorkCalendar
from knowledge.audience import Profile


class PushError(Exception):
    """A refused push operation; `message` is Chinese, for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Reviewer:
    """Who approved or discarded a campaign (None tg id: the local operator at the CLI)."""

    tg_id: int | None
    name: str


OPERATOR = Reviewer(None, "本地管理员")


def profile_of(enterprise: Enterprise) -> Profile:
    return Profile(enterprise.industry, enterprise.size, enterprise.district, tuple(enterprise.tags or ()))


class PushBase:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock | None = None,
                 calendar: WorkCalendar | None = None) -> None:
        self.sessions = sessions
        self.settings = settings
        self.cfg = settings.push
        self.clock: Clock = clock or SystemClock()
        self.calendar = calendar or WorkCalendar.from_settings(settings)

    def now(self) -> datetime:
        return self.clock.now()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    async def _reviewer(self, s: AsyncSession, tg_id: int | None) -> Reviewer:
        """None = the local operator (CLI); else an admin from telegram.admin_ids or a staff admin."""
        if tg_id is None:
            return OPERATOR
        if tg_id in self.settings.telegram.admin_ids:
            return Reviewer(tg_id, f"管理员{tg_id}")
        staff = (await s.exec(select(Staff).where(Staff.tg_user_id == tg_id))).first()
        if staff is None or not staff.active or staff.role != "admin":
            raise PushError("只有管理员可以审核政策推送。")
        return Reviewer(tg_id, staff.name)


__all__ = ["OPERATOR", "PushBase", "PushError", "Reviewer", "profile_of"]
