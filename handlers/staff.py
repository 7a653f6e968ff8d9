"""Service commissioners and leaders: ticket topics in the staff supergroup, buttons, relaying, /queue.

Each ticket has a forum topic (or, with topics off, a card message that staff reply to). Text a staff
member writes there goes to the enterprise through the desk; 需企业补充 / 办结 / 升级 take the staff
member's next message in the topic as their note. The desk checks roles and departments on every act.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from core.config import Settings
from desk.errors import DeskError, NotStaff
from desk.models import TicketPublic
from desk.overdue import UNFINISHED_STATES, is_overdue
from desk.states import AuthorKind, TicketState
from handlers import keyboards, render, texts
from handlers.common import answer_callback, reply_text, send_html, user_id
from handlers.outbox import kick_outbox
from handlers.tickets import RELAYABLE_MEDIA, attachment_note

log = logging.getLogger(__name__)

PENDING_KEY = "pending_notes"
_NUMBER = re.compile(r"BC-\d{8}-\d{4,}")
_NOTE_PROMPTS = {"need": texts.ASK_NEED_NOTE, "done": texts.ASK_RESOLVE_NOTE, "up": texts.ASK_UPGRADE_NOTE}
_ACTION_NAMES = {"need": texts.BTN_NEED, "done": texts.BTN_RESOLVE, "up": texts.BTN_UPGRADE,
                 "claim": texts.BTN_CLAIM, "xfer": texts.BTN_TRANSFER, "followup": texts.BTN_FOLLOWUP}


def _desk_error_text(exc: DeskError) -> str:
    return texts.STAFF_ONLY if isinstance(exc, NotStaff) else exc.message


# ---------------------------------------------------------------- commands
async def queue(update: Update, context: BotContext) -> None:
    """/queue — open tickets the staff member may act on."""
    await _list(update, context, overdue=False)


async def overdue(update: Update, context: BotContext) -> None:
    """/overdue — tickets past a deadline."""
    await _list(update, context, overdue=True)


async def _list(update: Update, context: BotContext, *, overdue: bool) -> None:
    services = context.services
    uid = user_id(update)
    if await services.staff_member(uid) is None:
        await reply_text(update, context, texts.STAFF_ONLY)
        return
    tickets = await services.desk.list_tickets(uid, states=UNFINISHED_STATES)
    if overdue:
        now = services.clock.now()
        tickets = [t for t in tickets if is_overdue(t, now)]
    tz = services.settings.desk.timezone
    if not tickets:
        await reply_text(update, context, texts.OVERDUE_EMPTY if overdue else texts.QUEUE_EMPTY)
        return
    title = (texts.OVERDUE_TITLE if overdue else texts.QUEUE_TITLE).format(count=len(tickets))
    lines = [render.bold(title), *(render.ticket_line(t, tz=tz) for t in tickets[:50])]
    chat = update.effective_chat
    message = update.effective_message
    assert chat is not None
    thread = message.message_thread_id if message is not None and message.is_topic_message else None
    await send_html(context, chat.id, render.split_html(lines), thread_id=thread)


async def cancel_note(update: Update, context: BotContext) -> None:
    """/cancel in the staff group: forget a pending note request."""
    key = _pending_key(update)
    pending = context.cdata.get(PENDING_KEY, {})
    if key in pending:
        pending.pop(key)
        await reply_text(update, context, texts.CANCELLED)
    else:
        await reply_text(update, context, texts.NOTHING_TO_CANCEL)


# ---------------------------------------------------------------- buttons
async def on_ticket_button(update: Update, context: BotContext) -> None:
    """认领 / 转派 / 需企业补充 / 办结 / 升级 on a ticket card."""
    parsed = keyboards.parse(update.callback_query.data if update.callback_query else None)
    if parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    action, ticket_id = parsed.args[0], int(parsed.args[1])
    uid = user_id(update)
    desk = context.services.desk
    try:
        ticket = await desk.get_ticket(ticket_id, staff_tg_id=uid)
        if action == "claim":
            ticket = await desk.claim(ticket_id, uid)  # the desk re-runs a claim that lost to an unrelated write
            kick_outbox(context)
            await answer_callback(update, texts.ACTION_DONE.format(
                what=texts.BTN_CLAIM, number=ticket.number, state=ticket.state_label))
            return
    except DeskError as exc:
        await answer_callback(update, _desk_error_text(exc), alert=True)
        return
    if ticket.state is TicketState.CLOSED:
        await answer_callback(update, f"工单 {ticket.number} 已销号，不能再操作。", alert=True)
        return
    if action == "xfer":
        try:
            staff = await desk.handover_targets(ticket.id, uid)
        except DeskError as exc:  # not theirs to hand on: say so at once, instead of a picker that is then refused
            await answer_callback(update, _desk_error_text(exc), alert=True)
            return
        await answer_callback(update)
        if not staff:
            member = await context.services.staff_member(uid)
            is_leader = member is not None and member.role == "leader"
            await reply_text(update, context, texts.NO_TRANSFER_TARGET if is_leader else texts.NO_COLLEAGUE)
            return
        targets = [(s.tg_user_id, s.name) for s in staff]
        await reply_text(update, context, texts.PICK_TRANSFER,
                         keyboard=keyboards.transfer_targets(ticket.id, targets))
        return
    # need / done / up: the staff member's next message in this topic is the note.
    context.cdata.setdefault(PENDING_KEY, {})[_pending_key(update)] = {"action": action, "ticket_id": ticket.id}
    await answer_callback(update)
    await reply_text(update, context, _NOTE_PROMPTS[action])


async def on_followup_button(update: Update, context: BotContext) -> None:
    """记录回访 under a 回访 notice: the staff member's next message in this topic is the record."""
    parsed = keyboards.parse(update.callback_query.data if update.callback_query else None)
    if parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    uid = user_id(update)
    desk = context.services.desk
    try:
        ticket = await desk.get_ticket(int(parsed.args[0]), staff_tg_id=uid)  # may this person act on it?
    except DeskError as exc:
        await answer_callback(update, _desk_error_text(exc), alert=True)
        return
    tasks = await desk.followups(ticket.id, open_only=True)
    if not tasks:
        await answer_callback(update, texts.NO_OPEN_FOLLOWUP.format(number=ticket.number), alert=True)
        return
    context.cdata.setdefault(PENDING_KEY, {})[_pending_key(update)] = {
        "action": "followup", "ticket_id": ticket.id, "followup_id": tasks[0].id,
    }
    await answer_callback(update)
    await reply_text(update, context, texts.ASK_FOLLOWUP_NOTE)


