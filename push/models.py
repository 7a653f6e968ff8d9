"""Tables of the policy push: one campaign per policy version, one delivery per enterprise and kind."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import keep_utc_on_load


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(index: bool = False) -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), index=index)  # type: ignore[call-overload]


class CampaignStatus(StrEnum):
    PENDING = "pending"  # waiting for an admin: nothing is sent before approval
    APPROVED = "approved"  # deliveries queued
    DISCARDED = "discarded"  # an admin decided not to push this version
    RETIRED = "retired"  # a newer version of the file (or its removal) replaced it before approval


class Benefit(StrEnum):
    AUTOMATIC = "免申即享"  # no application: those who qualify simply receive it
    APPLY = "申请"  # enterprises apply (department, materials, deadline)


class DeliveryKind(StrEnum):
    PUSH = "push"
    REMINDER = "reminder"  # before 申报截止, to those who neither applied nor said 不适用


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # leased by a worker; back to queued if the lease runs out
    SENT = "sent"
    FAILED = "failed"  # gave up after retries
    UNREACHABLE = "unreachable"  # Telegram 403: the owner blocked the bot
    CANCELLED = "cancelled"  # unsubscribed or marked 不适用 before it went out


class Response(StrEnum):
    DETAILS = "details"  # 详细了解
    NOT_APPLICABLE = "not_applicable"  # 不适用 (with a reason)
    APPLIED = "applied"  # 已申报: no reminder
    UNSUBSCRIBED = "unsubscribed"  # 退订 from this push


class PushCampaign(SQLModel, table=True):
    """A policy version an admin reviews: its audience, what it gives, and whether it goes out."""

    __tablename__ = "push_campaign"
    __table_args__ = (UniqueConstraint("policy_path", "sha256", name="uq_push_campaign_version"),)

    id: int | None = Field(default=None, primary_key=True)
    policy_path: str = Field(max_length=1024, index=True)  # kb_source.path: the file across versions
    policy_name: str = Field(max_length=255)
    sha256: str = Field(max_length=64)  # the version pushed
    title: str = Field(default="", max_length=500)
    department: str = Field(default="", max_length=200)
    benefit: str = Field(default="", max_length=16)  # Benefit or "" (not said)
    apply_by: date | None = None  # 申报截止
    summary: str = Field(default="", sa_type=Text)
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    audience_origin: str = Field(default="proposed", max_length=16)  # front_matter | proposed | admin
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    unknown_terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=CampaignStatus.PENDING, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    reviewed_at: datetime | None = _ts()
    reviewer_tg_id: int | None = Field(default=None, sa_type=BigInteger)
    reviewer_name: str = Field(default="", max_length=64)
    queued_count: int = 0  # deliveries queued at approval
    reminders_queued_at: datetime | None = _ts()


class PushDelivery(SQLModel, table=True):
    """One message to one enterprise: queued at approval, leased while sending, answered by buttons."""

    __tablename__ = "push_delivery"
    __table_args__ = (UniqueConstraint("campaign_id", "enterprise_id", "kind", name="uq_push_delivery_once"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="push_campaign.id", index=True)
    enterprise_id: int = Field(foreign_key="enterprise.id", index=True)
    tg_user_id: int = Field(sa_type=BigInteger)
    kind: str = Field(default=DeliveryKind.PUSH, max_length=16)
    matched_on: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=DeliveryStatus.QUEUED, max_length=16, index=True)
    not_before: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    claimed_at: datetime | None = _ts()
    worker: str = Field(default="", max_length=64)
    sent_at: datetime | None = _ts(index=True)
    attempts: int = 0
    last_error: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    response: str = Field(default="", max_length=16)  # Response or ""
    response_reason: str = Field(default="", sa_type=Text)
    responded_at: datetime | None = _ts()


keep_utc_on_load(PushCampaign, PushDelivery)


__all__ = [
    "Benefit",
    "CampaignStatus",
    "DeliveryKind",
    "DeliveryStatus",
    "PushCampaign",
    "PushDelivery",
    "Response",
]
