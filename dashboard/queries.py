"""Read-only queries for the dashboard's pages (listings, counts, the ticket's history).

Nothing here changes data: every change goes through desk.service.Desk. Listings live here,
and not in the desk, because they are page-shaped (filters, paging, one round trip per page) and
the queue must stay fast at tens of thousands of tickets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import case, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import as_utc
from dashboard.deps import StaffUser
from desk import overdue
from desk.models import Enterprise, FollowUp, Notification, Staff, Ticket
from desk.states import STATE_LABELS, TicketState
from desk.visibility import StaffScope, json_list_contains, may_act_clause
from desk.workcalendar import WorkCalendar
from knowledge.models import KbDepartment

PAGE_SIZE = 50
# The running clock of a ticket (desk.overdue owns which states run which clock).
ACCEPT_CLOCK_STATES = frozenset(x.value for x in overdue.ACCEPT_CLOCK_STATES)
HANDLE_CLOCK_STATES = frozenset(x.value for x in overdue.HANDLE_CLOCK_STATES)
OPEN_STATE_VALUES = tuple(s.value for s in TicketState if s is not TicketState.CLOSED)


def visible_tickets(user: StaffUser) -> ColumnElement[bool]:
    """The tickets a staff member sees in the dashboard: those they may act on (desk.visibility)."""
    return may_act_clause(StaffScope(user.id, user.role.value, user.departments))


@dataclass(frozen=True)
class QueueFilters:
    state: str = ""  # "" = all open, "all", or a TicketState value
    department: str = ""
    assignee: str = ""  # "" any, "none" unassigned, "me", or a staff id
    overdue: bool = False
    page: int = 1

    def query_string(self, **changes: Any) -> str:

        values = {
            "state": self.state,
            "department": self.department,
            "assignee": self.assignee,
            "overdue": "1" if self.overdue else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == "1")})


@dataclass(frozen=True)
class TimeLeft:
    """Working time left to the deadline that currently runs, for display and colour."""

    label: str  # e.g. 受理剩余 / 办结剩余
    seconds: float | None  # negative when overdue; None when no clock runs
    level: str  # ok | warn | due | over | paused | none
    text: str


@dataclass(frozen=True)
class QueueRow:
    id: int
    number: str
    title: str
    enterprise: str
    department: str
    co_departments: list[str]
    reason: str
    state: str
    state_label: str
    assignee: str
    created_at: datetime
    accept_overdue: bool
    resolve_overdue: bool
    time_left: TimeLeft


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int


def format_working_seconds(seconds: float, day_seconds: float) -> str:
    """Working time in Chinese: 1 个工作日 3 小时 / 2 小时 15 分 / 40 分."""
    s = abs(seconds)
    days, rest = divmod(s, day_seconds)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts: list[str] = []
    if days:
        parts.append(f"{int(days)} 个工作日")
    if hours:
        parts.append(f"{int(hours)} 小时")
    if minutes and not days:
        parts.append(f"{int(minutes)} 分")
    return " ".join(parts) or "不足 1 分"


class WorkingSpan:
    """Working seconds between instants, for a page of rows at once.

    Same answer as WorkCalendar.working_seconds_between, but whole days inside a span are counted
    from a per-page memo of is_workday: a page of tickets that are months overdue would otherwise
    re-walk the calendar day by day for every row (hundreds of milliseconds at 10k tickets).
    Build one per request, so a changed holidays file is picked up by the next page.
    """

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.day_seconds = calendar.day_seconds
        self._workday: dict[date, bool] = {}

    def _is_workday(self, day: date) -> bool:
        known = self._workday.get(day)
        if known is None:
            known = self._workday[day] = self.calendar.is_workday(day)
        return known

    def between(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        tz = self.calendar.tz
        first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
        if (last - first).days <= 1:
            return self.calendar.working_seconds_between(start, end)
        after_first = datetime.combine(first + timedelta(days=1), dtime(0), tzinfo=tz)
        last_midnight = datetime.combine(last, dtime(0), tzinfo=tz)
        total = self.calendar.working_seconds_between(start, after_first)
        total += self.calendar.working_seconds_between(last_midnight, end)
        day = first + timedelta(days=1)
        while day < last:
            if self._is_workday(day):
                total += self.day_seconds
            day += timedelta(days=1)
        return total


def time_left(ticket: Any, now: datetime, span: WorkingSpan, warn_fraction: float) -> TimeLeft:
    """The running deadline of a ticket and how much working time is left on it."""
    state = ticket.state
    if ticket.accepted_at is None and state in ACCEPT_CLOCK_STATES:
        due, start, label = as_utc(ticket.accept_due_at), as_utc(ticket.created_at), "受理"
    elif state in HANDLE_CLOCK_STATES:
        due, start, label = as_utc(ticket.resolve_due_at), as_utc(ticket.accepted_at), "办结"
    elif state == TicketState.WAITING_ENTERPRISE.value:
        remaining = getattr(ticket, "resolve_remaining_s", None)  # not on TicketPublic
        text = "计时暂停（待企业补充）"
        if remaining is not None:
            text += "，剩余 " + format_working_seconds(remaining, span.day_seconds)
        return TimeLeft("办结", remaining, "paused", text)
    else:
        return TimeLeft("", None, "none", "—")
    if due is None:
        return TimeLeft(label, None, "none", "—")
    if due <= now:
        over = span.between(due, now)
        overdue_name = "接收超期" if label == "受理" else "处置超期"  # the programme's own terms
        return TimeLeft(
            label, -over, "over", f"{overdue_name} " + format_working_seconds(over, span.day_seconds)
        )
    left = span.between(now, due)
    level = "ok"
    if start is not None:
        allowed = span.between(start, due)
        if allowed > 0 and left <= allowed * (1 - warn_fraction):
            level = "warn"
    if left <= 3600:
        level = "due"
    return TimeLeft(label, left, level, f"{label}剩余 " + format_working_seconds(left, span.day_seconds))


def _due_expr() -> ColumnElement[Any]:
    return case(
        (col(Ticket.accepted_at).is_(None), col(Ticket.accept_due_at)), else_=col(Ticket.resolve_due_at)
    )


def _filter_clauses(user: StaffUser, f: QueueFilters, now: datetime) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [visible_tickets(user)]
    if f.state == "all":
        pass
    elif f.state:
        clauses.append(col(Ticket.state) == f.state)
    else:
        clauses.append(col(Ticket.state).in_(OPEN_STATE_VALUES))
    if f.department:
        clauses.append(
            or_(
                col(Ticket.department) == f.department,
                json_list_contains(Ticket.co_departments, f.department),
            )
        )
    if f.assignee == "none":
        clauses.append(col(Ticket.assignee_id).is_(None))
    elif f.assignee == "me":
        clauses.append(col(Ticket.assignee_id) == user.id)
    elif f.assignee.isdigit():
        clauses.append(col(Ticket.assignee_id) == int(f.assignee))
    if f.overdue:
        clauses.append(overdue.overdue_clause(now))
    return clauses


# Only what a listing shows: description and transcript (up to 20k characters each) stay in the database.
def _listing_select() -> Any:
    return (
        sa_select(
            col(Ticket.id),
            col(Ticket.number),
            col(Ticket.title),
            col(Ticket.requester_name),
            col(Ticket.department),
            col(Ticket.co_departments),
            col(Ticket.reason),
            col(Ticket.state),
            col(Ticket.created_at),
            col(Ticket.accepted_at),
            col(Ticket.accept_due_at),
            col(Ticket.resolve_due_at),
            col(Ticket.resolve_remaining_s),
            col(Ticket.accept_overdue),
            col(Ticket.resolve_overdue),
            col(Enterprise.name).label("enterprise_name"),
            col(Staff.name).label("assignee_name"),
        )
        .outerjoin(Enterprise, col(Enterprise.id) == col(Ticket.enterprise_id))
        .outerjoin(Staff, col(Staff.id) == col(Ticket.assignee_id))
    )


def _queue_row(r: Any, now: datetime, span: WorkingSpan, warn_fraction: float) -> QueueRow:
    return QueueRow(
        id=r.id,
        number=r.number or str(r.id),
        title=r.title,
        enterprise=r.enterprise_name or r.requester_name or "",
        department=r.department,
        co_departments=list(r.co_departments or []),
        reason=r.reason,
        state=r.state,
        state_label=state_label(r.state),
        assignee=r.assignee_name or "",
        created_at=r.created_at,
        accept_overdue=overdue.accept_late(r, now),
        resolve_overdue=overdue.handle_late(r, now),
        time_left=time_left(r, now, span, warn_fraction),
    )


async def queue_page(
    session: AsyncSession,
    user: StaffUser,
    f: QueueFilters,
    *,
    now: datetime,
    calendar: WorkCalendar,
    warn_fraction: float,
) -> QueuePage:
    """One page of the queue, most urgent deadline first."""
    clauses = _filter_clauses(user, f, now)
    total = (await session.exec(select(func.count()).select_from(Ticket).where(*clauses))).one()
    pages = max(1, -(-int(total) // PAGE_SIZE))
    page = min(max(1, f.page), pages)
    stmt = (
        _listing_select()
        .where(*clauses)
        .order_by(_due_expr().is_(None), _due_expr(), col(Ticket.id))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    span = WorkingSpan(calendar)
    rows = [_queue_row(r, now, span, warn_fraction) for r in (await session.execute(stmt)).all()]
    return QueuePage(rows=rows, total=int(total), page=page, pages=pages)


def state_label(state: str) -> str:
    try:
        return STATE_LABELS[TicketState(state)]
    except ValueError:
        return state


_DEPT_CACHE: dict[int, tuple[float, list[str]]] = {}
_DEPT_CACHE_S = 60.0


async def _ticket_departments(session: AsyncSession) -> list[str]:
    """Distinct ticket departments (a scan of the ticket table), remembered for a minute per database."""

    key = id(session.bind)
    hit = _DEPT_CACHE.get(key)
    if hit is not None and time.monotonic() - hit[0] < _DEPT_CACHE_S:
        return hit[1]
    rows = (await session.exec(select(Ticket.department).distinct().order_by(Ticket.department))).all()
    departments = [d for d in rows if d]
    _DEPT_CACHE[key] = (time.monotonic(), departments)
    return departments


async def filter_options(session: AsyncSession, user: StaffUser) -> tuple[list[str], list[tuple[int, str]]]:
    """Departments and commissioners offered in the queue's filters (only what the user may see)."""
    if user.is_leader:
        departments = await _ticket_departments(session)
    else:
        departments = sorted(user.departments)
    staff_rows: Sequence[Staff] = (
        await session.exec(
            select(Staff).where(col(Staff.active), col(Staff.role) != "admin").order_by(Staff.name)
        )
    ).all()
    people = [
        (s.id or 0, s.name)
        for s in staff_rows
        if user.is_leader or set(s.departments or []).intersection(user.departments) or s.id == user.id
    ]
    return departments, people


