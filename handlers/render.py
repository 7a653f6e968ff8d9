"""Telegram HTML rendering: escaping, answer cards, ticket cards, and splitting within 4096 characters.

Everything that reaches Telegram with parse_mode=HTML goes through :func:`esc` (user and document text
may contain < > &, which would otherwise break the message or inject markup). Tags are only ever
opened and closed within one line, so :func:`split_html` can cut between lines without unbalancing them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from desk.states import TicketState
from handlers import texts
from knowledge.answer import Answer
from knowledge.types import Record

TELEGRAM_LIMIT = 4096
# Headroom: Telegram counts UTF-16 units after parsing; we count characters before parsing.
SAFE_LIMIT = 3900


def esc(value: object) -> str:
    """Escape any value for Telegram HTML."""
    return html.escape(str(value), quote=False)


def bold(value: object) -> str:
    return f"<b>{esc(value)}</b>"


def lines_html(text: str) -> list[str]:
    """Plain multi-line text → escaped lines (keeps blank lines)."""
    return [esc(line) for line in text.splitlines()]


def split_html(lines: Sequence[str], limit: int = SAFE_LIMIT) -> list[str]:
    """Pack HTML lines (each self-contained) into messages of at most ``limit`` characters.

    A single line longer than the limit is cut at a position outside tags and entities.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        for piece in _cut_line(line, limit):
            extra = len(piece) + (1 if current else 0)
            if current and size + extra > limit:
                chunks.append("\n".join(current))
                current, size = [], 0
                extra = len(piece)
            current.append(piece)
            size += extra
    if current:
        chunks.append("\n".join(current))
    return [c for c in (chunk.strip("\n") for chunk in chunks) if c.strip()] or [""]


def _cut_line(line: str, limit: int) -> Iterable[str]:
    if len(line) <= limit:
        yield line
        return
    # A long line: strip its markup (it is only emphasis) and cut the plain text safely.
    plain = html.unescape(_strip_tags(line))
    step = limit // 2  # escaping can at most ~5x a few characters; halving keeps every piece under limit
    for start in range(0, len(plain), step):
        yield esc(plain[start : start + step])


def _strip_tags(value: str) -> str:

    return re.sub(r"<[^>]*>", "", value)


def fmt_time(value: datetime | None, tz: str = "Asia/Shanghai") -> str:
    """A deadline as local time, e.g. 2026-11-23 17:30."""
    if value is None:
        return "—"
    if value.tzinfo is None:

        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def kb_summary(stats: dict[str, Any], *, tz: str) -> str:
    """/kb: the knowledge base in Chinese labels, the last ingest in the desk's time zone (to the minute)."""
    per_kind = stats.get("per_kind") or {}
    last = stats.get("last_ingest")
    when = "—"
    if last:
        try:
            when = fmt_time(datetime.fromisoformat(str(last)), tz)
        except ValueError:
            when = str(last)
    retired = int(stats.get("not_current") or 0)
    return texts.KB_TEXT.format(
        departments=stats.get("departments", 0), department_records=per_kind.get("department", 0),
        services=per_kind.get("service", 0), policies=per_kind.get("policy", 0),
        not_current=texts.KB_NOT_CURRENT.format(count=retired) if retired else "",
        files=stats.get("files", 0), vectors=stats.get("vectors", 0), embedder=stats.get("embedder", ""),
        last_ingest=when,
    )


# ---------------------------------------------------------------- answers
def answer_messages(answer: Answer) -> list[str]:
    """The knowledge core's Answer → HTML messages: the composed text, then the cited sources."""
    lines: list[str] = []
    text = str(getattr(answer, "text", "") or "").strip()
    body = text.splitlines()
    if body:
        # The first line of the composed answer is its headline.
        lines.append(bold(body[0]))
        lines.extend(esc(line) for line in body[1:])
    citations = _citations(answer)
    # The composed text ends with its own 来源 line: a second list of sources would only repeat it.
    if citations and "来源：" not in text and not all(c in text for c in citations):
        lines.append("")
        lines.append(bold(texts.ANSWER_SOURCES) + "：")
        lines.extend(f"· {esc(c)}" for c in citations)
    if getattr(answer, "route_to_desk", False):
        lines.append("")
        reason = str(getattr(answer, "reason", "") or "")
        complaint = bool(reason) and "没有找到" not in reason
        lines.append(esc(texts.ANSWER_ROUTE if complaint else texts.ANSWER_ROUTE_UNCOVERED))
        if complaint:
            lines.append(esc(texts.ANSWER_ROUTE_REASON.format(reason=reason)))
    return split_html(lines)


