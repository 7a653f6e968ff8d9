"""Enterprise owners: any text → the knowledge core's answer card with 有用/没用/转人工/查看材料清单.

While the owner has an open ticket, free text is relayed to its commissioner instead (tickets.py);
/ask always asks the knowledge core.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from desk.analytics import FeedbackRefused
from handlers import keyboards, render, texts
from handlers.common import album_continues, answer_callback, reply_text, send_html, user_id
from handlers.tickets import relay_attachment_to_ticket, relay_to_ticket, take_rating_comment
from knowledge.answer import Answer, answers_a_new_question
from knowledge.desk_signals import reads_as_question
from knowledge.types import Record

log = logging.getLogger(__name__)

# Telegram delivers at most 4,096 characters per message; everything it delivers is answered (the
# knowledge core searches on the beginning and still reads the whole text for complaint patterns),
# because long messages are typically the stories of requests that failed — refusing them loses them.
MAX_QUESTION_CHARS = 4096
HISTORY_KEY = "history"  # last Q&A pairs: the transcript a ticket carries
LAST_KEY = "last_question"
HISTORY_SIZE = 6




async def answer_question(update: Update, context: BotContext, question: str, *,
                          open_ticket: Any | None = None) -> None:
    """Ask the knowledge core (in a thread), log it, and send the card with its buttons."""
    chat = update.effective_chat
    assert chat is not None
    question = question.strip()
    if not question:
        await reply_text(update, context, texts.QUESTION_EMPTY)
        return
    if len(question) > MAX_QUESTION_CHARS:
        await reply_text(update, context, texts.QUESTION_TOO_LONG.format(length=len(question), limit=MAX_QUESTION_CHARS))
        return
    services = context.services
    if services.knowledge is None:
        await reply_text(update, context, texts.KNOWLEDGE_NOT_READY)
        return
    answer = await services.ask(question)  # cached; retrieval runs in a worker thread
    top = answer.hits[0].record if answer.hits else None
    service = render.top_service(answer)
    question_id = await services.analytics.record_question(
        tg_user_id=user_id(update), question=question, routed=answer.route_to_desk,
        top_kind=top.kind if top else "", top_title=top.title if top else "",
        top_department=top.department if top else "", latency_ms=answer.latency_ms,
    )
    _remember(context, question_id, question, answer, service)
    if open_ticket is not None:
        lines = render.answer_messages(answer)
        lines.append(render.esc(texts.ANSWERED_NOT_RELAYED.format(number=open_ticket.number)))
        await send_html(context, chat.id, lines, keyboard=keyboards.forward_to_ticket(question_id))
        return
    if answer.intent == "decline":
        # Not a government matter: a friendly line, no desk offer, no rating buttons.
        await send_html(context, chat.id, render.answer_messages(answer))
        return
    keyboard = keyboards.answer_keyboard(question_id, has_service=service is not None and not answer.route_to_desk)
    await send_html(context, chat.id, render.answer_messages(answer), keyboard=keyboard)


def _remember(context: BotContext, question_id: int, question: str, answer: Answer,
              service: Record | None) -> None:
    """Keep a short transcript and the last question (for 转人工) in the user's conversation scratch."""
    headline = (answer.text or "").strip().splitlines()[0] if (answer.text or "").strip() else ""
    top = answer.hits[0].record if answer.hits else None
    department = (service.department if service else (top.department if top else "")) or ""
    history: list[dict[str, str]] = context.udata.setdefault(HISTORY_KEY, [])
    # id, department and time let a ticket carry only the turns that led to it (desk.transcript).
    history.append({"id": str(question_id), "q": question[:500], "a": headline[:300], "department": department,
                    "at": context.services.clock.now().isoformat()})
    del history[:-HISTORY_SIZE]
    context.udata[LAST_KEY] = {
        "id": question_id,
        "q": question[:500],
        "department": department,
        "service": service.title if service else "",
    }