@dataclass(frozen=True)
class OverdueDept:
    department: str
    accept_overdue: int
    handle_overdue: int

    @property
    def total(self) -> int:
        return self.accept_overdue + self.handle_overdue


async def overdue_board(
    session: AsyncSession, user: StaffUser, *, now: datetime, calendar: WorkCalendar, warn_fraction: float
) -> tuple[list[OverdueDept], list[QueueRow]]:
    """督办: open tickets overdue on acceptance (接收超期) or handling (处置超期), per department, worst first."""
    acc, han = overdue.accept_late_clause(now), overdue.handle_late_clause(now)
    base = [visible_tickets(user), col(Ticket.state).in_(OPEN_STATE_VALUES), or_(acc, han)]
    acc_n = func.sum(case((acc, 1), else_=0))
    han_n = func.sum(case((han, 1), else_=0))
    stmt = (
        select(Ticket.department, acc_n, han_n)
        .where(*base)
        .group_by(col(Ticket.department))
        .order_by((acc_n + han_n).desc(), han_n.desc(), col(Ticket.department))
    )
    depts = [
        OverdueDept(d or "未指定部门", int(a or 0), int(h or 0))
        for d, a, h in (await session.exec(stmt)).all()
    ]
    listing = (
        _listing_select().where(*base).order_by(_due_expr().is_(None), _due_expr(), col(Ticket.id)).limit(200)
    )
    span = WorkingSpan(calendar)
    rows = [_queue_row(r, now, span, warn_fraction) for r in (await session.execute(listing)).all()]
    return depts, rows


