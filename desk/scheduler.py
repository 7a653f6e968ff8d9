"""One scheduler tick: warn before deadlines, escalate after them, remind raters, auto-close unrated,
and chase tickets that wait for the enterprise too long.

Everything it needs is in the database (due/warn instants and flags on each row), so a restarted
bot just calls `run_due` again and catches up; running it twice for the same instant changes nothing.
The bot calls it from PTB's JobQueue every `desk.scheduler_interval_s`; `zhitong desk tick` runs it once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import as_utc, ensure_utc
from desk.actors import SYSTEM_ACTOR, Actor
from desk.errors import ConcurrentUpdate
from desk.models import AuditEntry, FollowUp, Ticket
from desk.overdue import HANDLE_CLOCK_STATES
from desk.states import Audience, TicketState

if TYPE_CHECKING:
    from desk.service import Desk

log = logging.getLogger(__name__)

_RUNNING = sorted(s.value for s in HANDLE_CLOCK_STATES)  # the handling clock runs (desk.overdue)


@dataclass
class TickResult:
    """What one tick did (counts), for logs and tests."""

    warned: int = 0
    accept_overdue: int = 0
    resolve_overdue: int = 0
    rating_reminders: int = 0
    auto_closed: int = 0
    followups_warned: int = 0
    followups_overdue: int = 0
    waiting_reminders: int = 0
    waiting_giveups: int = 0
    conflicts: int = 0
    touched: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            self.warned + self.accept_overdue + self.resolve_overdue + self.rating_reminders + self.auto_closed
            + self.followups_warned + self.followups_overdue + self.waiting_reminders + self.waiting_giveups
        )


async def run_due(desk: Desk, now: datetime | None = None) -> TickResult:
    """Process every ticket and follow-up that has something due at `now` (default: the desk's clock)."""

    now = ensure_utc(now) if now is not None else desk.clock.now()
    result = TickResult()
    async with desk.sessions() as s:
        due_ids = (
            await s.exec(
                select(Ticket.id)
                .where(
                    or_(
                        and_(col(Ticket.state) == TicketState.NEW.value, or_(
                            and_(col(Ticket.accept_warned) == False, col(Ticket.accept_warn_at) <= now),  # noqa: E712
                            and_(col(Ticket.accept_overdue) == False, col(Ticket.accept_due_at) <= now),  # noqa: E712
                        )),
                        and_(col(Ticket.state).in_(_RUNNING), or_(
                            and_(col(Ticket.resolve_warned) == False, col(Ticket.resolve_warn_at) <= now),  # noqa: E712
                            and_(col(Ticket.resolve_escalated_at).is_(None), col(Ticket.resolve_due_at) <= now),
                        )),
                        and_(col(Ticket.state) == TicketState.RESOLVED.value, or_(
                            and_(col(Ticket.rating_reminded) == False, col(Ticket.rating_remind_at) <= now),  # noqa: E712
                            col(Ticket.rating_due_at) <= now,
                        )),
                    )
                )
                .order_by(col(Ticket.id))
            )
        ).all()
        due_ids = sorted({*due_ids, *await _waiting_due_ids(desk, s, now)})
        followup_ids = (
            await s.exec(
                select(FollowUp.id).where(
                    col(FollowUp.done_at).is_(None),
                    or_(
                        and_(col(FollowUp.warned) == False, col(FollowUp.warn_at) <= now),  # noqa: E712
                        and_(col(FollowUp.overdue) == False, col(FollowUp.due_at) <= now),  # noqa: E712
                    ),
                )
            )
        ).all()

    for ticket_id in due_ids:
        # One transaction per ticket: a conflict with a person acting on it right now only defers that
        # ticket to the next tick.
        try:
            async with desk._tx() as s:
                t = await s.get(Ticket, ticket_id)
                if t is None:
                    continue
                await _process_ticket(desk, s, t, now, result, SYSTEM_ACTOR)
        except ConcurrentUpdate:
            result.conflicts += 1
    for followup_id in followup_ids:
        try:
            async with desk._tx() as s:
                fu = await s.get(FollowUp, followup_id)
                if fu is None or fu.done_at is not None:
                    continue
                t = await s.get(Ticket, fu.ticket_id)
                assert t is not None
                if not fu.warned and fu.warn_at is not None and fu.warn_at <= now and fu.due_at > now:
                    fu.warned = True
                    result.followups_warned += 1
                    desk._audit(s, t, SYSTEM_ACTOR, "followup_warn", t.state, t.state, f"回访时限 {desk.fmt(fu.due_at)}")
                    await desk._notify(s, t, Audience.STAFF, "followup_warn", followup_due_at=fu.due_at)
                if not fu.overdue and fu.due_at <= now:
                    fu.overdue = fu.warned = True
                    result.followups_overdue += 1
                    desk._audit(s, t, SYSTEM_ACTOR, "followup_overdue", t.state, t.state, f"回访时限 {desk.fmt(fu.due_at)}")
                    await desk._notify(s, t, Audience.LEADERS, "followup_overdue", followup_due_at=fu.due_at)
                # FollowUp has no version column: the flags are only ever set, so a repeat is harmless.
        except ConcurrentUpdate:
            result.conflicts += 1
    if result.total:
        log.info("desk tick at %s: %s", now.isoformat(), result)
    return result


async def _process_ticket(desk: Desk, s, t: Ticket, now: datetime, result: TickResult, system) -> None:  # type: ignore[no-untyped-def]
    fmt = desk.fmt
    if t.state == TicketState.NEW:
        if not t.accept_overdue and t.accept_due_at is not None and t.accept_due_at <= now:
            t.accept_overdue = t.accept_warned = True
            result.accept_overdue += 1
            desk._audit(s, t, system, "accept_overdue", reason=f"受理时限 {fmt(t.accept_due_at)}")
            await desk._escalate(s, t, system, "escalate_overdue", f"超过受理时限 {fmt(t.accept_due_at)}（接收超期）",
                                 overdue="accept", due_at=t.accept_due_at)
        elif not t.accept_warned and t.accept_warn_at is not None and t.accept_warn_at <= now:
            t.accept_warned = True
            result.warned += 1
            desk._audit(s, t, system, "accept_warn", t.state, t.state, f"受理时限 {fmt(t.accept_due_at)}")
            await desk._notify(s, t, Audience.STAFF, "accept_warn", accept_due_at=t.accept_due_at)
    elif t.state in _RUNNING:
        if t.resolve_escalated_at is None and t.resolve_due_at is not None and t.resolve_due_at <= now:
            t.resolve_escalated_at = now
            t.resolve_warned = True
            if not t.resolve_overdue:
                t.resolve_overdue = True
                desk._audit(s, t, system, "resolve_overdue", reason=f"办结时限 {fmt(t.resolve_due_at)}")
            result.resolve_overdue += 1
            await desk._escalate(s, t, system, "escalate_overdue", f"超过办结时限 {fmt(t.resolve_due_at)}（处置超期）",
                                 overdue="resolve", due_at=t.resolve_due_at)
            await desk._notify(s, t, Audience.STAFF, "resolve_overdue")
        elif not t.resolve_warned and t.resolve_warn_at is not None and t.resolve_warn_at <= now:
            t.resolve_warned = True
            result.warned += 1
            desk._audit(s, t, system, "resolve_warn", t.state, t.state, f"办结时限 {fmt(t.resolve_due_at)}")
            await desk._notify(s, t, Audience.STAFF, "resolve_warn", resolve_due_at=t.resolve_due_at)
    elif t.state == TicketState.RESOLVED:
        if t.rating_due_at is not None and t.rating_due_at <= now:
            desk._transition(s, t, TicketState.CLOSED, system, "auto_close", "超过评价期限未评价，按「未评价」销号")
            t.closed_at, t.close_reason = now, "unrated"
            await desk.close_followups(s, t, system, "超过评价期限未评价")
            result.auto_closed += 1
            await desk._notify(s, t, Audience.ENTERPRISE, "closed_unrated")
        elif not t.rating_reminded and t.rating_remind_at is not None and t.rating_remind_at <= now:
            t.rating_reminded = True
            result.rating_reminders += 1
            desk._audit(s, t, system, "rating_reminder", t.state, t.state, "")
            await desk._notify(s, t, Audience.ENTERPRISE, "rating_reminder", rating_due_at=t.rating_due_at)
    elif t.state == TicketState.WAITING_ENTERPRISE:
        await _chase_waiting(desk, s, t, now, result, system)
    if t.number:
        result.touched.append(t.number)


# ---------------------------------------------------------------- waiting for the enterprise
# What a waiting period has seen is read back from the audit trail instead of flags on the ticket: the
# tables have no migrations, and the trail already marks where each period starts (the `wait_enterprise`
# row, which carries what was asked). A period ends when the ticket leaves waiting_enterprise (enterprise
# answers, staff resume, escalation, resolution), so re-entering it starts with a clean slate.
_WAIT_STARTED = "wait_enterprise"
_WAIT_REMINDED = "waiting_reminder"
_WAIT_GAVE_UP = "waiting_giveup"


@dataclass(frozen=True)
class WaitingPeriod:
    """The current waiting_enterprise period of one ticket."""

    asked: str  # what the commissioner asked the enterprise for
    reminded: bool = False
    gave_up: bool = False


async def waiting_periods(s: AsyncSession, ticket_ids: Iterable[int]) -> dict[int, WaitingPeriod]:
    """The latest waiting period of each ticket, from its audit rows (in id order: the commit order)."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    rows = (
        await s.exec(
            select(AuditEntry)
            .where(
                col(AuditEntry.ticket_id).in_(ids),
                col(AuditEntry.action).in_([_WAIT_STARTED, _WAIT_REMINDED, _WAIT_GAVE_UP]),
            )
            .order_by(col(AuditEntry.id))
        )
    ).all()
    periods: dict[int, WaitingPeriod] = {}
    for row in rows:
        assert row.ticket_id is not None
        if row.action == _WAIT_STARTED:
            periods[row.ticket_id] = WaitingPeriod(asked=row.reason)
        elif row.ticket_id in periods:
            seen = periods[row.ticket_id]
            periods[row.ticket_id] = replace(seen, reminded=True) if row.action == _WAIT_REMINDED else replace(seen, gave_up=True)
    return periods


def _give_up_at(desk: Desk, paused_at: datetime) -> datetime:
    return desk.calendar.add_working_days(paused_at, desk.cfg.waiting_giveup_after_days)


def _waiting_step_due(desk: Desk, paused_at: datetime, period: WaitingPeriod, now: datetime) -> bool:
    """True when this period's reminder or give-up notice is due and not yet sent (working days on the calendar)."""
    if not period.reminded and desk.calendar.add_working_days(paused_at, desk.cfg.waiting_reminder_after_days) <= now:
        return True
    return not period.gave_up and _give_up_at(desk, paused_at) <= now


async def _waiting_due_ids(desk: Desk, s: AsyncSession, now: datetime) -> list[int]:
    """Waiting tickets with a reminder or give-up notice due (working days can't be compared in SQL)."""
    waiting = (
        await s.exec(
            select(Ticket.id, Ticket.paused_at).where(
                col(Ticket.state) == TicketState.WAITING_ENTERPRISE.value, col(Ticket.paused_at).is_not(None)
            )
        )
    ).all()
    # Plain column rows skip the ORM's load hook, so SQLite's naive datetimes are made UTC here.
    paused: dict[int, datetime] = {}
    for ticket_id, at in waiting:
        paused_at = as_utc(at)
        if ticket_id is not None and paused_at is not None:
            paused[ticket_id] = paused_at
    periods = await waiting_periods(s, paused)
    return [
        ticket_id
        for ticket_id, paused_at in paused.items()
        if ticket_id in periods and _waiting_step_due(desk, paused_at, periods[ticket_id], now)
    ]


async def _chase_waiting(desk: Desk, s: AsyncSession, t: Ticket, now: datetime, result: TickResult, system: Actor) -> None:
    """Remind both sides once, then ask the commissioner to decide; each step once per waiting period."""
    assert t.id is not None
    period = (await waiting_periods(s, [t.id])).get(t.id)
    if t.paused_at is None or period is None or not _waiting_step_due(desk, t.paused_at, period, now):
        return
    cfg = desk.cfg
    give_up_at = _give_up_at(desk, t.paused_at)
    asked = period.asked or "（未注明）"
    # The audit rows are inserts, which never conflict; touching the row makes two schedulers ticking at once
    # race on the ticket's version, so only one of them sends the notices.
    flag_modified(t, "paused_at")
    if not period.reminded:
        result.waiting_reminders += 1
        desk._audit(s, t, system, _WAIT_REMINDED, t.state, t.state, f"等待企业补充满 {cfg.waiting_reminder_after_days} 个工作日")
        await desk._notify(s, t, Audience.ENTERPRISE, _WAIT_REMINDED, asked=asked)
        if give_up_at > now:
            # When the give-up point has passed too (bot down, or configured no later than the reminder), its
            # notice below tells the staff more; one message instead of two.
            await desk._notify(s, t, Audience.STAFF, _WAIT_REMINDED, asked=asked, paused_at=t.paused_at,
                               days=cfg.waiting_reminder_after_days)
    if not period.gave_up and give_up_at <= now:
        # Not closed automatically, unlike an unrated resolved ticket: that one was handled and only the
        # grade is missing, while this one never got what it needs, and closing it unsolved is a judgement
        # (phone them? resolve with what we have?) the state machine leaves to a person — waiting_enterprise
        # cannot go to closed. So the commissioner is asked to decide, and the leaders see that it stalls.
        result.waiting_giveups += 1
        desk._audit(s, t, system, _WAIT_GAVE_UP, t.state, t.state, f"等待企业补充满 {cfg.waiting_giveup_after_days} 个工作日")
        await desk._notify(s, t, Audience.STAFF, _WAIT_GAVE_UP, asked=asked, paused_at=t.paused_at,
                           days=cfg.waiting_giveup_after_days)
        await desk._notify(s, t, Audience.LEADERS, _WAIT_GAVE_UP, days=cfg.waiting_giveup_after_days)