async def on_text(update: Update, context: BotContext) -> None:
    """Free text in private chat: an invited rating comment, else relay to the open ticket, else answer it."""

    message = update.effective_message
    assert message is not None and message.text is not None
    if await take_rating_comment(update, context, message.text):
        return
    ticket = await context.services.desk.open_ticket_for_enterprise(user_id(update))
    # With a ticket open, a new question is answered (with a 转给专员 button); anything else is relayed.
    if ticket is not None and reads_as_question(message.text):
        answer = await context.services.ask(message.text.strip())
        if answers_a_new_question(answer):
            await answer_question(update, context, message.text, open_ticket=ticket)
            return
    if await relay_to_ticket(update, context, message.text):
        return
    await answer_question(update, context, message.text)


async def on_forward(update: Update, context: BotContext) -> None:
    """转给专员 under an answer given while a ticket was open: relay that message to the ticket."""

    parsed = keyboards.parse(update.callback_query.data if update.callback_query else None)
    if parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    try:
        row = await context.services.analytics.get(int(parsed.args[0]), user_id(update))
    except FeedbackRefused:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    await answer_callback(update)
    if not await relay_to_ticket(update, context, row.question):
        await reply_text(update, context, texts.MYTICKETS_EMPTY)


async def on_ask_command(update: Update, context: BotContext) -> None:
    """/ask 问题 — always the knowledge core, even with an open ticket."""
    question = " ".join(context.args or [])
    if not question:
        await reply_text(update, context, texts.QUESTION_EMPTY)
        return
    await answer_question(update, context, question)


async def on_not_text(update: Update, context: BotContext) -> None:
    """Stickers, photos, voice… where a question (or a message for the commissioner) is expected.

    With an open ticket, photos, files and voice are materials for the commissioner and are relayed."""

    if await relay_attachment_to_ticket(update, context):
        return
    if album_continues(context, update.effective_message):
        return  # the album's first item got the reply
    if await context.services.desk.open_ticket_for_enterprise(user_id(update)) is not None:
        await reply_text(update, context, texts.RELAY_NOT_TEXT)
        return
    await reply_text(update, context, texts.NOT_TEXT)


async def on_feedback(update: Update, context: BotContext) -> None:
    """有用 / 没用 on an answer: recorded for analytics (only the asker's own question)."""
    parsed = keyboards.parse(update.callback_query.data if update.callback_query else None)
    if parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    useful = parsed.args[0] == "u"
    try:
        await context.services.analytics.record_feedback(int(parsed.args[1]), user_id(update), useful)
    except FeedbackRefused:
        await answer_callback(update, texts.FEEDBACK_NOT_YOURS)
        return
    await answer_callback(update, texts.FEEDBACK_THANKS_UP if useful else texts.FEEDBACK_THANKS_DOWN)


async def on_materials(update: Update, context: BotContext) -> None:
    """查看材料清单: the materials of the service the question was answered with."""
    parsed = keyboards.parse(update.callback_query.data if update.callback_query else None)
    if parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    services = context.services
    try:
        row = await services.analytics.get(int(parsed.args[0]), user_id(update))
    except FeedbackRefused:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    await answer_callback(update)
    answer = await services.ask(row.question)
    record = render.top_service(answer)
    chat = update.effective_chat
    assert chat is not None
    if record is None:
        await reply_text(update, context, texts.MATERIALS_NONE)
        return
    await send_html(context, chat.id, render.materials_message(record))


def handlers() -> list[Any]:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("ask", on_ask_command, filters=private),
        CallbackQueryHandler(on_feedback, pattern=keyboards.FB),
        CallbackQueryHandler(on_materials, pattern=keyboards.MAT),
        CallbackQueryHandler(on_forward, pattern=keyboards.FWD),
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_text),
    ]


def not_text_handler() -> Any:
    """Registered last: anything non-text in private chat that nobody else took (documents excluded)."""
    return MessageHandler(
        filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND & ~filters.Document.ALL & ~filters.StatusUpdate.ALL,
        on_not_text,
    )