async def enterprise_outbox(session: AsyncSession, ticket_id: int) -> list[Notification]:
    """What the desk queued for the enterprise on this ticket, with delivery state (sent_at/attempts)."""
    stmt = (
        select(Notification)
        .where(Notification.ticket_id == ticket_id, Notification.audience == "enterprise")
        .order_by(col(Notification.id))
    )
    return list((await session.exec(stmt)).all())


async def known_departments(session: AsyncSession) -> list[str]:
    """Department names for the co-handling picker: the directory's departments and those on tickets."""

    names = set((await session.exec(select(KbDepartment.name))).all())
    names.update(await _ticket_departments(session))
    return sorted(n for n in names if n)


async def assignable_staff(session: AsyncSession) -> list[tuple[int, str, list[str]]]:
    """Active commissioners and leaders a leader can hand a ticket to: (tg id, name, departments)."""
    rows = (
        await session.exec(
            select(Staff)
            .where(col(Staff.active), col(Staff.role).in_(("commissioner", "leader")))
            .order_by(Staff.name)
        )
    ).all()
    return [(s.tg_user_id, s.name, list(s.departments or [])) for s in rows]


@dataclass
class FollowUpRow:
    """A 回访 task with its ticket, for the 回访 list."""

    id: int
    ticket_id: int
    number: str
    title: str
    department: str
    due_at: datetime
    done_at: datetime | None
    note: str
    overdue: bool


