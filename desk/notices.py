"""What the desk's notifications say, per channel, in one place.

The desk stores a notification as its kind, its audience and a payload of facts (ticket number, title,
deadlines as ISO timestamps, names, notes) — the Desk service writes no sentence. Channels render the
facts here: `telegram` (the bot: the owner answers by replying in the chat) and `plain` (anything without
a reply box: the dashboard's outbox view, the CLI, an SMS or WeCom gateway one day). Rows written before
payloads existed carry their text and are shown as they were.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

Channel = Literal["telegram", "plain"]
Formatter = Callable[[datetime | None], str]
Facts = Mapping[str, Any]

# People's own words end with their own punctuation: "……3天来核查。" + "。" is not written twice.
_DOUBLE_STOP = re.compile(r"([。！？!?；;])[。；;]")


def _when(facts: Facts, key: str, fmt: Formatter) -> str:
    value = facts.get(key)
    return fmt(datetime.fromisoformat(value) if isinstance(value, str) and value else None)


def _staff(facts: Facts) -> str:
    return f"服务专员{facts.get('staff_name') or ''}"


def _reply_hint(channel: Channel, telegram: str, plain: str) -> str:
    return telegram if channel == "telegram" else plain


def _escalation_reason(f: Facts, fmt: Formatter) -> str:
    if f.get("overdue") == "accept":
        return f"超过受理时限 {_when(f, 'due_at', fmt)}（接收超期）"
    if f.get("overdue") == "resolve":
        return f"超过办结时限 {_when(f, 'due_at', fmt)}（处置超期）"
    return str(f.get("note", ""))


Render = Callable[[Facts, Formatter, Channel], str]

# (kind, audience) → sentence. A kind sent to several audiences has one entry per audience.
_TEXTS: dict[tuple[str, str], Render] = {
    ("created", "enterprise"): lambda f, fmt, ch: (
        f"您反映的问题已登记，工单号 {f['number']}。我们将在 {_when(f, 'accept_due_at', fmt)} 前受理，"
        f"并在受理后 {f['resolve_within_days']} 个工作日内办结。"
        + _reply_hint(ch, "\n之后您在这里发的文字消息都会转给专员；/mytickets 可查看进度。", "")
    ),
    ("new_ticket", "staff"): lambda f, fmt, ch: (
        f"【新工单】{f['number']}「{f['title']}」部门：{f['department'] or '未指定'}，卡点：{f['reason']}；"
        + (f"建议由 {f['assignee_name']} 受理" if f.get("assignee_name") else "进入待认领池")
        + f"。请于 {_when(f, 'accept_due_at', fmt)} 前受理。"
    ),
    ("unrouted", "leaders"): lambda f, fmt, ch: (
        f"【待交办】工单 {f['number']}「{f['title']}」的部门「{f['department'] or '未指定'}」没有服务专员，"
        f"已进入待认领池，请于 {_when(f, 'accept_due_at', fmt)} 前交办。"
    ),
    ("claimed", "enterprise"): lambda f, fmt, ch: (
        f"您的工单 {f['number']} 已由{_staff(f)}受理，将于 {_when(f, 'resolve_due_at', fmt)} 前办结。"
    ),
    ("claimed", "staff"): lambda f, fmt, ch: (
        f"{f['actor_name']} 已认领工单 {f['number']}，办结时限 {_when(f, 'resolve_due_at', fmt)}。"
    ),
    ("need_materials", "enterprise"): lambda f, fmt, ch: (
        f"工单 {f['number']} 需要您补充：{f['asked']}\n"
        + _reply_hint(ch, "请直接回复本消息。", "请通过政企直通车回复补充。")
        + "补充前办理时限暂停计算。"
    ),
    ("resumed", "enterprise"): lambda f, fmt, ch: (
        f"工单 {f['number']} 已恢复办理，办结时限 {_when(f, 'resolve_due_at', fmt)}。"
    ),
    ("escalated", "enterprise"): lambda f, fmt, ch: f"工单 {f['number']} 已提请领导督办。",
    ("reassigned", "staff"): lambda f, fmt, ch: (
        f"{f['actor_name']} 将工单 {f['number']} 交办给 {f['target_name']}"
        + (f"：{f['note']}" if f.get("note") else "。")
    ),
    ("co_department", "staff"): lambda f, fmt, ch: f"工单 {f['number']} 增加会办部门：{f['co_department']}。",
    ("rate_request", "enterprise"): lambda f, fmt, ch: (
        f"工单 {f['number']} 已办结：{f['note']}\n请评价：满意 / 基本满意 / 不满意（可附意见）。"
        f"{_when(f, 'rating_due_at', fmt)} 前未评价将按「未评价」销号。"
    ),
    ("reopened", "enterprise"): lambda f, fmt, ch: (
        f"收到您的评价。工单 {f['number']} 已重新办理，专员将于 {_when(f, 'followup_due_at', fmt)} 前回访。"
    ),
    ("followup", "staff"): lambda f, fmt, ch: (
        f"企业对工单 {f['number']} 不满意"
        + (f"：{f['comment']}" if f.get("comment") else "（企业未附意见，如有补充会另行转达）")
        + f"。请在 {_when(f, 'followup_due_at', fmt)} 前完成回访，并于 {_when(f, 'resolve_due_at', fmt)} 前重新办结。"
    ),
    ("closed", "enterprise"): lambda f, fmt, ch: (
        f"工单 {f['number']} 已对账销号：{f['note']}" if f.get("note") else f"感谢评价！工单 {f['number']} 已销号。"
    ),
    ("rated", "staff"): lambda f, fmt, ch: f"工单 {f['number']} 获评「{f['score']}」，已销号。",
    ("enterprise_message", "staff"): lambda f, fmt, ch: (
        f"【{f['number']} 企业不满意的原因】{f['text']}" if f.get("unhappy") else f"【{f['number']} 企业留言】{f['text']}"
    ),
    ("staff_message", "enterprise"): lambda f, fmt, ch: f"【{f['number']} {_staff(f)}】{f['text']}",
    ("followup_warn", "staff"): lambda f, fmt, ch: (
        f"【提醒】工单 {f['number']} 的回访将于 {_when(f, 'followup_due_at', fmt)} 到期。"
    ),
    ("followup_overdue", "leaders"): lambda f, fmt, ch: (
        f"【督办】工单 {f['number']} 的回访已超期（时限 {_when(f, 'followup_due_at', fmt)}）。"
    ),
    ("accept_warn", "staff"): lambda f, fmt, ch: (
        f"【提醒】工单 {f['number']} 将于 {_when(f, 'accept_due_at', fmt)} 接收超期，请尽快认领。"
    ),
    ("resolve_overdue", "staff"): lambda f, fmt, ch: f"工单 {f['number']} 已处置超期，已报领导督办。",
    ("resolve_warn", "staff"): lambda f, fmt, ch: (
        f"【提醒】工单 {f['number']} 将于 {_when(f, 'resolve_due_at', fmt)} 到达办结时限。"
    ),
    ("closed_unrated", "enterprise"): lambda f, fmt, ch: (
        f"工单 {f['number']} 超过评价期限，已按「未评价」销号。如问题仍未解决，可重新反映。"
    ),
    ("rating_reminder", "enterprise"): lambda f, fmt, ch: (
        f"工单 {f['number']} 已办结，请您评价：满意 / 基本满意 / 不满意。"
        f"{_when(f, 'rating_due_at', fmt)} 前未评价将自动销号。"
    ),
    ("waiting_reminder", "enterprise"): lambda f, fmt, ch: (
        f"【提醒】工单 {f['number']} 仍在等待您补充：{f['asked']}\n"
        + _reply_hint(ch, "请直接回复本消息补充；如暂时无法提供，也请回复说明情况。",
                      "请通过政企直通车回复补充；如暂时无法提供，也请回复说明情况。")
        + "补充前办理时限暂停计算。"
    ),
    ("waiting_reminder", "staff"): lambda f, fmt, ch: (
        f"【提醒】工单 {f['number']} 自 {_when(f, 'paused_at', fmt)} 起等待企业补充（{f['asked']}），已满 "
        f"{f['days']} 个工作日仍未答复，已再次提醒企业。"
    ),
    ("waiting_giveup", "staff"): lambda f, fmt, ch: (
        f"【请跟进】工单 {f['number']} 自 {_when(f, 'paused_at', fmt)} 起等待企业补充（{f['asked']}），已满 "
        f"{f['days']} 个工作日仍无答复。请电话联系企业跟进；如确实无法继续办理，请填写说明后办结。系统不会自动销号。"
    ),
    ("waiting_giveup", "leaders"): lambda f, fmt, ch: (
        f"【关注】工单 {f['number']}「{f['title']}」（{f['department'] or '未指定部门'}）等待企业补充已满 "
        f"{f['days']} 个工作日仍无答复，已请承办专员电话跟进或说明办结。"
    ),
}


def _escalation(f: Facts, fmt: Formatter, ch: Channel) -> str:
    return (
        f"【督办】工单 {f['number']}「{f['title']}」（{f['department'] or '未指定部门'}）："
        f"{_escalation_reason(f, fmt)}。请领导领办或指派。"
    )


def known(kind: str, audience: str) -> bool:
    return (kind, audience) in _TEXTS or (audience == "leaders" and kind.startswith("escalate"))


def render(kind: str, audience: str, facts: Facts, fmt: Formatter, channel: Channel = "plain",
           legacy_text: str = "") -> str:
    """The sentence for one notification on `channel`; `fmt` formats a deadline in the desk's timezone."""
    if not facts and legacy_text:
        return legacy_text  # written before notifications carried facts
    if audience == "leaders" and kind.startswith("escalate"):
        text = _escalation(facts, fmt, channel)
    else:
        template = _TEXTS.get((kind, audience))
        if template is None:
            raise KeyError(f"no wording for notification kind {kind!r} to {audience!r}")
        text = template(facts, fmt, channel)
    return _DOUBLE_STOP.sub(r"\1", text)
