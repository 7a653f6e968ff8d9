"""One scheduler tick: warn before deadlines, escalate after them, remind raters, auto-close unrated.

Everything it needs is in the database (due/warn instants and flags on each row), so a restarted
bot just calls `run_due` again and catches up; running it twice for the same instant changes nothing.
The bot calls it from PTB's JobQueue every `desk.scheduler_interval_s`; `zhitong desk tick` runs it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_
from sqlmodel import col, select

from bot.clock import ensure_utc
from bot.desk.errors import ConcurrentUpdate
from bot.desk.states import Audience, TicketState
from bot.models import FollowUp, Ticket

if TYPE_CHECKING:
    from bot.desk.service import Desk

log = logging.getLogger(__name__)

_RUNNING = [TicketState.ASSIGNED.value, TicketState.IN_PROGRESS.value, TicketState.ESCALATED.value, TicketState.REOPENED.value]


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
    conflicts: int = 0
    touched: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            self.warned + self.accept_overdue + self.resolve_overdue + self.rating_reminders + self.auto_closed
            + self.followups_warned + self.followups_overdue
        )


async def run_due(desk: Desk, now: datetime | None = None) -> TickResult:
    """Process every ticket and follow-up that has something due at `now` (default: the desk's clock)."""
    from bot.desk.service import SYSTEM_ACTOR

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
                    await desk._notify(s, t, Audience.STAFF, "followup_warn", f"【提醒】工单 {t.number} 的回访将于 {desk.fmt(fu.due_at)} 到期。")
                if not fu.overdue and fu.due_at <= now:
                    fu.overdue = fu.warned = True
                    result.followups_overdue += 1
                    desk._audit(s, t, SYSTEM_ACTOR, "followup_overdue", t.state, t.state, f"回访时限 {desk.fmt(fu.due_at)}")
                    await desk._notify(s, t, Audience.LEADERS, "followup_overdue", f"【督办】工单 {t.number} 的回访已超期（时限 {desk.fmt(fu.due_at)}）。")
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
            await desk._escalate(s, t, system, "escalate_overdue", f"超过受理时限 {fmt(t.accept_due_at)}（接收超期）")
        elif not t.accept_warned and t.accept_warn_at is not None and t.accept_warn_at <= now:
            t.accept_warned = True
            result.warned += 1
            desk._audit(s, t, system, "accept_warn", t.state, t.state, f"受理时限 {fmt(t.accept_due_at)}")
            await desk._notify(s, t, Audience.STAFF, "accept_warn", f"【提醒】工单 {t.number} 将于 {fmt(t.accept_due_at)} 接收超期，请尽快认领。")
    elif t.state in _RUNNING:
        if t.resolve_escalated_at is None and t.resolve_due_at is not None and t.resolve_due_at <= now:
            t.resolve_escalated_at = now
            t.resolve_warned = True
            if not t.resolve_overdue:
                t.resolve_overdue = True
                desk._audit(s, t, system, "resolve_overdue", reason=f"办结时限 {fmt(t.resolve_due_at)}")
            result.resolve_overdue += 1
            await desk._escalate(s, t, system, "escalate_overdue", f"超过办结时限 {fmt(t.resolve_due_at)}（处置超期）")
            await desk._notify(s, t, Audience.STAFF, "resolve_overdue", f"工单 {t.number} 已处置超期，已报领导督办。")
        elif not t.resolve_warned and t.resolve_warn_at is not None and t.resolve_warn_at <= now:
            t.resolve_warned = True
            result.warned += 1
            desk._audit(s, t, system, "resolve_warn", t.state, t.state, f"办结时限 {fmt(t.resolve_due_at)}")
            await desk._notify(s, t, Audience.STAFF, "resolve_warn", f"【提醒】工单 {t.number} 将于 {fmt(t.resolve_due_at)} 到达办结时限。")
    elif t.state == TicketState.RESOLVED:
        if t.rating_due_at is not None and t.rating_due_at <= now:
            desk._transition(s, t, TicketState.CLOSED, system, "auto_close", "超过评价期限未评价，按「未评价」销号")
            t.closed_at, t.close_reason = now, "unrated"
            result.auto_closed += 1
            await desk._notify(s, t, Audience.ENTERPRISE, "closed_unrated", f"工单 {t.number} 超过评价期限，已按「未评价」销号。如问题仍未解决，可重新反映。")
        elif not t.rating_reminded and t.rating_remind_at is not None and t.rating_remind_at <= now:
            t.rating_reminded = True
            result.rating_reminders += 1
            desk._audit(s, t, system, "rating_reminder", t.state, t.state, "")
            await desk._notify(s, t, Audience.ENTERPRISE, "rating_reminder", f"工单 {t.number} 已办结，请您评价：满意 / 基本满意 / 不满意。{fmt(t.rating_due_at)} 前未评价将自动销号。")
    if t.number:
        result.touched.append(t.number)