async def followup_tasks(session: AsyncSession, user: StaffUser, *, now: datetime, open_only: bool = True,
                         limit: int = 200) -> list[FollowUpRow]:
    """回访 tasks on the tickets this person may act on: open ones by deadline (done ones, newest first)."""
    stmt = (
        select(FollowUp, Ticket.number, Ticket.title, Ticket.department)
        .join(Ticket, col(FollowUp.ticket_id) == col(Ticket.id))
        .where(visible_tickets(user))
    )
    if open_only:
        stmt = stmt.where(col(FollowUp.done_at).is_(None)).order_by(col(FollowUp.due_at), col(FollowUp.id))
    else:
        stmt = stmt.order_by(col(FollowUp.done_at).desc(), col(FollowUp.id).desc())
    rows = (await session.exec(stmt.limit(limit))).all()
    out = []
    for fu, number, title, department in rows:
        assert fu.id is not None
        due = as_utc(fu.due_at)
        assert due is not None  # a 回访 task always has a deadline
        out.append(FollowUpRow(fu.id, fu.ticket_id, number or "", title, department, due, fu.done_at, fu.note,
                               fu.done_at is None and due <= now))
    return out


async def ticket_followups(session: AsyncSession, ticket_id: int) -> list[FollowUp]:
    return list((await session.exec(
        select(FollowUp).where(FollowUp.ticket_id == ticket_id).order_by(col(FollowUp.id)))).all())


async def bulk_targets(session: AsyncSession, user: StaffUser) -> list[tuple[int, str]]:
    """Whom the queue's bulk 转交 offers: a leader, every commissioner and leader (交办); a commissioner,
    the other commissioners who share a department with them (the desk checks each ticket)."""
    rows = (await session.exec(
        select(Staff).where(col(Staff.active), col(Staff.role).in_(("commissioner", "leader"))).order_by(Staff.name)
    )).all()
    mine = set(user.departments)
    return [
        (x.tg_user_id, x.name) for x in rows
        if x.tg_user_id != user.tg_user_id
        and (user.is_leader or (x.role == "commissioner" and mine & set(x.departments or [])))
    ]