async def on_transfer(update: Update, context: BotContext) -> None:
    """A 转派 target was picked: a leader's 交办, or a commissioner's handover to a colleague."""
    parsed = keyboards.parse(update.callback_query.data if update.callback_query else None)
    if parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    ticket_id, target = int(parsed.args[0]), int(parsed.args[1])
    try:
        ticket = await context.services.desk.hand_over(ticket_id, user_id(update), target)
    except DeskError as exc:
        await answer_callback(update, _desk_error_text(exc), alert=True)
        return
    kick_outbox(context)
    await answer_callback(update, texts.ACTION_DONE.format(
        what=texts.BTN_TRANSFER, number=ticket.number, state=ticket.state_label))


# ---------------------------------------------------------------- messages in ticket topics
def _thread_of(message: Message) -> int | None:
    if message.is_topic_message and message.message_thread_id:
        return message.message_thread_id
    return None


def _pending_key(update: Update) -> str:
    message = update.effective_message
    thread = None
    if message is not None:
        thread = _thread_of(message)
        if thread is None and message.reply_to_message is not None:
            thread = message.reply_to_message.message_id
    return f"{thread}:{user_id(update)}"


async def _ticket_for(context: BotContext, message: Message) -> TicketPublic | None:
    desk = context.services.desk
    chat_id = message.chat.id
    thread = _thread_of(message)
    if thread is not None:
        return await desk.ticket_by_staff_thread(chat_id, thread)
    reply = message.reply_to_message
    if reply is None:
        return None
    ticket = await desk.ticket_by_staff_thread(chat_id, reply.message_id)
    if ticket is None:
        # Reply-thread mode: staff may answer any bot message about the ticket; its number names it.
        match = _NUMBER.search(reply.text or "")
        if match:
            try:
                ticket = await desk.get_ticket(match.group(0))
            except DeskError:
                return None
    return ticket


