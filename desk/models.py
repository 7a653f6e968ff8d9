"""Desk tables (SQLModel): enterprises, staff, tickets and what hangs off them.

Every datetime is stored UTC-aware (DateTime(timezone=True)); working time is computed in the desk's
timezone by desk.workcalendar. Telegram ids are BigInteger: they outgrow int32.
Enumerated values (state, role, reason…) are plain strings checked by the domain layer, so PostgreSQL
needs no ENUM types and adding a value is not a migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import keep_utc_on_load
from desk.states import TicketState


def utcnow() -> datetime:
    # Only a fallback default for rows written outside the Desk; the Desk always passes its clock's time.
    return datetime.now(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)  # type: ignore[call-overload]


# ---------------------------------------------------------------- staff
class StaffBase(SQLModel):
    tg_user_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    name: str = Field(max_length=64)
    role: str = Field(default="commissioner", max_length=16)  # StaffRole


class Staff(StaffBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class StaffPublic(StaffBase):
    id: int
    departments: list[str]
    active: bool


# ---------------------------------------------------------------- enterprise
class EnterpriseBase(SQLModel):
    name: str = Field(max_length=200)
    credit_code: str = Field(max_length=18, unique=True, index=True)  # 统一社会信用代码
    industry: str = Field(default="", max_length=100)
    contact_name: str = Field(default="", max_length=64)
    contact_phone: str = Field(default="", max_length=32)
    tg_user_id: int | None = Field(default=None, sa_type=BigInteger, unique=True, index=True)


class EnterpriseCreate(EnterpriseBase):
    commissioner_tg_id: int | None = None


class Enterprise(EnterpriseBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    commissioner_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    # The profile a policy push matches on (knowledge.audience vocabulary); any field may be empty.
    size: str = Field(default="", max_length=8, sa_column_kwargs={"server_default": ""})  # 微型 | 小型 | 中型 | 大型
    district: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    # Consent to policy pushes: None = never asked; the choice is kept with its date.
    push_consent: bool | None = None
    push_consent_at: datetime | None = _ts()
    # Telegram answered 403 (the owner blocked the bot): no more pushes until they write again.
    unreachable_at: datetime | None = _ts()


def profile_line(enterprise: Enterprise) -> str:
    """行业 · 规模 · 区县 · 标签 of an enterprise (what it filled in), for staff."""
    parts = [enterprise.industry, enterprise.size, enterprise.district, "、".join(enterprise.tags or [])]
    return " · ".join(p for p in parts if p)


class EnterprisePublic(EnterpriseBase):
    id: int
    commissioner_id: int | None
    size: str = ""
    district: str = ""
    tags: list[str] = []
    push_consent: bool | None = None
    push_consent_at: datetime | None = None
    unreachable_at: datetime | None = None


# ---------------------------------------------------------------- ticket
class TicketBase(SQLModel):
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    department: str = Field(default="", max_length=100, index=True)  # handling department (canonical name)
    service_item: str = Field(default="", max_length=200)  # 事项, when known
    reason: str = Field(default="其他", max_length=8)  # 卡点: Reason
    transcript: str = Field(default="", sa_type=Text)  # the chat that led to the ticket


class TicketCreate(TicketBase):
    requester_tg_id: int | None = None
    requester_name: str = ""
    enterprise_id: int | None = None  # looked up from requester_tg_id when omitted
    # The request that asked for this ticket (the bot: the intake's confirmation message). The same key
    # again — an update replayed after a crash — returns the ticket it made instead of a second one.
    request_key: str | None = None


_version_col = Column("version", Integer, nullable=False, default=1)


class Ticket(TicketBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Human number BC-YYYYMMDD-NNNN, derived from the id once it is known (so it is race-free).
    number: str | None = Field(default=None, max_length=32, unique=True, index=True)
    request_key: str | None = Field(default=None, max_length=80, unique=True, index=True)  # see TicketCreate
    enterprise_id: int | None = Field(default=None, foreign_key="enterprise.id", index=True)
    requester_tg_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    requester_name: str = Field(default="", max_length=200)
    state: str = Field(default="new", max_length=24, index=True)
    assignee_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    co_departments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Optimistic lock: every ORM UPDATE says WHERE version = <read value>; a lost race raises StaleDataError.
    version: int = Field(default=1, sa_column=_version_col)

    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    updated_at: datetime | None = _ts()
    accepted_at: datetime | None = _ts()
    accept_due_at: datetime | None = _ts(index=True)
    accept_warn_at: datetime | None = _ts()
    accept_warned: bool = False
    accept_overdue: bool = False  # 接收超期
    resolve_due_at: datetime | None = _ts(index=True)
    resolve_warn_at: datetime | None = _ts()
    resolve_warned: bool = False
    resolve_overdue: bool = False  # 处置超期 (sticky: counted once per ticket)
    resolve_escalated_at: datetime | None = _ts()  # set when the current resolve deadline was escalated
    paused_at: datetime | None = _ts()
    # Working seconds left on the resolve clock when it was paused (waiting_enterprise).
    resolve_remaining_s: float | None = None
    escalated_at: datetime | None = _ts()
    escalation_count: int = 0
    resolved_at: datetime | None = _ts()
    first_resolved_at: datetime | None = _ts()
    resolution_note: str = Field(default="", sa_type=Text)
    resolution_round: int = 0  # how many times it was resolved (a rating belongs to one round)
    rating_due_at: datetime | None = _ts(index=True)
    rating_remind_at: datetime | None = _ts()
    rating_reminded: bool = False
    closed_at: datetime | None = _ts()
    close_reason: str = Field(default="", max_length=16)  # rated | unrated | manual
    close_note: str = Field(default="", sa_type=Text)
    # Where the bot mirrors this ticket on the staff side (forum topic or reply thread); the bot sets them.
    staff_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    staff_thread_id: int | None = Field(default=None, sa_type=BigInteger)

    __mapper_args__ = {"version_id_col": _version_col}


class TicketPublic(TicketBase):
    id: int
    number: str
    state: TicketState
    state_label: str
    enterprise_id: int | None
    enterprise_name: str = ""
    enterprise_profile: str = ""  # 行业 · 规模 · 区县 · 标签, as far as the enterprise told us
    requester_tg_id: int | None
    requester_name: str
    assignee_id: int | None
    assignee_name: str = ""
    assignee_tg_id: int | None = None
    co_departments: list[str]
    created_at: datetime
    accepted_at: datetime | None
    accept_due_at: datetime | None
    accept_overdue: bool
    resolve_due_at: datetime | None
    resolve_overdue: bool
    paused_at: datetime | None
    escalation_count: int
    resolved_at: datetime | None
    resolution_note: str
    resolution_round: int
    rating_due_at: datetime | None
    closed_at: datetime | None
    close_reason: str
    close_note: str
    staff_chat_id: int | None
    staff_thread_id: int | None


# ---------------------------------------------------------------- messages, ratings, follow-ups
class TicketMessage(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    author_kind: str = Field(max_length=16)  # AuthorKind
    author_tg_id: int | None = Field(default=None, sa_type=BigInteger)
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class Rating(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("ticket_id", "round"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    round: int = 1  # the resolution round being rated: one rating per round
    score: str = Field(max_length=8)  # RatingScore
    comment: str = Field(default="", sa_type=Text)
    rater_tg_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class FollowUp(SQLModel, table=True):
    """回访 task created by an unhappy rating, with its own deadline."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    due_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    warn_at: datetime | None = _ts()
    warned: bool = False
    overdue: bool = False
    done_at: datetime | None = _ts()
    note: str = Field(default="", sa_type=Text)


