"""The enterprise's side of the push: its profile, its consent, and its answers to a push."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.models import Enterprise, EnterprisePublic
from knowledge.audience import INDUSTRIES, SIZES, TAGS
from push.base import PushError
from push.delivery import Deliveries
from push.models import DeliveryKind, DeliveryStatus, PushDelivery, Response

# Reasons offered with 不适用 (fixed: they are counted per policy on the dashboard).
NOT_APPLICABLE_REASONS: tuple[str, ...] = ("行业不符", "规模不符", "地区不符", "已经享受", "不需要", "其他")
NOT_REGISTERED = "请先发送 /register 登记企业，再设置政策推送。"
# Later answers replace earlier ones, except that 详细了解 never hides a decision made before it.
_DECISIONS = (Response.NOT_APPLICABLE, Response.APPLIED, Response.UNSUBSCRIBED)


class EnterpriseSide(Deliveries):
    async def _enterprise(self, s: AsyncSession, tg_user_id: int) -> Enterprise:
        enterprise = (await s.exec(select(Enterprise).where(Enterprise.tg_user_id == tg_user_id))).first()
        if enterprise is None:
            raise PushError(NOT_REGISTERED)
        return enterprise

    async def update_profile(self, tg_user_id: int, *, industry: str | None = None, size: str | None = None,
                             district: str | None = None, toggle_tag: str | None = None) -> EnterprisePublic:
        """Set one profile field ("" clears it) or toggle one tag; values outside the lists are refused."""
        async with self._tx() as s:
            enterprise = await self._enterprise(s, tg_user_id)
            if industry is not None:
                if industry and industry not in INDUSTRIES:
                    raise PushError(f"“{industry}”不是国民经济行业分类的门类名称。")
                enterprise.industry = industry
            if size is not None:
                if size and size not in SIZES:
                    raise PushError(f"企业规模只能是{'、'.join(SIZES)}。")
                enterprise.size = size
            if district is not None:
                district = district.strip()
                if district and self.cfg.districts and district not in self.cfg.districts:
                    raise PushError(f"“{district}”不在本市区县名单中：{'、'.join(self.cfg.districts)}。")
                if len(district) > 32:
                    raise PushError("区县名称不能超过 32 个字。")
                enterprise.district = district
            if toggle_tag is not None:
                if toggle_tag not in TAGS:
                    raise PushError(f"“{toggle_tag}”不是可选的企业标签。")
                tags = list(enterprise.tags or [])
                enterprise.tags = [t for t in tags if t != toggle_tag] if toggle_tag in tags else [*tags, toggle_tag]
            s.add(enterprise)
            await s.flush()
            return EnterprisePublic.model_validate(enterprise)

    async def set_consent(self, tg_user_id: int, consent: bool) -> EnterprisePublic:
        """Agree to pushes or stop them; stopping cancels what is still queued. Stored with its date."""
        async with self._tx() as s:
            enterprise = await self._enterprise(s, tg_user_id)
            enterprise.push_consent = consent
            enterprise.push_consent_at = self.now()
            if consent:
                enterprise.unreachable_at = None  # they are talking to the bot again
            else:
                await s.exec(update(PushDelivery)  # type: ignore[call-overload]
                             .where(col(PushDelivery.enterprise_id) == enterprise.id,
                                    col(PushDelivery.status) == DeliveryStatus.QUEUED)
                             .values(status=DeliveryStatus.CANCELLED))
            s.add(enterprise)
            await s.flush()
            return EnterprisePublic.model_validate(enterprise)

    async def profile(self, tg_user_id: int) -> EnterprisePublic | None:
        async with self.sessions() as s:
            enterprise = (await s.exec(select(Enterprise).where(Enterprise.tg_user_id == tg_user_id))).first()
            return EnterprisePublic.model_validate(enterprise) if enterprise is not None else None

    async def respond(self, delivery_id: int, tg_user_id: int, response: Response, reason: str = "") -> PushDelivery:
        """Record an enterprise's answer to a push or its reminder (kept on the push itself)."""
        async with self._tx() as s:
            delivery = await s.get(PushDelivery, delivery_id)
            if delivery is None or delivery.tg_user_id != tg_user_id:
                raise PushError("这条推送已失效。")
            if delivery.kind != DeliveryKind.PUSH:
                push = (await s.exec(select(PushDelivery).where(
                    PushDelivery.campaign_id == delivery.campaign_id, PushDelivery.enterprise_id == delivery.enterprise_id,
                    PushDelivery.kind == DeliveryKind.PUSH))).first()
                delivery = push or delivery
            if response == Response.NOT_APPLICABLE and reason not in NOT_APPLICABLE_REASONS:
                raise PushError("请选择不适用的原因。")
            if not (response == Response.DETAILS and delivery.response in _DECISIONS):
                delivery.response = response
                delivery.response_reason = reason
                delivery.responded_at = self.now()
                s.add(delivery)
            if response in _DECISIONS:  # no reminder after a decision
                await s.exec(update(PushDelivery)  # type: ignore[call-overload]
                             .where(col(PushDelivery.campaign_id) == delivery.campaign_id,
                                    col(PushDelivery.enterprise_id) == delivery.enterprise_id,
                                    col(PushDelivery.kind) == DeliveryKind.REMINDER,
                                    col(PushDelivery.status) == DeliveryStatus.QUEUED)
                             .values(status=DeliveryStatus.CANCELLED))
            await s.flush()
            result = PushDelivery.model_validate(delivery)
        if response == Response.UNSUBSCRIBED:
            await self.set_consent(tg_user_id, False)
        return result


__all__ = ["NOT_APPLICABLE_REASONS", "NOT_REGISTERED", "EnterpriseSide"]
