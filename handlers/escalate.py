"""Enterprise owners: the 转人工（办不成事）intake — which matter, what blocked it, details, confirm.

A persistent ConversationHandler: its state and the scratch in user_data["intake"] survive a restart,
so a half-finished intake continues where it stopped. The ticket is committed by the desk before the
owner is told its number (the desk's outbox row carries the confirmation).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any

from telegram import CallbackQuery, Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler, MessageHandler, filters

from bot.context import BotContext
from desk.errors import DeskError
from desk.models import TicketCreate
from desk.transcript import transcript_text, turns_for_ticket
from handlers import keyboards, render, texts
from handlers.ask import HISTORY_KEY, LAST_KEY, on_text
from handlers.common import answer_callback, is_stale, mark_started, reply_text, user_id
from handlers.outbox import kick_outbox
from handlers.start import cancel, not_text_in_step

log = logging.getLogger(__name__)

MATTER, REASON, DETAIL, CONFIRM = range(10, 14)
INTAKE_KEY = "intake"


async def start_from_button(update: Update, context: BotContext) -> int | None:
    """转人工 pressed under an answer: start the intake with that question."""
    parsed = keyboards.parse(update.callback_query.data if update.callback_query else None)
    if parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return ConversationHandler.END
    await answer_callback(update)
    question_id = int(parsed.args[0])
    intake: dict[str, Any] = {}
    if question_id:
        try:
            row = await context.services.analytics.get(question_id, user_id(update))
        except Exception:  # not the presser's question (tampered): start without it
            row = None
        last = context.udata.get(LAST_KEY) or {}
        if row is not None:
            await context.services.analytics.mark_escalated(question_id, user_id(update))
            intake = {"question": row.question, "department": row.top_department, "question_id": question_id}
        elif last.get("id") == question_id and last.get("q"):
            # The question log is not written yet (it is batched); the owner's own last question is known.
            intake = {"question": last["q"], "department": last.get("department", ""), "question_id": question_id}
        if intake and last.get("id") == question_id:
            intake["service"] = last.get("service", "")
            intake["department"] = last.get("department", "") or intake["department"]
    return await _ask_matter(update, context, intake)


async def start_from_command(update: Update, context: BotContext) -> int:
    """/desk — show the open ticket if there is one, else start the intake with the last question."""
    ticket = await context.services.desk.open_ticket_for_enterprise(user_id(update))
    if ticket is not None:
        due = ticket.resolve_due_at or ticket.accept_due_at
        tz = context.services.settings.desk.timezone
        await reply_text(update, context, texts.ESC_ALREADY_OPEN.format(
            number=ticket.number, title=ticket.title, state=render.state_label(ticket),
            due=texts.ESC_ALREADY_OPEN_DUE.format(due=render.fmt_time(due, tz)) if due else "",
        ), keyboard=keyboards.new_matter())
        return ConversationHandler.END
    last = context.udata.get(LAST_KEY) or {}
    intake = {k: last.get(k, "") for k in ("department", "service")}
    if last.get("q"):
        intake["question"] = last["q"]
        intake["question_id"] = last.get("id")
    return await _ask_matter(update, context, intake)


async def _ask_matter(update: Update, context: BotContext, intake: dict[str, Any]) -> int:
    mark_started(intake)
    context.udata[INTAKE_KEY] = intake
    if intake.get("question"):
        await reply_text(update, context, texts.ESC_ASK_MATTER_WITH_Q.format(question=intake["question"][:200]),
                         keyboard=keyboards.use_question())
    else:
        await reply_text(update, context, texts.ESC_ASK_MATTER)
    return MATTER


async def _expired(update: Update, context: BotContext) -> int | None:
    """END (after handling the text as a normal message) when the intake was abandoned long ago."""
    if not is_stale(context.udata.get(INTAKE_KEY)):
        return None

    context.udata.pop(INTAKE_KEY, None)
    await reply_text(update, context, texts.ESC_EXPIRED)
    await on_text(update, context)
    return ConversationHandler.END


async def matter_text(update: Update, context: BotContext) -> int:
    """The owner typed the matter."""
    if (ended := await _expired(update, context)) is not None:
        return ended
    text = (update.effective_message.text or "").strip() if update.effective_message else ""
    if not text:
        await reply_text(update, context, texts.NOT_TEXT_IN_STEP)
        return MATTER
    intake = context.udata.setdefault(INTAKE_KEY, {})
    intake["matter"] = text[:1000]
    # Find the handling department for routing (a commissioner covering it gets the ticket).
    if (not intake.get("department") or intake.get("question") != text) and context.services.knowledge is not None:
        answer = await context.services.ask(text)
        if answer.hits and not answer.route_to_desk:
            intake["department"] = answer.hits[0].record.department
            intake["service"] = answer.hits[0].record.title if answer.hits[0].record.kind == "service" else ""
    return await _ask_reason(update, context)


async def matter_same(update: Update, context: BotContext) -> int:
    """就是刚才这个问题."""
    await answer_callback(update)
    intake = context.udata.setdefault(INTAKE_KEY, {})
    intake["matter"] = intake.get("question", "") or "（未说明）"
    return await _ask_reason(update, context)


async def _ask_reason(update: Update, context: BotContext) -> int:
    await reply_text(update, context, texts.ESC_ASK_REASON, keyboard=keyboards.reasons())
    return REASON


async def reason_chosen(update: Update, context: BotContext) -> int:
    """A 卡点 button."""
    parsed = keyboards.parse(update.callback_query.data if update.callback_query else None)
    if parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return REASON
    await answer_callback(update)
    code, label = texts.REASON_LABELS[int(parsed.args[0])]
    intake = context.udata.setdefault(INTAKE_KEY, {})
    intake["reason"], intake["reason_label"] = code, label
    await reply_text(update, context, texts.ESC_ASK_DETAIL)
    return DETAIL


async def detail_text(update: Update, context: BotContext) -> int:
    """What happened; then the summary to confirm."""
    if (ended := await _expired(update, context)) is not None:
        return ended
    text = (update.effective_message.text or "").strip() if update.effective_message else ""
    intake = context.udata.setdefault(INTAKE_KEY, {})
    intake["detail"] = text[:3000]
    await reply_text(update, context, texts.ESC_CONFIRM.format(
        matter=intake.get("matter", ""), reason=intake.get("reason_label", ""), detail=intake["detail"],
    ), keyboard=keyboards.confirm())
    return CONFIRM


async def confirmed(update: Update, context: BotContext) -> int:
    """确认提交 → the desk creates the ticket with the transcript; 取消 → nothing."""
    query = update.callback_query
    parsed = keyboards.parse(query.data if query else None)
    if query is None or parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return CONFIRM
    await answer_callback(update)
    intake = context.udata.get(INTAKE_KEY) or {}
    if parsed.args[0] == "no":
        context.udata.pop(INTAKE_KEY, None)
        await _close_buttons(update)
        await reply_text(update, context, texts.CANCELLED)
        return ConversationHandler.END
    user = update.effective_user
    assert user is not None
    try:
        await context.services.desk.create_ticket(TicketCreate(
            title=(intake.get("matter") or intake.get("question") or "（未说明）")[:200],
            description=intake.get("detail", ""),
            department=intake.get("department", "") or "",
            service_item=intake.get("service", "") or "",
            reason=intake.get("reason", "其他"),
            transcript=_transcript(context, intake),
            requester_tg_id=user.id,
            requester_name=user.full_name[:200],
            # The summary message being confirmed: the same press handled twice (replayed after a
            # worker died) finds this ticket instead of opening a second.
            request_key=_request_key(query),
        ))
    except DeskError as exc:
        await reply_text(update, context, texts.ESC_FAILED.format(error=exc.message))
        return CONFIRM
    context.udata.pop(INTAKE_KEY, None)
    await _close_buttons(update)
    # The desk queued the confirmation (number + deadlines) and the staff card: deliver them now.
    kick_outbox(context)
    return ConversationHandler.END


def _request_key(query: CallbackQuery) -> str | None:
    message = query.message
    if message is None:
        return None
    return f"tg-intake:{message.chat.id}:{message.message_id}"


async def _close_buttons(update: Update) -> None:
    query = update.callback_query
    if query is not None:
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)


def _transcript(context: BotContext, intake: dict[str, Any]) -> str:
    """The turns that led to this ticket: none when the intake did not start from a question, or when
    the owner typed a different matter (another department) instead of taking the question."""
    if not intake.get("question"):
        return ""
    turns = turns_for_ticket(context.udata.get(HISTORY_KEY, []), intake.get("question_id"))
    typed_another = intake.get("matter") != intake.get("question")
    if typed_another and turns and turns[-1].get("department", "") != intake.get("department", ""):
        return ""
    return transcript_text(turns)


async def pick_button(update: Update, context: BotContext) -> None:
    """Text where a button is expected: stay in the step."""
    await reply_text(update, context, texts.ESC_PICK_BUTTON)


async def stray_callback(update: Update, context: BotContext) -> None:
    """A button of another step (or tampered data) while in the intake."""
    await answer_callback(update, texts.BAD_CALLBACK)


def intake_conversation() -> ConversationHandler[BotContext]:
    private = filters.ChatType.PRIVATE
    text = private & filters.TEXT & ~filters.COMMAND
    other = private & ~filters.TEXT & ~filters.COMMAND
    # The steps' buttons belong to the user's conversation, not to a message: per_message=False is
    # intended, so PTB's generic warning about CallbackQueryHandler tracking is silenced here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*per_message.*")
        return _build(text, other, private)


def _build(text: Any, other: Any, private: Any) -> ConversationHandler[BotContext]:
    return ConversationHandler(
        entry_points=[
            CallbackQueryHandler(start_from_button, pattern=keyboards.ESC),
            CommandHandler("desk", start_from_command, filters=private),
        ],
        states={
            MATTER: [MessageHandler(text, matter_text), CallbackQueryHandler(matter_same, pattern=keyboards.MT)],
            REASON: [CallbackQueryHandler(reason_chosen, pattern=keyboards.RSN), MessageHandler(text, pick_button)],
            DETAIL: [MessageHandler(text, detail_text)],
            CONFIRM: [CallbackQueryHandler(confirmed, pattern=keyboards.CF), MessageHandler(text, pick_button)],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            MessageHandler(other, not_text_in_step),
            CallbackQueryHandler(stray_callback, pattern=r"^(mt|rsn|cf):"),
        ],
        name="intake",
        persistent=True,
        allow_reentry=True,
    )
