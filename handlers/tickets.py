"""Enterprise owners and their tickets: /mytickets, relaying messages to the commissioner, rating."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from bot.desk.errors import DeskError
from bot.desk.states import AuthorKind
from handlers import keyboards, render, texts
from handlers.common import answer_callback, kick_outbox, reply_text, user_id

log = logging.getLogger(__name__)

_RATE_SCORES = dict(texts.RATE_LABELS)


async def relay_to_ticket(update: Update, context: BotContext, text: str) -> bool:
    """If the owner has an open ticket, relay ``text`` to it and say so; False when there is none."""
    desk = context.services.desk
    ticket = await desk.open_ticket_for_enterprise(user_id(update))
    if ticket is None:
        return False
    try:
        await desk.add_message(ticket.id, AuthorKind.ENTERPRISE, user_id(update), text)
    except DeskError as exc:
        await reply_text(update, context, exc.message)
        return True
    kick_outbox(context)
    await reply_text(update, context, texts.RELAYED_TO_STAFF.format(number=ticket.number))
    return True


async def my_tickets(update: Update, context: BotContext) -> None:
    """/mytickets — the owner's tickets with their states and deadlines."""
    settings = context.services.settings
    tickets = await context.services.desk.list_enterprise_tickets(user_id(update))
    if not tickets:
        await reply_text(update, context, texts.MYTICKETS_EMPTY)
        return
    lines = [texts.MYTICKETS_TITLE]
    for t in tickets:
        due = t.resolve_due_at if t.state not in ("resolved", "closed") else None
        lines.append(texts.MYTICKETS_LINE.format(
            number=t.number, title=t.title[:40], state=t.state_label,
            due=texts.MYTICKETS_DUE.format(due=render.fmt_time(due, settings.desk.timezone)) if due else "",
        ))
    await reply_text(update, context, "\n".join(lines))


async def on_rate(update: Update, context: BotContext) -> None:
    """满意 / 基本满意 / 不满意 on a resolved ticket (the desk checks it is the owner's and resolved)."""
    query = update.callback_query
    parsed = keyboards.parse(query.data if query else None)
    if query is None or parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    ticket_id, code = int(parsed.args[0]), parsed.args[1]
    score = _RATE_SCORES[code]
    try:
        await context.services.desk.rate(ticket_id, user_id(update), score)
    except DeskError as exc:
        await answer_callback(update, exc.message, alert=True)
        return
    kick_outbox(context)
    await answer_callback(update, texts.RATE_THANKS.format(score=score))
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)  # the buttons are spent


def handlers() -> list[Any]:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("mytickets", my_tickets, filters=private),
        CallbackQueryHandler(on_rate, pattern=keyboards.RATE),
    ]
