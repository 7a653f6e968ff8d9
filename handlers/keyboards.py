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
    # profile editor: open a menu (i/s/d/t), set industry/size/district (index, -1 clears), toggle a tag,
    # set consent, back to the card, done
    "pf": re.compile(r"^pf:(menu:[isdt]|[isd]:-?\d{1,3}|t:\d{1,3}|c:[01]|card|done)$"),
    # a pushed policy: 详细了解, 不适用 (then its reason), 已申报, 退订
    "ps": re.compile(r"^ps:(more|na|ap|un):(\d{1,16})$"),
    "pr": re.compile(r"^pr:(\d{1,16}):(\d)$"),
    # admin review of a campaign: view, approve, discard
    "pa": re.compile(r"^pa:(view|ok|no):(\d{1,12})$"),
}

# Handlers filter on these (a tampered prefix falls through to the catch-all).
FB, ESC, MAT, MT, RSN, CF, RATE, TK, XF, FWD, FU, PF, PS, PR, PA = (f"^{k}:" for k in PATTERNS)


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


# ---------------------------------------------------------------- 惠企政策直达
def _rows(buttons: list[InlineKeyboardButton], width: int = 2) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def profile_card(consent: bool | None) -> InlineKeyboardMarkup:
    """Under the enterprise profile: edit each field, agree to or stop pushes, done."""
    fields = [InlineKeyboardButton(texts.BTN_PROFILE_INDUSTRY, callback_data="pf:menu:i"),
              InlineKeyboardButton(texts.BTN_PROFILE_SIZE, callback_data="pf:menu:s"),
              InlineKeyboardButton(texts.BTN_PROFILE_DISTRICT, callback_data="pf:menu:d"),
              InlineKeyboardButton(texts.BTN_PROFILE_TAGS, callback_data="pf:menu:t")]
    consent_button = (InlineKeyboardButton(texts.BTN_PUSH_STOP, callback_data="pf:c:0") if consent
                      else InlineKeyboardButton(texts.BTN_PUSH_AGREE, callback_data="pf:c:1"))
    return InlineKeyboardMarkup([*_rows(fields), [consent_button],
                                 [InlineKeyboardButton(texts.BTN_PROFILE_DONE, callback_data="pf:done")]])


def profile_choices(kind: str, options: list[str], chosen: list[str]) -> InlineKeyboardMarkup:
    """One menu of the profile editor: industries, sizes, districts (pick one) or tags (toggle)."""
    buttons = [InlineKeyboardButton(("✓ " if option in chosen else "") + option, callback_data=f"pf:{kind}:{i}")
               for i, option in enumerate(options)]
    tail = [InlineKeyboardButton(texts.BTN_PROFILE_BACK, callback_data="pf:card")]
    if kind != "t":
        tail.insert(0, InlineKeyboardButton(texts.BTN_PROFILE_CLEAR, callback_data=f"pf:{kind}:-1"))
    return InlineKeyboardMarkup([*_rows(buttons, 1 if kind == "i" else 2), tail])


def push_message(delivery_id: int, *, asks_application: bool) -> InlineKeyboardMarkup:
    """Under a pushed policy or its reminder."""
    first = [InlineKeyboardButton(texts.BTN_PUSH_MORE, callback_data=f"ps:more:{delivery_id}"),
             InlineKeyboardButton(texts.BTN_PUSH_NA, callback_data=f"ps:na:{delivery_id}")]
    second = [InlineKeyboardButton(texts.BTN_PUSH_UNSUB, callback_data=f"ps:un:{delivery_id}")]
    if asks_application:
        second.insert(0, InlineKeyboardButton(texts.BTN_PUSH_APPLIED, callback_data=f"ps:ap:{delivery_id}"))
    return InlineKeyboardMarkup([first, second])


def not_applicable_reasons(delivery_id: int, reasons: tuple[str, ...]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(r, callback_data=f"pr:{delivery_id}:{i}") for i, r in enumerate(reasons)]
    return InlineKeyboardMarkup(_rows(buttons, 3))


def campaign_list(campaigns: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label[:60], callback_data=f"pa:view:{cid}")]
                                 for cid, label in campaigns[:20]])


def campaign_review(campaign_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(texts.BTN_PUSH_APPROVE, callback_data=f"pa:ok:{campaign_id}"),
        InlineKeyboardButton(texts.BTN_PUSH_DISCARD, callback_data=f"pa:no:{campaign_id}"),
    ]])
