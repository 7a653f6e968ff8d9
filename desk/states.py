"""Ticket states and the only transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum

from desk.errors import IllegalTransition


class TicketState(StrEnum):
    NEW = "new"  # in the pool (maybe with a proposed assignee), not yet accepted (受理)
    ASSIGNED = "assigned"  # accepted by a commissioner
    IN_PROGRESS = "in_progress"
    WAITING_ENTERPRISE = "waiting_enterprise"  # enterprise owes materials: the resolve clock pauses
    ESCALATED = "escalated"  # overdue, or a leader was asked for (领导领办)
    RESOLVED = "resolved"  # waiting for the enterprise's rating
    REOPENED = "reopened"  # unhappy rating
    CLOSED = "closed"  # 对账销号

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS: dict[TicketState, str] = {
    TicketState.NEW: "待受理",
    TicketState.ASSIGNED: "已受理",
    TicketState.IN_PROGRESS: "办理中",
    TicketState.WAITING_ENTERPRISE: "待企业补充材料",
    TicketState.ESCALATED: "已升级督办",
    TicketState.RESOLVED: "已办结待评价",
    TicketState.REOPENED: "已重新办理",
    TicketState.CLOSED: "已销号",
}

S = TicketState
TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    S.NEW: frozenset({S.ASSIGNED, S.ESCALATED}),
    S.ASSIGNED: frozenset({S.IN_PROGRESS, S.WAITING_ENTERPRISE, S.ESCALATED, S.RESOLVED}),
    S.IN_PROGRESS: frozenset({S.WAITING_ENTERPRISE, S.ESCALATED, S.RESOLVED}),
    S.WAITING_ENTERPRISE: frozenset({S.IN_PROGRESS, S.ESCALATED, S.RESOLVED}),
    S.ESCALATED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.WAITING_ENTERPRISE, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REOPENED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.WAITING_ENTERPRISE, S.ESCALATED, S.RESOLVED}),
    S.CLOSED: frozenset(),
}

# States in which the ticket is someone's open work (the resolve clock runs unless waiting).
ACTIVE_STATES = frozenset({S.ASSIGNED, S.IN_PROGRESS, S.ESCALATED, S.REOPENED})
OPEN_STATES = frozenset(set(TicketState) - {S.CLOSED})
CLAIMABLE_STATES = frozenset({S.NEW, S.ESCALATED, S.REOPENED})


def check_transition(current: TicketState | str, target: TicketState | str) -> None:
    """Raise IllegalTransition (Chinese message) unless current → target is allowed."""
    cur, tgt = TicketState(current), TicketState(target)
    if tgt not in TRANSITIONS[cur]:
        raise IllegalTransition(f"工单当前状态为「{cur.label}」，不能变为「{tgt.label}」。")


class Reason(StrEnum):
    """卡点 — why the normal procedure failed."""

    MATERIALS = "材料"
    POLICY = "政策"
    CROSS_DEPARTMENT = "跨部门"
    TIMEOUT = "超时"
    ATTITUDE = "态度"
    OTHER = "其他"


class RatingScore(StrEnum):
    SATISFIED = "满意"
    BASICALLY = "基本满意"
    UNSATISFIED = "不满意"


class StaffRole(StrEnum):
    COMMISSIONER = "commissioner"
    LEADER = "leader"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {"commissioner": "专员", "leader": "领导", "admin": "管理员"}[self.value]


class Audience(StrEnum):
    ENTERPRISE = "enterprise"
    STAFF = "staff"
    LEADERS = "leaders"


class AuthorKind(StrEnum):
    ENTERPRISE = "enterprise"
    STAFF = "staff"
    SYSTEM = "system"
    NOTE = "note"  # a staff member's internal note on a ticket: staff only, never relayed
