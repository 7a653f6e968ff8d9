"""When a ticket is overdue has one Python and one SQL form; on generated tickets (every state, clock,
recorded flag) they agree (SQLite and PostgreSQL), and the cases the programme names come out right."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlmodel import select

from desk.models import Ticket
from desk.overdue import (
    accept_late,
    accept_late_clause,
    handle_late,
    handle_late_clause,
    is_overdue,
    overdue_clause,
)
from desk.service import Desk
from desk.states import TicketState


async def test_python_and_sql_forms_agree(desk: Desk) -> None:
    rng = random.Random(7)
    now = desk.now()
    hour = timedelta(hours=1)
    async with desk.sessions() as s, s.begin():
        for i in range(300):
            accepted = rng.random() < 0.6
            s.add(Ticket(
                number=f"BC-20261202-{i:04d}", title="t", department="市场监管局", reason="其他",
                state=rng.choice(list(TicketState)).value,
                accepted_at=now - 5 * hour if accepted else None,
                accept_due_at=now + rng.choice([-2, -1, 1, 2]) * hour,
                resolve_due_at=(now + rng.choice([-2, 1]) * hour) if accepted and rng.random() < 0.9 else None,
                accept_overdue=rng.random() < 0.15, resolve_overdue=rng.random() < 0.15,
            ))
    async with desk.sessions() as s:
        tickets = list((await s.exec(select(Ticket))).all())
        for python_form, sql_form in ((accept_late, accept_late_clause), (handle_late, handle_late_clause),
                                      (is_overdue, overdue_clause)):
            by_python = {t.id for t in tickets if python_form(t, now)}
            by_sql = set((await s.exec(select(Ticket.id).where(sql_form(now)))).all())
            assert by_python == by_sql, python_form.__name__
            assert 0 < len(by_sql) < len(tickets)


def _ticket(state: TicketState, **kw: object) -> Ticket:
    return Ticket(title="t", department="d", reason="其他", state=state.value, **kw)  # type: ignore[arg-type]


def test_the_named_cases(desk: Desk) -> None:
    now = desk.now()
    past, future = now - timedelta(hours=1), now + timedelta(hours=1)
    # Accepted and past the handling deadline: 处置超期, even before the scheduler records it.
    running = _ticket(TicketState.IN_PROGRESS, accepted_at=past, accept_due_at=past, resolve_due_at=past)
    assert handle_late(running, now) and not accept_late(running, now)
    # Nobody accepted it in time: 接收超期.
    assert accept_late(_ticket(TicketState.NEW, accept_due_at=past), now)
    # Waiting for the enterprise: the handling clock is paused.
    waiting = _ticket(TicketState.WAITING_ENTERPRISE, accepted_at=past, accept_due_at=future, resolve_due_at=past)
    assert not is_overdue(waiting, now)
    # Recorded late but already resolved (waiting for the rating): no longer on the 督办 board.
    done = _ticket(TicketState.RESOLVED, accepted_at=past, resolve_due_at=past, resolve_overdue=True)
    assert not is_overdue(done, now)
    # Recorded late and still being handled: overdue, though the deadline was since moved.
    flagged = _ticket(TicketState.REOPENED, accepted_at=past, resolve_due_at=future, resolve_overdue=True)
    assert handle_late(flagged, now)
