"""Enterprise owners and their tickets: /mytickets, relaying messages to the commissioner, rating (+ comment)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from desk.errors import DeskError
from desk.states import AuthorKind, TicketState
from handlers import keyboards, render, texts
from handlers.common import album_continues, answer_callback, reply_text, user_id
from handlers.outbox import copy_into_thread, kick_outbox

log = logging.getLogger(__name__)

_RATE_SCORES = dict(texts.RATE_LABELS)
# After a rating button, the owner's next text (within the window) is the rating's comment. The rating
# itself is already recorded; any command or other button drops the invitation.
RATING_COMMENT_KEY = "rating_comment"
RATING_COMMENT_WINDOW_S = 30 * 60.0


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


# Attachments that carry materials (回执, 证照, 现场照片…) and are worth a commissioner's eyes; stickers,
# locations, contacts and the like are not relayed.
RELAYABLE_MEDIA = (filters.PHOTO | filters.Document.ALL | filters.VIDEO | filters.VOICE | filters.AUDIO
                   | filters.VIDEO_NOTE)


def attachment_note(message: Message) -> tuple[str, str] | None:
    """(kind label, the desk's record of it) for a relayable attachment, else None."""
    field = next((k for k in texts.ATTACHMENT_KINDS if getattr(message, k, None)), None)  # same set as above
    if field is None:
        return None
    kind = texts.ATTACHMENT_KINDS[field]
    if message.document is not None and message.document.file_name:
        kind = f"{kind}「{message.document.file_name[:80]}」"
    return kind, texts.ATTACHMENT_NOTE.format(kind=kind, caption=(message.caption or "").strip())


async def relay_attachment_to_ticket(update: Update, context: BotContext) -> bool:
    """A photo/file/voice from an owner with an open ticket: copied to its topic and noted on the ticket.

    The note goes through the desk (recorded, delivered by the outbox like any message), so even when the
    copy fails the commissioner learns that something was sent; the owner is told either way.
    """
    message = update.effective_message
    noted = attachment_note(message) if message is not None else None
    if message is None or noted is None:
        return False
    desk = context.services.desk
    ticket = await desk.open_ticket_for_enterprise(user_id(update))
    if ticket is None:
        return False
    kind, note = noted
    copied = await copy_into_thread(context, ticket, message.chat_id, message.message_id)
    try:
        await desk.add_message(ticket.id, AuthorKind.ENTERPRISE, user_id(update),
                               note if copied else f"{note}{texts.ATTACHMENT_NOT_COPIED}")
    except DeskError as exc:
        await reply_text(update, context, exc.message)
        return True
    kick_outbox(context)
    if album_continues(context, message) and copied:
        return True  # confirmed with the album's first item
    reply = texts.RELAYED_ATTACHMENT if copied else texts.ATTACHMENT_KEPT
    await reply_text(update, context, reply.format(kind=kind, number=ticket.number))
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
    context.udata[RATING_COMMENT_KEY] = {"ticket_id": ticket_id, "at": time.time()}
    prompt = texts.RATE_COMMENT_PROMPT_UNHAPPY if code == "u" else texts.RATE_COMMENT_PROMPT
    await reply_text(update, context, prompt.format(minutes=int(RATING_COMMENT_WINDOW_S // 60)))


async def take_rating_comment(update: Update, context: BotContext, text: str) -> bool:
    """If a rating comment was invited (and not expired), attach ``text`` to it; False otherwise.

    A refusal by the desk (e.g. text too long) falls through, so the message is handled as usual, never lost.
    """
    pending = context.udata.pop(RATING_COMMENT_KEY, None)
    if not pending or time.time() - float(pending["at"]) > RATING_COMMENT_WINDOW_S:
        return False
    try:
        ticket = await context.services.desk.add_rating_comment(pending["ticket_id"], user_id(update), text)
    except DeskError as exc:
        log.info("rating comment not taken: %s", exc.message)
        return False
    kick_outbox(context)
    relayed = ticket.state is not TicketState.CLOSED  # 不满意: the ticket is reopened and its commissioner got the comment
    reply = texts.RATE_COMMENT_RELAYED if relayed else texts.RATE_COMMENT_SAVED
    await reply_text(update, context, reply.format(number=ticket.number))
    return True


async def on_skip(update: Update, context: BotContext) -> None:
    """/skip — no comment on the rating."""
    had = context.udata.pop(RATING_COMMENT_KEY, None) is not None
    await reply_text(update, context, texts.RATE_COMMENT_SKIPPED if had else texts.NOTHING_TO_SKIP)


async def drop_rating_comment(update: Update, context: BotContext) -> None:
    """Any command (except /skip, which answers) or other button: the invitation to comment lapses."""
    message = update.effective_message
    if message is not None and message.text and message.text.split()[0].split("@")[0].lower() == "/skip":
        return
    if context.user_data:
        context.user_data.pop(RATING_COMMENT_KEY, None)


def handlers() -> list[Any]:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("mytickets", my_tickets, filters=private),
        CommandHandler("skip", on_skip, filters=private),
        CallbackQueryHandler(on_rate, pattern=keyboards.RATE),
    ]


def lapse_handlers() -> list[Any]:
    """Run in their own group before group 0, without stopping the update: they only drop the invitation."""
    return [
        MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, drop_rating_comment),
        CallbackQueryHandler(drop_rating_comment, pattern=r"^(?!rate:)"),
    ]