async def on_group_text(update: Update, context: BotContext) -> None:
    """Text in a ticket topic: a pending note (需补充/办结/升级), else relayed to the enterprise."""
    message = update.effective_message
    assert message is not None and message.text is not None
    ticket = await _ticket_for(context, message)
    if ticket is None:
        return  # staff talking among themselves outside ticket topics
    services = context.services
    uid = user_id(update)
    if await services.staff_member(uid) is None:
        await reply_text(update, context, texts.STAFF_ONLY)
        return
    pending = context.cdata.setdefault(PENDING_KEY, {})
    note_request = pending.pop(_pending_key(update), None)
    desk = services.desk
    text = message.text.strip()
    try:
        if note_request is not None and note_request["ticket_id"] == ticket.id:
            action = note_request["action"]
            if action == "followup":
                await desk.complete_followup(int(note_request["followup_id"]), uid, text)
            elif action == "need":
                ticket = await desk.wait_for_enterprise(ticket.id, uid, text)
            elif action == "done":
                ticket = await desk.resolve(ticket.id, uid, text)
            else:
                ticket = await desk.escalate(ticket.id, uid, text)
            await reply_text(update, context, texts.ACTION_DONE.format(
                what=_ACTION_NAMES[action], number=ticket.number, state=ticket.state_label))
        else:
            await desk.add_message(ticket.id, AuthorKind.STAFF, uid, text)
    except DeskError as exc:
        await reply_text(update, context, _desk_error_text(exc))
        return
    kick_outbox(context)


async def add_note(update: Update, context: BotContext) -> None:
    """/note 文本 in a ticket topic: an internal note on that ticket, never relayed to the enterprise."""
    message = update.effective_message
    if message is None:
        return
    ticket = await _ticket_for(context, message)
    if ticket is None:
        await reply_text(update, context, texts.NOTE_WHERE)
        return
    uid = user_id(update)
    if await context.services.staff_member(uid) is None:
        await reply_text(update, context, texts.STAFF_ONLY)
        return
    text = " ".join(context.args or []).strip()
    if not text:
        await reply_text(update, context, texts.NOTE_USAGE)
        return
    try:
        await context.services.desk.add_note(ticket.id, uid, text)
    except DeskError as exc:
        await reply_text(update, context, _desk_error_text(exc))
        return
    await reply_text(update, context, texts.NOTE_SAVED.format(number=ticket.number))


async def on_group_attachment(update: Update, context: BotContext) -> None:
    """A photo/file/voice staff post in a ticket topic: recorded on the ticket, copied to the enterprise."""
    message = update.effective_message
    assert message is not None
    noted = attachment_note(message)
    ticket = await _ticket_for(context, message) if noted is not None else None
    if noted is None or ticket is None:
        return
    services = context.services
    uid = user_id(update)
    if await services.staff_member(uid) is None:
        await reply_text(update, context, texts.STAFF_ONLY)
        return
    kind, note = noted
    try:
        # Recorded first: the desk refuses a closed ticket or an outsider before anything reaches the owner.
        await services.desk.add_message(ticket.id, AuthorKind.STAFF, uid, note)
    except DeskError as exc:
        await reply_text(update, context, _desk_error_text(exc))
        return
    if ticket.requester_tg_id is None:
        await reply_text(update, context, texts.ATTACHMENT_TO_ENTERPRISE_FAILED.format(
            kind=kind, error=texts.ENTERPRISE_NOT_ON_TELEGRAM))
    else:
        try:
            await context.bot.copy_message(ticket.requester_tg_id, message.chat_id, message.message_id)
        except TelegramError as exc:
            await reply_text(update, context, texts.ATTACHMENT_TO_ENTERPRISE_FAILED.format(kind=kind, error=exc.message))
        except Exception:  # e.g. an API server without copyMessage: recorded on the ticket all the same
            log.warning("attachment not copied to the enterprise of ticket %s", ticket.id, exc_info=True)
            await reply_text(update, context, texts.ATTACHMENT_TO_ENTERPRISE_FAILED.format(
                kind=kind, error=texts.ATTACHMENT_COPY_UNSUPPORTED))
    kick_outbox(context)


def handlers(settings: Settings) -> list[Any]:
    group = settings.telegram.staff_group_id
    staff_chat = filters.Chat(chat_id=group) if group else filters.ChatType.GROUPS
    return [
        CommandHandler("queue", queue),
        CommandHandler("overdue", overdue),
        CommandHandler("cancel", cancel_note, filters=staff_chat),
        CommandHandler("note", add_note, filters=staff_chat),
        CallbackQueryHandler(on_ticket_button, pattern=keyboards.TK),
        CallbackQueryHandler(on_transfer, pattern=keyboards.XF),
        CallbackQueryHandler(on_followup_button, pattern=keyboards.FU),
        MessageHandler(staff_chat & filters.TEXT & ~filters.COMMAND, on_group_text),
        MessageHandler(staff_chat & RELAYABLE_MEDIA, on_group_attachment),
    ]
