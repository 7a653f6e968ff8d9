"""The Desk's foundation: sessions and transactions, permission checks, audit and outbox rows, and the
helpers every part of the desk shares. The parts (people, tickets, lifecycle) build on it; desk.service
puts them together as `Desk`."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import Clock, SystemClock
from desk.actors import Actor
from desk.errors import (
    AlreadyClaimed,
    ConcurrentUpdate,
    InvalidInput,
    NotStaff,
    PermissionDenied,
    TicketNotFound,
)
from desk.models import (
    AuditEntry,
    Enterprise,
    Notification,
    Staff,
    Ticket,
    TicketPublic,
    profile_line,
)
from desk.states import (
    Audience,
    AuthorKind,
    RatingScore,
    TicketState,
    check_transition,
)
from desk.visibility import may_act, staff_scope
from desk.workcalendar import WorkCalendar
from knowledge.departments import resolve_department
from knowledge.models import KbDepartment

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)

MAX_TEXT = 4000
SYSTEM = "system"

_SCORE_ALIASES = {
    "满意": RatingScore.SATISFIED,
    "satisfied": RatingScore.SATISFIED,
    "3": RatingScore.SATISFIED,
    "基本满意": RatingScore.BASICALLY,
    "basically": RatingScore.BASICALLY,
    "2": RatingScore.BASICALLY,
    "不满意": RatingScore.UNSATISFIED,
    "unsatisfied": RatingScore.UNSATISFIED,
    "1": RatingScore.UNSATISFIED,
}


P = ParamSpec("P")
R = TypeVar("R")
D = TypeVar("D", bound="DeskBase")


def retry_on_conflict(
    fn: Callable[Concatenate[D, P], Awaitable[R]],
) -> Callable[Concatenate[D, P], Awaitable[R]]:
    """Re-run a whole unit of work (fresh read, fresh checks) when it lost an optimistic-lock race.

    Losing to an unrelated change (a scheduler warning, a message) should not bounce a person's action;
    losing to a conflicting one surfaces on the retry as the proper domain error (e.g. already resolved).
    """

    @functools.wraps(fn)
    async def wrapper(self: D, *args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(3):
            try:
                return await fn(self, *args, **kwargs)
            except AlreadyClaimed:
                raise
            except ConcurrentUpdate:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper




def parse_ticket_ref(ref: int | str) -> tuple[str, int | str]:
    """('id', 12) for '12' / 12, ('number', 'BC-20261122-0012') for a human number."""
    if isinstance(ref, int):
        return "id", ref
    text = str(ref).strip().upper()
    if text.isdigit():
        return "id", int(text)
    if text.startswith("#") and text[1:].isdigit():
        return "id", int(text[1:])
    return "number", text



class DeskBase:
    """State and shared helpers of the desk (see desk.service.Desk for the whole)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock | None = None,
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.cfg = settings.desk
        self.clock: Clock = clock or SystemClock()
        self.calendar = calendar or WorkCalendar.from_settings(settings)
        self._engine: AsyncEngine | None = None

    async def aclose(self) -> None:
        """Dispose the engine made by `open()` (no-op for an injected sessionmaker)."""
        if self._engine is not None:
            await self._engine.dispose()

    # ================================================================ plumbing
    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        """One unit of work; a lost optimistic-lock race becomes ConcurrentUpdate (nothing changed)."""
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except (StaleDataError, IntegrityError) as exc:
            # IntegrityError here means a unique row (rating of a round, credit code…) was written by a
            # concurrent request between our read and our write: same outcome as a lost version race.
            # The exception's text carries the statement's parameters (names, phones, credit codes):
            # log what kind of conflict it was, never the row.
            statement = " ".join(str(getattr(exc, "statement", "") or "").split()[:3])
            log.info("concurrent update: %s (%s)", type(exc).__name__, statement)
            raise ConcurrentUpdate() from exc

    @asynccontextmanager
    async def _staff_ticket_tx(self, ref: int | str, staff_tg_id: int) -> AsyncIterator[tuple[AsyncSession, Actor, Ticket]]:
        """One unit of work by a staff member on a ticket they may act on: (session, actor, ticket).

        Checked in this order, so the error says the first thing wrong: not staff, no such ticket, not theirs.
        """
        async with self._tx() as s:
            actor = await self._staff_actor(s, staff_tg_id)
            t = await self._ticket(s, ref)
            await self._require_act(s, actor, t)
            yield s, actor, t

    def now(self) -> datetime:
        return self.clock.now()

    def fmt(self, when: datetime | None) -> str:
        """Local wall time for Chinese messages."""
        return when.astimezone(self.calendar.tz).strftime("%Y-%m-%d %H:%M") if when else "—"

    async def _ticket(self, s: AsyncSession, ref: int | str) -> Ticket:
        kind, value = parse_ticket_ref(ref)
        stmt = select(Ticket).where(Ticket.id == value) if kind == "id" else select(Ticket).where(Ticket.number == value)
        ticket = (await s.exec(stmt)).first()
        if ticket is None:
            raise TicketNotFound(ref)
        return ticket

    async def _staff_by_tg(self, s: AsyncSession, tg_id: int | None) -> Staff:
        staff = None
        if tg_id is not None:
            staff = (await s.exec(select(Staff).where(Staff.tg_user_id == tg_id))).first()
        if staff is None or not staff.active:
            raise NotStaff(tg_id)
        return staff

    async def _staff_actor(self, s: AsyncSession, tg_id: int | None) -> Actor:
        staff = await self._staff_by_tg(s, tg_id)
        return Actor(AuthorKind.STAFF, staff.tg_user_id, staff.name, staff)

    async def _can_act(self, s: AsyncSession, staff: Staff, t: Ticket) -> bool:
        """The desk's permission check: desk.visibility.may_act (the SQL listings use its clause form)."""
        ent = await s.get(Enterprise, t.enterprise_id) if t.enterprise_id is not None else None
        return may_act(staff_scope(staff), t, ent.commissioner_id if ent is not None else None)

    async def _require_act(self, s: AsyncSession, actor: Actor, t: Ticket) -> None:
        assert actor.staff is not None
        if not await self._can_act(s, actor.staff, t):
            raise PermissionDenied(f"您（{actor.name}）不负责「{t.department or '未指定部门'}」，无权处理工单 {t.number}。")

    @staticmethod
    def _require_owner(t: Ticket, tg_id: int | None) -> None:
        if tg_id is None or t.requester_tg_id != tg_id:
            raise PermissionDenied(f"工单 {t.number} 不是您提交的，无法查看或操作。")

    def _audit(
        self, s: AsyncSession, t: Ticket | None, actor: Actor, action: str, from_state: str = "", to_state: str = "", reason: str = ""
    ) -> None:
        s.add(
            AuditEntry(
                ticket_id=t.id if t else None,
                actor_kind=actor.kind,
                actor_tg_id=actor.tg_id,
                actor_name=actor.name[:64],
                action=action,
                from_state=from_state,
                to_state=to_state,
                reason=reason,
                created_at=self.now(),
            )
        )

    def _transition(self, s: AsyncSession, t: Ticket, target: TicketState, actor: Actor, action: str, reason: str = "") -> None:
        """Check and apply a state change, with its audit row."""
        current = t.state
        check_transition(current, target)
        t.state = target.value
        t.updated_at = self.now()
        self._audit(s, t, actor, action, current, target.value, reason)

    async def _notify(self, s: AsyncSession, t: Ticket, audience: Audience, kind: str, **facts: Any) -> None:
        """Queue an outbox row of facts (kind + payload); the wording per channel is desk.notices'.

        Recipients: the requester, the assignee, or the leaders (the bot decides the chat). Every row
        carries the ticket's number, title and department; datetimes are stored as ISO timestamps.
        """
        recipient: int | None = None
        if audience == Audience.ENTERPRISE:
            recipient = t.requester_tg_id
        elif audience == Audience.STAFF and t.assignee_id is not None:
            assignee = await s.get(Staff, t.assignee_id)
            recipient = assignee.tg_user_id if assignee else None
        payload = {"number": t.number, "title": t.title, "department": t.department}
        payload.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()})
        s.add(
            Notification(
                ticket_id=t.id, audience=audience.value, recipient_tg_id=recipient, kind=kind, payload=payload,
                created_at=self.now(),
            )
        )

    def _text(self, value: str | None, what: str, max_len: int = MAX_TEXT, required: bool = True) -> str:
        text = (value or "").strip()
        if required and not text:
            raise InvalidInput(f"{what}不能为空。")
        if len(text) > max_len:
            raise InvalidInput(f"{what}过长（{len(text)} 字，最多 {max_len} 字）。")
        return text

    async def _public(self, s: AsyncSession, t: Ticket) -> TicketPublic:
        assignee = await s.get(Staff, t.assignee_id) if t.assignee_id else None
        ent = await s.get(Enterprise, t.enterprise_id) if t.enterprise_id else None
        data = t.model_dump()
        data.update(
            state_label=TicketState(t.state).label,
            assignee_name=assignee.name if assignee else "",
            assignee_tg_id=assignee.tg_user_id if assignee else None,
            enterprise_name=ent.name if ent else "",
            enterprise_profile=profile_line(ent) if ent else "",
            number=t.number or "",
            co_departments=list(t.co_departments),
        )
        return TicketPublic.model_validate(data)

    def _set_resolve_clock(self, t: Ticket, start: datetime, seconds: float | None = None) -> None:
        """Start (or restart after a pause) the resolve deadline and its warning point."""
        total = self.cfg.resolve_within_days * self.calendar.day_seconds
        remaining = total if seconds is None else seconds
        t.resolve_due_at = self.calendar.add_working_seconds(start, remaining)
        lead = (1 - self.cfg.warn_at_fraction) * total  # warn this much working time before the deadline
        t.resolve_warn_at = self.calendar.add_working_seconds(start, max(0.0, remaining - lead))


    async def _canonical_departments(self, s: AsyncSession, names: Iterable[str], what: str) -> list[str]:
        """Names as staff type them (市场监管局) → the directory's canonical departments, through the alias
        table retrieval uses; an unknown name is refused with the close ones. Without a directory
        (nothing ingested yet) names are kept as given."""
        names = list(names)
        rows = (await s.exec(select(KbDepartment))).all()
        if not rows or not names:
            return sorted(set(names))
        directory = {row.name: list(row.aliases or []) for row in rows}
        out: list[str] = []
        for name in names:
            canonical, close = resolve_department(name, directory)
            if canonical is None:
                hint = f"相近的部门：{'、'.join(close)}。" if close else "请使用服务联络簿中的部门全称或别名。"
                raise InvalidInput(f"{what}「{name}」不在服务联络簿中。{hint}")
            out.append(canonical)
        return sorted(set(out))

    async def _ticket_department(self, s: AsyncSession, name: str) -> str:
        """A new ticket's department in the directory's canonical name when it resolves (an alias, a name
        without the city prefix), so the commissioners covering it can take it; otherwise as given: an
        enterprise's ticket is never refused for its department's name (it waits in the pool and the
        leaders are told)."""
        if not name:
            return ""
        rows = (await s.exec(select(KbDepartment))).all()
        canonical, _close = resolve_department(name, {row.name: list(row.aliases or []) for row in rows})
        return canonical or name

    def _shown_name(self, actor: Actor) -> str:
        """The staff member's name as the enterprise may see it (telegram.show_staff_names), else ""."""
        return actor.name if self.settings.telegram.show_staff_names else ""

    async def _resume(self, s: AsyncSession, t: Ticket, actor: Actor, reason: str) -> None:
        now = self.now()
        self._transition(s, t, TicketState.IN_PROGRESS, actor, "resume", reason)
        if t.resolve_remaining_s is not None and not t.resolve_overdue:
            self._set_resolve_clock(t, now, t.resolve_remaining_s)
        t.paused_at, t.resolve_remaining_s = None, None
