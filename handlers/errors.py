"""Global error handler and the gatekeepers that run before every other handler (edits, flood control)."""

from __future__ import annotations

import logging
import uuid

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext
from core.db import is_database_busy
from handlers import texts
from handlers.common import answer_callback, reply_text

log = logging.getLogger(__name__)

FLOOD_ALBUM_KEY = "flood_album"  # media_group_id the flood gate counted last for this user


async def on_error(update: object, context: BotContext) -> None:
    """Log the exception with an error id and tell the user politely (no internals in the chat)."""
    error_id = uuid.uuid4().hex[:8]
    busy = is_database_busy(context.error)
    if busy:  # a full database is a load condition, not a bug: no traceback, a plain "busy" to the user
        log.warning("error %s: database busy (%s)", error_id, type(context.error).__name__)
    else:
        log.error("error %s while handling an update", error_id, exc_info=context.error)
    if not isinstance(update, Update):
        return
    text = texts.BUSY if busy else texts.ERROR_GENERIC.format(error_id=error_id)
    try:
        if update.callback_query is not None:
            await answer_callback(update, text, alert=True)
        elif update.effective_chat is not None:
            await reply_text(update, context, text)
    except Exception:  # the error reply itself failed (e.g. network): the log has everything
        log.warning("could not send the error reply for %s", error_id, exc_info=True)


async def flood_gate(update: Update, context: BotContext) -> None:
    """Throttle a user who floods the bot in private chat; others are unaffected."""
    user = update.effective_user
    chat = update.effective_chat
    # Only messages (and edits, which get a reply too) count: button presses are cheap to answer and an
    # intake is several presses in a row.
    if user is None or chat is None or chat.type != ChatType.PRIVATE or update.effective_message is None \
            or update.callback_query is not None:
        return
    if user.id in context.services.settings.telegram.admin_ids:
        return  # configured admins upload files in bursts; they are trusted
    album = update.effective_message.media_group_id
    if album is not None:
        # An album (up to 10 photos/files sent at once) arrives as one update per item: count it once.
        if context.udata.get(FLOOD_ALBUM_KEY) == album:
            return
        context.udata[FLOOD_ALBUM_KEY] = album
    decision = await context.services.flood.check(user.id)
    if decision.allowed:
        return
    log.info("flood: user %s throttled for %.1fs", user.id, decision.retry_after_s)
    if decision.notify:
        await reply_text(update, context, texts.FLOOD.format(seconds=max(1, round(decision.retry_after_s))))
    raise ApplicationHandlerStop


async def edited_message_gate(update: Update, context: BotContext) -> None:
    """An edited message is not a new message: stop it before any handler takes it as one.

    PTB hands edits to the same handlers as new messages, so an owner fixing a typo would otherwise
    advance an intake step twice, relay the text to the commissioner again, or re-ask the question.
    In private chat the owner is told to send the corrected text as a new message; staff edits in the
    group are ignored quietly (a topic is a record, not a place for bot chatter).
    """
    if update.edited_message is None:
        return
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE:
        await reply_text(update, context, texts.EDIT_IGNORED)
    raise ApplicationHandlerStop
