"""Which of an owner's recent questions a new ticket carries: the turns that led to it, not the chat.

An owner asks about a business licence, then about tax, then presses 转人工 under the tax answer: the
commissioner who gets the tax ticket should read the tax question (and the tax questions just before
it), not the licence one. The rule: start from the question the intake came from, and walk back
through earlier turns while each is about the same department and came soon after the one before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

# Turns further apart than this belong to different visits, whatever their department.
SAME_VISIT = timedelta(minutes=30)


def _at(turn: Mapping[str, str]) -> datetime | None:
    try:
        return datetime.fromisoformat(turn.get("at", ""))
    except ValueError:
        return None


def turns_for_ticket(history: Sequence[Mapping[str, str]], question_id: int | None) -> list[Mapping[str, str]]:
    """The turns a ticket started from question `question_id` carries, oldest first.

    Without a question id the intake came from the last question asked (/desk), so that one anchors it;
    an id not in the history (a question scrolled out of it) anchors nothing: the owner describes the
    matter in the intake, and no unrelated turn is attached.
    """
    if not history:
        return []
    if question_id is None:
        anchor = len(history) - 1
    else:
        matches = [i for i, turn in enumerate(history) if str(turn.get("id", "")) == str(question_id)]
        if not matches:
            return []
        anchor = matches[-1]
    chosen = [history[anchor]]
    department = history[anchor].get("department", "")
    for turn in reversed(history[:anchor]):
        later, earlier = _at(chosen[0]), _at(turn)
        soon = later is not None and earlier is not None and timedelta(0) <= later - earlier <= SAME_VISIT
        if not (department and turn.get("department", "") == department and soon):
            break
        chosen.insert(0, turn)
    return chosen


def transcript_text(turns: Sequence[Mapping[str, str]]) -> str:
    """企业：… / 机器人：… lines, as the ticket stores them."""
    lines: list[str] = []
    for turn in turns:
        lines.append(f"企业：{turn.get('q', '')}")
        if turn.get("a"):
            lines.append(f"机器人：{turn['a']}")
    return "\n".join(lines)
