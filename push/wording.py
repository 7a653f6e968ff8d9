"""The message an enterprise reads when a policy is pushed to it, and its reminder: one place, plain text.

Every line is a fixed phrase or copied from the policy (front matter, the file's own passages, the
department's card in the directory): an admin reviewing the push sees exactly what will be sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from push.models import Benefit, PushCampaign

MAX_GAIN_CHARS = 160
MAX_MATERIALS_CHARS = 120


@dataclass(frozen=True, slots=True)
class PolicyFacts:
    """What the knowledge base says about a pushed policy beyond its front matter."""

    gain: str = ""  # what an enterprise gets: the summary, else the passage on 标准/内容
    materials: str = ""  # the passage on 材料, when the policy has one
    contact: str = ""  # the department's 地址/电话 from the directory


def clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip("，,；;、 ") + "…"


def _how(campaign: PushCampaign, facts: PolicyFacts) -> list[str]:
    department = campaign.department or "政策发布部门"
    contact = f"（{facts.contact}）" if facts.contact else ""
    if campaign.benefit == Benefit.AUTOMATIC:
        return [f"怎么享受：免申即享，无需申请，符合条件的将自动兑现；兑现后可向{department}查询{contact}。"]
    lines = [f"怎么申请：向{department}申请{contact}。"]
    if facts.materials:
        lines.append(f"所需材料：{clip(facts.materials, MAX_MATERIALS_CHARS)}")
    if campaign.apply_by is not None:
        lines.append(f"申报截止：{campaign.apply_by.isoformat()}")
    return lines


def push_text(campaign: PushCampaign, facts: PolicyFacts, matched_on: Sequence[str]) -> str:
    """The push: title, why you, what you get, how, the citation."""
    lines = [f"【惠企政策直达】《{campaign.title or campaign.policy_name}》"]
    why = "、".join(matched_on) if matched_on else "您已订阅政策推送，本政策面向全部企业"
    lines.append(f"为什么推送给您：{why}")
    gain = campaign.summary or facts.gain
    if gain:
        lines.append(f"政策内容：{clip(gain, MAX_GAIN_CHARS)}")
    lines.extend(_how(campaign, facts))
    lines.append(f"来源：「{campaign.policy_name}」")
    lines.append("如不适用请点“不适用”告诉我们原因；不想再收到推送可点“退订”，或随时发送 /unsubscribe。")
    return "\n".join(lines)


def reminder_text(campaign: PushCampaign, facts: PolicyFacts, today: date) -> str:
    """The reminder before 申报截止 to those who neither applied nor said 不适用."""
    assert campaign.apply_by is not None
    days = (campaign.apply_by - today).days
    when = "今天截止" if days <= 0 else f"还有 {days} 天截止（{campaign.apply_by.isoformat()}）"
    lines = [f"【申报提醒】《{campaign.title or campaign.policy_name}》{when}。"]
    lines.extend(line for line in _how(campaign, facts) if not line.startswith("申报截止"))
    lines.append(f"来源：「{campaign.policy_name}」")
    lines.append("已经申报的请点“已申报”，不适用的请点“不适用”，之后不再提醒。")
    return "\n".join(lines)


__all__ = ["PolicyFacts", "push_text", "reminder_text"]
