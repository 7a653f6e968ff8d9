"""Small helpers shared by the role modules: sending split HTML, who is asking, safe callback answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from telegram import (
    ForceReply,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.context import BotContext
from handlers import render

log = logging.getLogger(__name__)

# Inline buttons under a message, or the reply keyboard (e.g. 发送手机号) and its removal.
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


async def send_html(
    context: BotContext,
    chat_id: int,
    chunks: Sequence[str],
    *,
    keyboard: ReplyMarkup | None = None,
    thread_id: int | None = None,
    reply_to: int | None = None,
) -> Message:
    """Send pre-split HTML chunks; the keyboard goes on the last one. Returns the last message."""
    messages = await send_html_all(context, chat_id, chunks, keyboard=keyboard, thread_id=thread_id,
                                   reply_to=reply_to)
    return messages[-1]


async def send_html_all(
    context: BotContext,
    chat_id: int,
    chunks: Sequence[str],
    *,
    keyboard: ReplyMarkup | None = None,
    thread_id: int | None = None,
    reply_to: int | None = None,
) -> list[Message]:
    """send_html, returning every message sent (for messages the bot edits later, like a ticket card)."""
    messages: list[Message] = []
    chunks = [c for c in chunks if c.strip()] or ["…"]
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        messages.append(await context.bot.send_message(
            chat_id,
            chunk,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard if last else None,
            message_thread_id=thread_id,
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True)
            if reply_to is not None and i == 0 else None,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ))
    return messages


async def reply_text(update: Update, context: BotContext, text: str, *,
                     keyboard: ReplyMarkup | None = None) -> Message | None:
    """Reply with plain Chinese text (escaped, split) in the same chat and topic."""
    chat = update.effective_chat
    if chat is None:
        return None
    message = update.effective_message
    thread = message.message_thread_id if message is not None and message.is_topic_message else None
    return await send_html(context, chat.id, render.plain_messages(text), keyboard=keyboard, thread_id=thread)


async def answer_callback(update: Update, text: str = "", *, alert: bool = False) -> None:
    """Answer the callback query (stops the client's spinner); an expired query is not an error."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer(text[:200] or None, show_alert=alert)
    except BadRequest as exc:  # "query is too old" after a restart: nothing to do
        log.info("callback answer failed: %s", exc)


def user_id(update: Update) -> int:
    user = update.effective_user
    assert user is not None, "handlers are only registered for updates with a user"
    return user.id


# A conversation left half-way (intake, registration) expires: days later, a new question must not be
# taken as the answer to an old step. Timestamps live in the persisted scratch, so this survives restarts
# (PTB's conversation_timeout does not).
CONVERSATION_TTL_S = 3600.0


def mark_started(scratch: dict[str, Any]) -> None:
    scratch["started"] = time.time()


def is_stale(scratch: dict[str, Any] | None) -> bool:
    started = (scratch or {}).get("started")
    return started is not None and time.time() - float(started) > CONVERSATION_TTL_S


ALBUM_KEY = "last_album"  # media_group_id of the last album item this user sent that was answered


def album_continues(context: BotContext, message: Message | None) -> bool:
    """True for the 2nd…10th item of an album (one update per item, same media_group_id): reply once."""
    album = message.media_group_id if message is not None else None
    if album is not None and context.udata.get(ALBUM_KEY) == album:
        return True
    context.udata[ALBUM_KEY] = album
    return False