class AuditEntry(SQLModel, table=True):
    """One row per state change or notable act, written in the same transaction as the change."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    actor_kind: str = Field(max_length=16)  # enterprise | staff | system
    actor_tg_id: int | None = Field(default=None, sa_type=BigInteger)
    actor_name: str = Field(default="", max_length=64)
    action: str = Field(max_length=32)
    from_state: str = Field(default="", max_length=24)
    to_state: str = Field(default="", max_length=24)
    reason: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]


class Notification(SQLModel, table=True):
    """Outbox row: written with the change it reports; the bot delivers it and marks it sent or failed."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    audience: str = Field(max_length=16)  # Audience: enterprise | staff | leaders
    recipient_tg_id: int | None = Field(default=None, sa_type=BigInteger)
    kind: str = Field(max_length=32)
    # The facts of the notice (desk.notices renders them per channel). Rows written before revision
    # 0003 carry their Telegram text instead, and an empty payload.
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    text: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    sent_at: datetime | None = _ts(index=True)
    attempts: int = 0
    last_error: str = Field(default="", sa_type=Text)


class NotificationPublic(SQLModel):
    id: int
    ticket_id: int | None
    ticket_number: str = ""
    staff_chat_id: int | None = None
    staff_thread_id: int | None = None
    audience: str
    recipient_tg_id: int | None
    kind: str
    payload: dict[str, Any] = {}
    text: str = ""  # only on rows written before payloads
    created_at: datetime
    attempts: int


# ---------------------------------------------------------------- UTC on load
keep_utc_on_load(Staff, Enterprise, Ticket, TicketMessage, Rating, FollowUp, AuditEntry, Notification)


class OutboxClaim(SQLModel, table=True):
    """A lease on one desk notification while a bot worker delivers it.

    The desk's outbox has no claim column; with several workers (webhook scale-out) two could send the
    same row. Inserting this row is the claim (primary key = notification id: one winner); it is
    deleted after the row is marked sent or failed. A lease older than LEASE is taken over (the worker
    died mid-delivery): that row may be sent twice, never lost.
    """

    __tablename__ = "outbox_claim"

    notification_id: int = Field(primary_key=True)
    worker: str = Field(max_length=64)
    claimed_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
