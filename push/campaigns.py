"""From the knowledge base to a reviewed campaign: one per 惠企 policy version, approved by an admin.

`sync_from_knowledge` (run after every ingest and at bot start) opens a pending campaign for each new
version of a policy that offers something to enterprises; its audience is the front matter's
`applies_to`, else one proposed from the text. Nothing is queued until an admin approves; an admin may
edit the audience first. Approval queues one delivery per matching, consenting, reachable enterprise.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.models import Enterprise
from knowledge.audience import DIMENSION_LABELS, Audience, match, parse_applies_to, propose_audience
from knowledge.models import KbRecord, KbSource
from push.base import PushBase, PushError, Reviewer, profile_of
from push.models import CampaignStatus, DeliveryKind, PushCampaign, PushDelivery
from push.wording import PolicyFacts, push_text

# A policy offers something to enterprises when it says so this often (补贴, 减免, 奖励 …) or its front
# matter says who it is for: guides and rules (开办餐饮店指南, 工作规程) are not pushed.
_BENEFIT_WORDS = re.compile(r"补贴|补助|奖励|奖补|减免|扶持|资助|贴息|免征|减征|返还|优惠|退税|专项资金|兑现")
MIN_BENEFIT_WORDS = 3
_GAIN_SECTIONS = ("标准", "内容", "补贴", "奖励", "支持", "措施", "减免")


def offers_benefit(text: str, push_meta: dict[str, object]) -> bool:
    if "applies_to" in push_meta or "benefit" in push_meta:
        return True
    return len(_BENEFIT_WORDS.findall(text)) >= MIN_BENEFIT_WORDS


@dataclass(slots=True)
class Recipients:
    """Who an audience reaches among the registered enterprises, and who it leaves out and why."""

    matched: list[tuple[Enterprise, list[str]]] = field(default_factory=list)  # consenting and reachable
    reasons: Counter[str] = field(default_factory=Counter)  # "行业=住宿和餐饮业" → enterprises
    not_subscribed: int = 0  # match, but never agreed to pushes or unsubscribed
    unreachable: int = 0  # match, but blocked the bot


@dataclass(slots=True)
class CampaignPreview:
    campaign: PushCampaign
    audience: Audience
    recipients: Recipients
    facts: PolicyFacts
    sample: str  # the exact message, worded for the first matching enterprise (or a generic one)


def parse_audience_text(text: str, districts: list[str]) -> Audience:
    """An admin's edit: "行业=住宿和餐饮业；规模=小型,微型；标签=；区县=" (any order, any may be left out).

    Refused with the names it does not know: an admin's edit is checked, not kept as written.
    """
    labels = {label: dim for dim, label in DIMENSION_LABELS.items()}
    raw: dict[str, str] = {}
    for part in re.split(r"[；;\n]", text):
        if not part.strip():
            continue
        key, sep, value = part.partition("=") if "=" in part else part.partition("＝")
        dimension = labels.get(key.strip())
        if not sep or dimension is None:
            raise PushError(f"无法理解“{part.strip()}”：请写成“行业=…；规模=…；区县=…；标签=…”，多个值用逗号分隔。")
        raw[dimension] = value
    parsed = parse_applies_to(raw, districts)
    if parsed.unknown:
        raise PushError("以下名称不在可选范围内：" + "、".join(parsed.unknown) + "。")
    return parsed.audience


class Campaigns(PushBase):
    # Policy versions (path, sha256) found to offer nothing to push: guides and rules are not re-read
    # at every sync. Per process; a new version of the file has a new hash.
    _offers_nothing: set[tuple[str, str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._offers_nothing = set()

    # ------------------------------------------------------------ knowledge base → campaigns
    async def sync_from_knowledge(self) -> list[PushCampaign]:
        """Open a pending campaign for each new version of a current 惠企 policy; retire pending ones
        whose version is gone. Returns the campaigns opened now (none when another process opened them
        at the same moment: the version is unique)."""
        try:
            return await self._sync_from_knowledge()
        except IntegrityError:
            return []

    async def _sync_from_knowledge(self) -> list[PushCampaign]:
        today = self.now().astimezone(self.calendar.tz).date()
        async with self._tx() as s:
            sources = (await s.exec(select(KbSource).where(KbSource.kind == "policy"))).all()
            campaigns = (await s.exec(select(PushCampaign))).all()
            known = {(c.policy_path, c.sha256) for c in campaigns}
            current = {(src.path, src.sha256) for src in sources if _is_current(src, today)}
            opened: list[PushCampaign] = []
            for src in sources:
                version = (src.path, src.sha256)
                if version in known or version not in current or version in self._offers_nothing:
                    continue
                text = await self._policy_text(s, src)
                meta = dict(src.push_meta or {})
                if not offers_benefit(text, meta):
                    self._offers_nothing.add(version)  # read once per process, not at every run
                    continue
                campaign = self._campaign_for(src, text, meta)
                s.add(campaign)
                opened.append(campaign)
            for campaign in campaigns:
                if campaign.status == CampaignStatus.PENDING and (campaign.policy_path, campaign.sha256) not in current:
                    campaign.status = CampaignStatus.RETIRED
                    s.add(campaign)
            await s.flush()
        return opened

    def _campaign_for(self, src: KbSource, text: str, meta: dict[str, object]) -> PushCampaign:
        apply_by = meta.get("apply_by")
        campaign = PushCampaign(
            policy_path=src.path, policy_name=src.name, sha256=src.sha256, title=src.title[:500],
            department=src.department, benefit=str(meta.get("benefit", "")),
            apply_by=date.fromisoformat(apply_by) if isinstance(apply_by, str) else None,
            summary=str(meta.get("summary", "")), created_at=self.now(),
        )
        applies_to = meta.get("applies_to")
        if isinstance(applies_to, dict):
            campaign.audience = Audience.from_dict(applies_to).as_dict()
            campaign.audience_origin = "front_matter"
            unknown = meta.get("unknown")
            campaign.unknown_terms = [str(u) for u in unknown] if isinstance(unknown, list) else []
        else:
            proposed = propose_audience(text, self.cfg.districts)
            campaign.audience = proposed.audience.as_dict()
            campaign.audience_origin = "proposed"
            campaign.evidence = {k: list(v) for k, v in proposed.evidence.items()}
        return campaign

    async def _policy_text(self, s: AsyncSession, src: KbSource) -> str:
        rows = (await s.exec(select(KbRecord).where(KbRecord.source_id == src.id)
                             .order_by(col(KbRecord.span_start)))).all()
        return "\n".join(str((r.data or {}).get("quote") or r.text) for r in rows)

    # ------------------------------------------------------------ reading
    async def list_campaigns(self, status: str | None = None, limit: int = 100) -> list[PushCampaign]:
        async with self.sessions() as s:
            stmt = select(PushCampaign).order_by(col(PushCampaign.id).desc()).limit(limit)
            if status:
                stmt = stmt.where(PushCampaign.status == status)
            return list((await s.exec(stmt)).all())

    async def get_campaign(self, campaign_id: int) -> PushCampaign:
        async with self.sessions() as s:
            return await self._campaign(s, campaign_id)

    async def _campaign(self, s: AsyncSession, campaign_id: int) -> PushCampaign:
        campaign = await s.get(PushCampaign, campaign_id)
        if campaign is None:
            raise PushError(f"没有编号为 {campaign_id} 的政策推送。")
        return campaign

    async def preview(self, campaign_id: int) -> CampaignPreview:
        """The policy, its audience, who it reaches and why, and the exact message."""
        async with self.sessions() as s:
            campaign = await self._campaign(s, campaign_id)
            audience = Audience.from_dict(campaign.audience)
            recipients = await self._recipients(s, audience)
            facts = await self.facts(s, campaign)
        matched_on = recipients.matched[0][1] if recipients.matched else [
            f"{DIMENSION_LABELS[d]}={'、'.join(v)}" for d, v in audience.as_dict().items() if v]
        return CampaignPreview(campaign, audience, recipients, facts, push_text(campaign, facts, matched_on))

    async def _recipients(self, s: AsyncSession, audience: Audience) -> Recipients:
        out = Recipients()
        enterprises = (await s.exec(select(Enterprise).where(col(Enterprise.tg_user_id).is_not(None))
                                    .order_by(col(Enterprise.id)))).all()
        for enterprise in enterprises:
            reasons = match(audience, profile_of(enterprise))
            if reasons is None:
                continue
            if enterprise.push_consent is not True:
                out.not_subscribed += 1
            elif enterprise.unreachable_at is not None:
                out.unreachable += 1
            else:
                out.matched.append((enterprise, reasons))
                out.reasons.update(reasons or ["全部企业"])
        return out

    async def facts(self, s: AsyncSession, campaign: PushCampaign) -> PolicyFacts:
        """What the pushed message quotes from the knowledge base (the policy's passages, the department)."""
        source = (await s.exec(select(KbSource).where(KbSource.path == campaign.policy_path))).first()
        records = [] if source is None else list((await s.exec(
            select(KbRecord).where(KbRecord.source_id == source.id).order_by(col(KbRecord.span_start)))).all())

        def quote(record: KbRecord) -> str:
            return str((record.data or {}).get("quote") or record.text)

        gain = next((quote(r) for r in records if any(w in r.section for w in _GAIN_SECTIONS)), "")
        if not gain and records:
            gain = quote(records[0])
        materials = next((quote(r) for r in records if "材料" in r.section), "")
        contact = ""
        if campaign.department:
            card = (await s.exec(select(KbRecord).where(KbRecord.kind == "department",
                                                        KbRecord.department == campaign.department,
                                                        KbRecord.section == ""))).first()
            if card is not None:
                data = card.data or {}
                parts = [f"地址：{data['address']}" if data.get("address") else "",
                         f"电话：{data['phone']}" if data.get("phone") else ""]
                contact = "；".join(p for p in parts if p)
        return PolicyFacts(gain=gain, materials=materials, contact=contact)

    # ------------------------------------------------------------ review
    async def set_audience(self, campaign_id: int, audience: Audience, *, by_tg_id: int | None) -> PushCampaign:
        async with self._tx() as s:
            await self._reviewer(s, by_tg_id)
            campaign = await self._pending(s, campaign_id)
            campaign.audience = audience.as_dict()
            campaign.audience_origin = "admin"
            campaign.unknown_terms = []
            s.add(campaign)
            return campaign

    async def approve(self, campaign_id: int, *, by_tg_id: int | None) -> PushCampaign:
        """Queue one delivery per matching, consenting, reachable enterprise; refused once decided."""
        try:
            async with self._tx() as s:
                reviewer = await self._reviewer(s, by_tg_id)
                campaign = await self._pending(s, campaign_id)
                recipients = await self._recipients(s, Audience.from_dict(campaign.audience))
                now = self.now()
                assert campaign.id is not None
                s.add_all(
                    PushDelivery(campaign_id=campaign.id, enterprise_id=e.id, tg_user_id=e.tg_user_id,
                                 kind=DeliveryKind.PUSH, matched_on=reasons, not_before=now, created_at=now)
                    for e, reasons in recipients.matched if e.id is not None and e.tg_user_id is not None
                )
                self._decide(campaign, CampaignStatus.APPROVED, reviewer)
                campaign.queued_count = len(recipients.matched)
                s.add(campaign)
                return campaign
        except IntegrityError as exc:  # a concurrent approval queued them first
            raise PushError(f"政策推送 #{campaign_id} 已经批准。") from exc

    async def discard(self, campaign_id: int, *, by_tg_id: int | None) -> PushCampaign:
        async with self._tx() as s:
            reviewer = await self._reviewer(s, by_tg_id)
            campaign = await self._pending(s, campaign_id)
            self._decide(campaign, CampaignStatus.DISCARDED, reviewer)
            s.add(campaign)
            return campaign

    async def _pending(self, s: AsyncSession, campaign_id: int) -> PushCampaign:
        campaign = await self._campaign(s, campaign_id)
        if campaign.status != CampaignStatus.PENDING:
            said = {"approved": "已经批准", "discarded": "已经放弃", "retired": "已被新版本替代"}.get(campaign.status, "")
            raise PushError(f"政策推送 #{campaign_id} {said}，不能再审核。")
        return campaign

    def _decide(self, campaign: PushCampaign, status: CampaignStatus, reviewer: Reviewer) -> None:
        campaign.status = status
        campaign.reviewed_at = self.now()
        campaign.reviewer_tg_id = reviewer.tg_id
        campaign.reviewer_name = reviewer.name


def _is_current(src: KbSource, today: date) -> bool:
    return not src.superseded_by and (src.expires is None or src.expires >= today)


__all__ = ["CampaignPreview", "Campaigns", "Recipients", "offers_benefit", "parse_audience_text"]
