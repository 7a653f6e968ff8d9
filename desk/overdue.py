"""When an open ticket is overdue — one rule, in its Python and its SQL form side by side.

Two clocks (the programme's own terms): 接收超期, the acceptance deadline passed while nobody accepted the
ticket (it is new, or escalated before anyone accepted it); 处置超期, the handling deadline passed while
it is being handled (assigned, in progress, escalated, reopened; the clock pauses while the desk waits
for the enterprise, so waiting tickets are never late by it). A ticket is also overdue when the
scheduler has *recorded* it late (`accept_overdue` / `resolve_overdue`, kept for the monthly report) and
it is still unfinished. Resolved tickets (waiting for the rating) and closed ones are never overdue: the
work is done; the report still counts their recorded lateness.

The bot's /overdue, the dashboard's queue filter, its 督办 board and its ticket page all ask this module,
so none of them can disagree with another (a ticket page once showed only 接收超期 while its clock said
处置超期). tests/desk/test_overdue.py checks the two forms agree on generated tickets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from core.clock import as_utc
from desk.models import Ticket
from desk.states import TicketState

S = TicketState
# The acceptance clock runs until someone accepts; the handling clock from acceptance until resolved.
ACCEPT_CLOCK_STATES = frozenset({S.NEW, S.ESCALATED})
HANDLE_CLOCK_STATES = frozenset({S.ASSIGNED, S.IN_PROGRESS, S.ESCALATED, S.REOPENED})
UNFINISHED_STATES = frozenset(set(S) - {S.RESOLVED, S.CLOSED})


class TicketClock(Protocol):
    """What the rule reads of a ticket (a Ticket row, a TicketPublic, a listing row)."""

    state: Any
    accepted_at: datetime | None
    accept_due_at: datetime | None
    resolve_due_at: datetime | None
    accept_overdue: bool
    resolve_overdue: bool


def _past(due: datetime | None, now: datetime) -> bool:
    due_utc = as_utc(due)
    return due_utc is not None and due_utc < now


def accept_late(t: TicketClock, now: datetime) -> bool:
    """接收超期 now: not accepted, on the acceptance clock, deadline passed (or recorded so, still open)."""
    if S(t.state) not in UNFINISHED_STATES:
        return False
    running = t.accepted_at is None and S(t.state) in ACCEPT_CLOCK_STATES and _past(t.accept_due_at, now)
    return bool(t.accept_overdue) or running


def handle_late(t: TicketClock, now: datetime) -> bool:
    """处置超期 now: accepted, on the handling clock, deadline passed (or recorded so, still open)."""
    if S(t.state) not in UNFINISHED_STATES:
        return False
    running = t.accepted_at is not None and S(t.state) in HANDLE_CLOCK_STATES and _past(t.resolve_due_at, now)
    return bool(t.resolve_overdue) or running


def is_overdue(t: TicketClock, now: datetime) -> bool:
    return accept_late(t, now) or handle_late(t, now)


def _values(states: frozenset[TicketState]) -> list[str]:
    return sorted(s.value for s in states)


def accept_late_clause(now: datetime) -> ColumnElement[bool]:
    """SQL form of `accept_late`."""
    running = and_(
        col(Ticket.accepted_at).is_(None),
        col(Ticket.state).in_(_values(ACCEPT_CLOCK_STATES)),
        col(Ticket.accept_due_at) < now,
    )
    return and_(col(Ticket.state).in_(_values(UNFINISHED_STATES)), or_(col(Ticket.accept_overdue), running))


def handle_late_clause(now: datetime) -> ColumnElement[bool]:
    """SQL form of `handle_late`."""
    running = and_(
        col(Ticket.accepted_at).is_not(None),
        col(Ticket.state).in_(_values(HANDLE_CLOCK_STATES)),
        col(Ticket.resolve_due_at) < now,
    )
    return and_(col(Ticket.state).in_(_values(UNFINISHED_STATES)), or_(col(Ticket.resolve_overdue), running))


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL form of `is_overdue`."""
    return or_(accept_late_clause(now), handle_late_clause(now))
