"""The push queue: due deliveries leased to a sender, weekly caps, working hours, reminders, outcomes of a send.

A delivery is leased (status sending) with one conditional UPDATE, so two workers never take the same
row; a worker that dies leaves a lease that runs out after `push.lease_s` and the row is sent again.
Marking a send is one UPDATE right after Telegram answers, so what a killed worker can repeat is at most
the message it was sending at that instant; nothing queued is lost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.models import Enterprise
from push.campaigns import Campaigns
from push.models import (
    Benefit,
    CampaignStatus,
    DeliveryKind,
    DeliveryStatus,
    PushCampaign,
    PushDelivery,
    Response,
)
from push.wording import PolicyFacts, push_text, reminder_text

WEEK = timedelta(days=7)
MAX_ATTEMPTS = 5
# Answers that end a campaign for an enterprise: no reminder after them.
_FINAL = (Response.NOT_APPLICABLE, Response.APPLIED, Response.UNSUBSCRIBED)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A leased delivery, with the text to send and what its buttons need."""

    id: int
    kind: str
    tg_user_id: int
    campaign_id: int
    text: str
    asks_application: bool  # an 申请 policy: the message offers 已申报


class Deliveries(Campaigns):
    def _in_working_time(self, now: datetime) -> bool:
        return not self.cfg.working_hours_only or self.calendar.add_working_seconds(now, 0) <= now

    async def claim_due(self, worker: str, limit: int = 50) -> list[DueDelivery]:
        """Lease up to `limit` deliveries that may go out now (working hours, weekly cap, consent)."""
        now = self.now()
        if not self._in_working_time(now):
            return []
        async with self._tx() as s:
            await s.exec(update(PushDelivery)  # type: ignore[call-overload]
                         .where(col(PushDelivery.status) == DeliveryStatus.SENDING,
                                col(PushDelivery.claimed_at) < now - timedelta(seconds=self.cfg.lease_s))
                         .values(status=DeliveryStatus.QUEUED))
            rows = (await s.exec(select(PushDelivery)
                                 .where(PushDelivery.status == DeliveryStatus.QUEUED,
                                        col(PushDelivery.not_before) <= now)
                                 .order_by(col(PushDelivery.id)).limit(limit * 4))).all()
            if not rows:
                return []
            ids = {r.enterprise_id for r in rows}
            enterprises = {e.id: e for e in (await s.exec(select(Enterprise).where(col(Enterprise.id).in_(ids)))).all()}
            sent_this_week: dict[int, list[datetime]] = defaultdict(list)
            for enterprise_id, sent_at in (await s.exec(
                    select(PushDelivery.enterprise_id, PushDelivery.sent_at)
                    .where(PushDelivery.kind == DeliveryKind.PUSH, PushDelivery.status == DeliveryStatus.SENT,
                           col(PushDelivery.sent_at) > now - WEEK, col(PushDelivery.enterprise_id).in_(ids)))).all():
                if sent_at is not None:
                    sent_this_week[enterprise_id].append(_aware(sent_at))
            leased: list[PushDelivery] = []
            for row in rows:
                enterprise = enterprises.get(row.enterprise_id)
                if enterprise is None or enterprise.push_consent is not True or enterprise.unreachable_at is not None:
                    await self._set(s, row, status=DeliveryStatus.CANCELLED)
                    continue
                if row.kind == DeliveryKind.PUSH:
                    week = sorted(sent_this_week[row.enterprise_id])
                    if len(week) >= self.cfg.max_per_week:
                        # Due again when the oldest push of the last seven days drops out of the window.
                        await self._set(s, row, not_before=week[-self.cfg.max_per_week] + WEEK)
                        continue
                if await self._set(s, row, status=DeliveryStatus.SENDING, claimed_at=now, worker=worker):
                    leased.append(row)
                    if row.kind == DeliveryKind.PUSH:
                        sent_this_week[row.enterprise_id].append(now)
                if len(leased) >= limit:
                    break
            return await self._render(s, leased)

    async def _set(self, s: AsyncSession, row: PushDelivery, **values: object) -> bool:
        """Change a queued row, only if it is still queued (another worker may have leased it)."""
        result = await s.exec(update(PushDelivery)  # type: ignore[call-overload]
                              .where(col(PushDelivery.id) == row.id, col(PushDelivery.status) == DeliveryStatus.QUEUED)
                              .values(**values))
        return bool(result.rowcount)

    async def _render(self, s: AsyncSession, rows: list[PushDelivery]) -> list[DueDelivery]:
        campaigns: dict[int, tuple[PushCampaign, PolicyFacts]] = {}
        today = self.now().astimezone(self.calendar.tz).date()
        out: list[DueDelivery] = []
        for row in rows:
            if row.campaign_id not in campaigns:
                campaign = await self._campaign(s, row.campaign_id)
                campaigns[row.campaign_id] = (campaign, await self.facts(s, campaign))
            campaign, facts = campaigns[row.campaign_id]
            text = (reminder_text(campaign, facts, today) if row.kind == DeliveryKind.REMINDER
                    else push_text(campaign, facts, row.matched_on))
            assert row.id is not None
            out.append(DueDelivery(row.id, row.kind, row.tg_user_id, row.campaign_id, text,
                                   campaign.benefit != Benefit.AUTOMATIC))
        return out

    async def release(self, delivery_ids: list[int]) -> None:
        """Give back leased deliveries that were not sent (a worker shutting down): queued again at once."""
        if not delivery_ids:
            return
        async with self._tx() as s:
            await s.exec(update(PushDelivery)  # type: ignore[call-overload]
                         .where(col(PushDelivery.id).in_(delivery_ids),
                                col(PushDelivery.status) == DeliveryStatus.SENDING)
                         .values(status=DeliveryStatus.QUEUED, claimed_at=None, worker=""))

    # ------------------------------------------------------------ what a send came to
    async def mark_sent(self, delivery_id: int) -> None:
        async with self._tx() as s:
            await s.exec(update(PushDelivery).where(col(PushDelivery.id) == delivery_id)  # type: ignore[call-overload]
                         .values(status=DeliveryStatus.SENT, sent_at=self.now(),
                                 attempts=col(PushDelivery.attempts) + 1, last_error=""))

    async def mark_retry(self, delivery_id: int, error: str) -> None:
        """A send failed for a reason that may pass (network, Telegram busy): back in the queue with a
        growing delay; after MAX_ATTEMPTS it is failed."""
        async with self._tx() as s:
            row = await s.get(PushDelivery, delivery_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = error[:500]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = DeliveryStatus.FAILED
            else:
                row.status = DeliveryStatus.QUEUED
                row.not_before = self.now() + timedelta(seconds=30 * 2 ** row.attempts)
            s.add(row)

    async def mark_unreachable(self, delivery_id: int, error: str) -> None:
        """Telegram said 403 (the owner blocked the bot): this and later pushes to them stop."""
        async with self._tx() as s:
            row = await s.get(PushDelivery, delivery_id)
            if row is None:
                return
            row.status = DeliveryStatus.UNREACHABLE
            row.attempts += 1
            row.last_error = error[:500]
            s.add(row)
            enterprise = await s.get(Enterprise, row.enterprise_id)
            if enterprise is not None and enterprise.unreachable_at is None:
                enterprise.unreachable_at = self.now()
                s.add(enterprise)

    # ------------------------------------------------------------ reminders
    async def queue_reminders(self) -> int:
        """Queue the 申报截止 reminders that are due today; returns how many were queued."""
        days = self.cfg.remind_days_before
        if days <= 0:
            return 0
        now = self.now()
        today = now.astimezone(self.calendar.tz).date()
        queued = 0
        async with self._tx() as s:
            campaigns = (await s.exec(select(PushCampaign).where(
                PushCampaign.status == CampaignStatus.APPROVED, col(PushCampaign.apply_by).is_not(None),
                col(PushCampaign.reminders_queued_at).is_(None), PushCampaign.benefit != Benefit.AUTOMATIC))).all()
            for campaign in campaigns:
                assert campaign.apply_by is not None
                if not (campaign.apply_by - timedelta(days=days) <= today <= campaign.apply_by):
                    continue
                won = await s.exec(update(PushCampaign)  # type: ignore[call-overload]
                                   .where(col(PushCampaign.id) == campaign.id,
                                          col(PushCampaign.reminders_queued_at).is_(None))
                                   .values(reminders_queued_at=now))
                if not won.rowcount:
                    continue  # another worker queued them
                pushes = (await s.exec(select(PushDelivery).where(
                    PushDelivery.campaign_id == campaign.id, PushDelivery.kind == DeliveryKind.PUSH,
                    PushDelivery.status == DeliveryStatus.SENT, col(PushDelivery.response).not_in(_FINAL)))).all()
                for push in pushes:
                    s.add(PushDelivery(campaign_id=push.campaign_id, enterprise_id=push.enterprise_id,
                                       tg_user_id=push.tg_user_id, kind=DeliveryKind.REMINDER,
                                       matched_on=push.matched_on, not_before=now, created_at=now))
                queued += len(pushes)
        return queued


def _aware(when: datetime) -> datetime:
    # Columns read by a plain select (not an ORM load) come back naive from SQLite.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


__all__ = ["Deliveries", "DueDelivery"]
