"""Who may act on a ticket — one rule, in its Python and its SQL form side by side.

Leaders act on every ticket. A commissioner acts on the tickets assigned to them, on those of the
departments they cover (the ticket's own department or a co-handling one, 多部门会办) and on those of the
enterprises they are the commissioner of. Admins configure the desk and act on no ticket.

`may_act` decides for one loaded ticket (the desk's permission check); `may_act_clause` selects the same
tickets in SQL (the dashboard's queue, the desk's listings). tests/desk/test_visibility.py checks that the
two agree on generated staff and tickets, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, false, or_, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from desk.models import Enterprise, Staff, Ticket
from desk.states import StaffRole


@dataclass(frozen=True)
class StaffScope:
    """The staff member whose rights are asked about (a Staff row, a dashboard user: whatever has these)."""

    id: int | None
    role: str
    departments: Sequence[str]


def staff_scope(staff: Staff) -> StaffScope:
    return StaffScope(staff.id, str(staff.role), tuple(staff.departments or ()))


def colleague_may_take(giver: StaffScope, taker: StaffScope, ticket: Ticket) -> bool:
    """A commissioner's handover (转给同事): the taker is another commissioner who shares with the giver a
    department of the ticket (its own or a co-handling one), so may act on it by that department."""
    if taker.role != StaffRole.COMMISSIONER or taker.id == giver.id:
        return False
    ticket_departments = {ticket.department, *(ticket.co_departments or [])} - {""}
    return bool(ticket_departments & set(giver.departments) & set(taker.departments))


def may_act(actor: StaffScope, ticket: Ticket, enterprise_commissioner_id: int | None) -> bool:
    """Python form: `enterprise_commissioner_id` is the ticket's enterprise's commissioner (None if none)."""
    if actor.role == StaffRole.LEADER:
        return True
    if actor.role != StaffRole.COMMISSIONER or actor.id is None:
        return False
    if ticket.assignee_id == actor.id:
        return True
    covered = set(actor.departments)
    if ticket.department in covered or covered.intersection(ticket.co_departments or []):
        return True
    return enterprise_commissioner_id is not None and enterprise_commissioner_id == actor.id


def json_list_contains(column: Any, value: str) -> ColumnElement[bool]:
    """Portable "JSON list contains this string" (SQLite and PostgreSQL store the JSON text alike)."""
    return cast(column, String).contains(json.dumps(value), autoescape=True)


def may_act_clause(actor: StaffScope) -> ColumnElement[bool]:
    """SQL form: a WHERE clause over Ticket selecting exactly the tickets `may_act` allows."""
    if actor.role == StaffRole.LEADER:
        return true()
    if actor.role != StaffRole.COMMISSIONER or actor.id is None:
        return false()
    own_enterprises = select(Enterprise.id).where(Enterprise.commissioner_id == actor.id)
    clauses: list[ColumnElement[bool]] = [
        col(Ticket.assignee_id) == actor.id,
        col(Ticket.enterprise_id).in_(own_enterprises),
    ]
    if actor.departments:
        clauses.append(col(Ticket.department).in_(list(actor.departments)))
        clauses.extend(json_list_contains(Ticket.co_departments, d) for d in actor.departments)
    return or_(*clauses)