def _citations(answer: Answer, limit: int = 3) -> list[str]:
    seen: list[str] = []
    for hit in list(getattr(answer, "hits", []) or [])[:limit]:
        citation = str(getattr(hit.record, "citation", "") or "")
        if citation and citation not in seen:
            seen.append(citation)
    return seen


def top_service(answer: Answer) -> Record | None:
    """The best service record among the answer's hits (for 查看材料清单), if any."""
    for hit in list(getattr(answer, "hits", []) or [])[:3]:
        if getattr(hit.record, "kind", "") == "service":
            return hit.record
    return None


def materials_message(record: Record) -> list[str]:
    data = dict(getattr(record, "data", {}) or {})
    lines = [bold(texts.MATERIALS_TITLE.format(title=record.title))]
    materials = data.get("materials") or data.get("办理材料") or ""
    if isinstance(materials, list | tuple):
        items = [str(m) for m in materials if str(m).strip()]
    else:
        items = [m.strip() for m in _split_items(str(materials)) if m.strip()]
    if items:
        lines.extend(f"{i}. {esc(item)}" for i, item in enumerate(items, 1))
    else:
        lines.append(esc(texts.MATERIALS_NONE))
    phone = data.get("phone") or ""
    if phone:
        lines.append(esc(texts.MATERIALS_PHONE.format(phone=phone)))
    if getattr(record, "citation", ""):
        lines.append(esc(f"{texts.ANSWER_SOURCES}：{record.citation}"))
    return split_html(lines)


def _split_items(value: str) -> list[str]:

    # Directory cells list materials separated by newlines, ；/; or numbered "1." / "1、".
    parts = re.split(r"[\n；;]|(?:(?<=\s)|^)\d+[.、．)]\s*", value)
    return [p.strip(" 、，,") for p in parts if p and p.strip(" 、，,")]


# ---------------------------------------------------------------- tickets
def ticket_card(ticket: Any, *, tz: str, enterprise: str = "", assignee: str = "") -> list[str]:
    """The staff-side card of a ticket (HTML lines)."""
    text = texts.TICKET_CARD.format(
        number=ticket.number,
        state=_state_label(ticket),
        enterprise=(enterprise or getattr(ticket, "enterprise_name", "") or ticket.requester_name or "—")
        + (f"（{profile}）" if (profile := getattr(ticket, "enterprise_profile", "")) else ""),
        title=ticket.title,
        department=ticket.department or "—",
        reason=ticket.reason,
        accept_due=fmt_time(ticket.accept_due_at, tz),
        resolve_due=fmt_time(ticket.resolve_due_at, tz),
        assignee=assignee or getattr(ticket, "assignee_name", "") or texts.UNASSIGNED,
        description=ticket.description or "—",
    )
    lines = lines_html(text)
    lines[0] = f"<b>{lines[0]}</b>"
    transcript = (ticket.transcript or "").strip()
    if transcript:
        lines.append("")
        lines.append(bold(texts.TRANSCRIPT_TITLE))
        lines.extend(f"<i>{esc(line)}</i>" if line.strip() else "" for line in transcript.splitlines()[-40:])
    return lines


def _state_label(ticket: Any) -> str:
    label = getattr(ticket, "state_label", "")
    if label:
        return str(label)

    try:
        return TicketState(ticket.state).label
    except ValueError:
        return str(ticket.state)


def state_label(ticket: Any) -> str:
    """The ticket's state in Chinese."""
    return _state_label(ticket)


def ticket_line(ticket: Any, *, tz: str) -> str:
    due = ticket.resolve_due_at or ticket.accept_due_at
    return esc(texts.QUEUE_LINE.format(
        number=ticket.number,
        state=_state_label(ticket),
        department=ticket.department or "—",
        title=_short(ticket.title, 30),
        assignee=getattr(ticket, "assignee_name", "") or texts.UNASSIGNED,
        due=texts.QUEUE_DUE.format(due=fmt_time(due, tz)) if due else "",
    ))


def _short(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def plain_messages(text: str) -> list[str]:
    """Plain text (already Chinese, maybe long) → escaped HTML messages."""
    return split_html(lines_html(text))
