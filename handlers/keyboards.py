"""Inline keyboards and the callback-data grammar.

Callback data is short ASCII (Telegram allows 64 bytes) and parsed strictly by :func:`parse`: anything a
client invents or tampers with fails to parse and gets a polite "button expired" answer, never an action.
Authorisation is checked again by the desk on every action, so a well-formed but foreign id is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers import texts

# prefix → regex of the whole callback data
PATTERNS: dict[str, re.Pattern[str]] = {
    "fb": re.compile(r"^fb:(u|d):(\d{1,20})$"),  # feedback on question log row
    "esc": re.compile(r"^esc:(\d{1,20})$"),  # escalate the question (0: none)
    "mat": re.compile(r"^mat:(\d{1,20})$"),  # materials of the question's service
    "mt": re.compile(r"^mt:(same)$"),  # intake: matter = last question
    "rsn": re.compile(r"^rsn:([0-5])$"),  # intake: 卡点 reason index
    "cf": re.compile(r"^cf:(ok|no)$"),  # intake: confirm
    "rate": re.compile(r"^rate:(\d{1,12}):(s|b|u)$"),  # rating of a ticket
    "tk": re.compile(r"^tk:(claim|xfer|need|done|up):(\d{1,12})$"),  # staff ticket action
    "xf": re.compile(r"^xf:(\d{1,12}):(\d{1,16})$"),  # transfer ticket to staff id
    "fwd": re.compile(r"^fwd:(\d{1,20})$"),  # forward an answered question to the open ticket
    "fu": re.compile(r"^fu:(\d{1,12})$"),  # record the 回访 of a ticket's open follow-up task
}

# Handlers filter on these (a tampered prefix falls through to the catch-all).
FB, ESC, MAT, MT, RSN, CF, RATE, TK, XF, FWD, FU = (f"^{k}:" for k in PATTERNS)


@dataclass(frozen=True)
class Callback:
    kind: str
    args: tuple[str, ...]


def parse(data: str | None) -> Callback | None:
    """Parse callback data; None when it matches no known pattern."""
    if not data or len(data) > 64:
        return None
    prefix = data.split(":", 1)[0]
    pattern = PATTERNS.get(prefix)
    if pattern is None:
        return None
    match = pattern.fullmatch(data)
    return Callback(prefix, match.groups()) if match else None


def answer_keyboard(question_id: int, *, has_service: bool) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(texts.BTN_USEFUL, callback_data=f"fb:u:{question_id}"),
            InlineKeyboardButton(texts.BTN_USELESS, callback_data=f"fb:d:{question_id}"),
        ],
        [InlineKeyboardButton(texts.BTN_ESCALATE, callback_data=f"esc:{question_id}")],
    ]
    if has_service:
        rows[1].append(InlineKeyboardButton(texts.BTN_MATERIALS, callback_data=f"mat:{question_id}"))
    return InlineKeyboardMarkup(rows)


def forward_to_ticket(question_id: int) -> InlineKeyboardMarkup:
    """Under an answer given while a ticket is open: send the message to the commissioner after all."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BTN_FORWARD, callback_data=f"fwd:{question_id}")]])


def new_matter() -> InlineKeyboardMarkup:
    """Under the open ticket shown by /desk: report another matter anyway."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BTN_NEW_MATTER, callback_data="esc:0")]])


def escalate_only(question_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BTN_ESCALATE, callback_data=f"esc:{question_id}")]])


def use_question() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BTN_USE_QUESTION, callback_data="mt:same")]])


def reasons() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(label, callback_data=f"rsn:{i}") for i, (_, label) in enumerate(texts.REASON_LABELS)
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def confirm() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(texts.BTN_CONFIRM, callback_data="cf:ok"),
        InlineKeyboardButton(texts.BTN_CANCEL, callback_data="cf:no"),
    ]])


def rating(ticket_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(label, callback_data=f"rate:{ticket_id}:{code}") for code, label in texts.RATE_LABELS
    ]])


def staff_ticket(ticket_id: int, *, claimable: bool = True) -> InlineKeyboardMarkup:
    """The ticket card's actions; 认领 only while someone can still claim it (the desk checks anyway)."""
    def b(label: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=f"tk:{action}:{ticket_id}")

    first = [b(texts.BTN_TRANSFER, "xfer"), b(texts.BTN_NEED, "need")]
    return InlineKeyboardMarkup([
        [b(texts.BTN_CLAIM, "claim"), *first] if claimable else first,
        [b(texts.BTN_RESOLVE, "done"), b(texts.BTN_UPGRADE, "up")],
    ])


def followup(ticket_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BTN_FOLLOWUP, callback_data=f"fu:{ticket_id}")]])


def transfer_targets(ticket_id: int, targets: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(name, callback_data=f"xf:{ticket_id}:{sid}") for sid, name in targets[:12]]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])
