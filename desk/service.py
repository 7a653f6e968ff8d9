"""The Desk service: every act on a ticket, its audit row and its outbox rows in one transaction.

Callers (bot handlers, CLI, dashboard, tests) identify people by Telegram user id; the Desk checks
roles and departments itself, raises a DeskError with a Chinese message on bad input, and returns
pydantic `*Public` models, never live ORM rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from core.clock import Clock
from core.db import init_db, make_async_engine, make_sessionmaker
from desk.actors import SYSTEM_ACTOR, Actor
from desk.base import MAX_TEXT, DeskBase, parse_ticket_ref, retry_on_conflict
from desk.errors import DeskError
from desk.lifecycle import Lifecycle
from desk.people import StaffAndEnterprises
from desk.scheduler import TickResult, run_due
from desk.tickets import TicketRecords

if TYPE_CHECKING:
    from core.config import Settings


class Desk(StaffAndEnterprises, TicketRecords, Lifecycle, DeskBase):
    """The 办不成事 desk. Build once per process: `Desk(sessionmaker, settings, clock)`."""

    @classmethod
    async def open(cls, settings: Settings, clock: Clock | None = None) -> Desk:
        """Engine + tables + Desk from settings (CLI and scripts); call `aclose()` when done."""
        engine = make_async_engine(settings.database_url, echo=settings.database.echo, database=settings.database)
        await init_db(engine)
        desk = cls(make_sessionmaker(engine), settings, clock)
        desk._engine = engine
        return desk

    # ================================================================ scheduler
    async def run_due(self, now: datetime | None = None) -> TickResult:
        """One scheduler tick: warn, escalate, remind, auto-close (see desk.scheduler)."""
        return await run_due(self, now)


__all__ = ["MAX_TEXT", "SYSTEM_ACTOR", "Actor", "Desk", "DeskError", "parse_ticket_ref", "retry_on_conflict"]
