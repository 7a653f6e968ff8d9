"""What each push led to: sent, failed, 详细了解, 不适用 and why, 已申报, 退订, and desk tickets that followed."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.models import Ticket
from push.enterprises import EnterpriseSide
from push.models import CampaignStatus, DeliveryKind, DeliveryStatus, PushCampaign, PushDelivery, Response


@dataclass(slots=True)
class CampaignOutcome:
    campaign: PushCampaign
    status: Counter[str] = field(default_factory=Counter)  # pushes by DeliveryStatus
    reminders_sent: int = 0
    responses: Counter[str] = field(default_factory=Counter)  # by Response
    reasons: Counter[str] = field(default_factory=Counter)  # 不适用 reasons
    tickets: int = 0  # desk tickets filed within push.outcome_days of a push, by those it reached

    @property
    def sent(self) -> int:
        return self.status[DeliveryStatus.SENT]

    @property
    def waiting(self) -> int:
        return self.status[DeliveryStatus.QUEUED] + self.status[DeliveryStatus.SENDING]


@dataclass(slots=True)
class PushMonth:
    """The 政策直达 section of the monthly report."""

    campaigns_approved: int = 0
    pushes_sent: int = 0
    enterprises_reached: int = 0
    reminders_sent: int = 0
    details: int = 0
    not_applicable: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    tickets: int = 0
    reaching_nobody: list[str] = field(default_factory=list)  # approved policies that matched no enterprise
    most_not_applicable: list[tuple[str, int]] = field(default_factory=list)  # (policy, 不适用 count)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class Outcomes(EnterpriseSide):
    async def outcomes(self, campaign_id: int | None = None) -> list[CampaignOutcome]:
        """Outcomes of every campaign (newest first), or of one."""
        async with self.sessions() as s:
            stmt = select(PushCampaign).order_by(col(PushCampaign.id).desc())
            if campaign_id is not None:
                stmt = stmt.where(PushCampaign.id == campaign_id)
            campaigns = (await s.exec(stmt)).all()
            out = {c.id: CampaignOutcome(c) for c in campaigns}
            ids = list(out)
            if not ids:
                return []
            for cid, kind, status, n in (await s.exec(
                    select(PushDelivery.campaign_id, PushDelivery.kind, PushDelivery.status, func.count())
                    .where(col(PushDelivery.campaign_id).in_(ids))
                    .group_by(col(PushDelivery.campaign_id), col(PushDelivery.kind), col(PushDelivery.status)))).all():
                if kind == DeliveryKind.PUSH:
                    out[cid].status[status] += n
                elif status == DeliveryStatus.SENT:
                    out[cid].reminders_sent += n
            for cid, response, reason, n in (await s.exec(
                    select(PushDelivery.campaign_id, PushDelivery.response, PushDelivery.response_reason, func.count())
                    .where(col(PushDelivery.campaign_id).in_(ids), PushDelivery.kind == DeliveryKind.PUSH,
                           PushDelivery.response != "")
                    .group_by(col(PushDelivery.campaign_id), col(PushDelivery.response), col(PushDelivery.response_reason)))).all():
                out[cid].responses[response] += n
                if response == Response.NOT_APPLICABLE:
                    out[cid].reasons[reason or "其他"] += n
            await self._count_tickets(s, out)
        return list(out.values())

    async def _count_tickets(self, s: AsyncSession, out: dict[int | None, CampaignOutcome]) -> None:
        sent = (await s.exec(select(PushDelivery.campaign_id, PushDelivery.enterprise_id, PushDelivery.sent_at).where(
            col(PushDelivery.campaign_id).in_(list(out)), PushDelivery.kind == DeliveryKind.PUSH,
            PushDelivery.status == DeliveryStatus.SENT))).all()
        if not sent:
            return
        enterprises = {e for _, e, _ in sent}
        earliest = min(_aware(t) for _, _, t in sent if t is not None)
        tickets: dict[int | None, list[datetime]] = defaultdict(list)
        for enterprise_id, created in (await s.exec(select(Ticket.enterprise_id, Ticket.created_at).where(
                col(Ticket.enterprise_id).in_(enterprises), col(Ticket.created_at) >= earliest))).all():
            tickets[enterprise_id].append(_aware(created))
        window = timedelta(days=self.cfg.outcome_days)
        for cid, enterprise_id, sent_at in sent:
            if sent_at is None:
                continue
            start = _aware(sent_at)
            out[cid].tickets += sum(1 for t in tickets.get(enterprise_id, []) if start <= t <= start + window)

    async def month(self, start: datetime, end: datetime) -> PushMonth:
        """The 政策直达 figures of [start, end) for the monthly report."""
        result = PushMonth()
        outcomes = await self.outcomes()
        async with self.sessions() as s:
            rows = (await s.exec(select(PushDelivery.kind, PushDelivery.enterprise_id).where(
                PushDelivery.status == DeliveryStatus.SENT, col(PushDelivery.sent_at) >= start,
                col(PushDelivery.sent_at) < end))).all()
            responses = (await s.exec(select(PushDelivery.response, PushDelivery.response_reason).where(
                PushDelivery.kind == DeliveryKind.PUSH, col(PushDelivery.responded_at) >= start,
                col(PushDelivery.responded_at) < end))).all()
        result.pushes_sent = sum(1 for kind, _ in rows if kind == DeliveryKind.PUSH)
        result.reminders_sent = sum(1 for kind, _ in rows if kind == DeliveryKind.REMINDER)
        result.enterprises_reached = len({e for kind, e in rows if kind == DeliveryKind.PUSH})
        for response, reason in responses:
            if response == Response.DETAILS:
                result.details += 1
            elif response == Response.NOT_APPLICABLE:
                result.not_applicable += 1
                result.reasons[reason or "其他"] += 1
        for outcome in outcomes:
            c = outcome.campaign
            if c.status != CampaignStatus.APPROVED or c.reviewed_at is None:
                continue
            if start <= _aware(c.reviewed_at) < end:
                result.campaigns_approved += 1
                result.tickets += outcome.tickets
                if c.queued_count == 0:
                    result.reaching_nobody.append(c.title or c.policy_name)
        ranked = sorted(((o.campaign.title or o.campaign.policy_name, o.responses[Response.NOT_APPLICABLE])
                         for o in outcomes if o.responses[Response.NOT_APPLICABLE]), key=lambda p: -p[1])
        result.most_not_applicable = ranked[:5]
        return result


__all__ = ["CampaignOutcome", "Outcomes", "PushMonth"]
