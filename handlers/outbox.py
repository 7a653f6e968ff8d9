"""Delivery of the desk's outbox (notifications) to Telegram, run by the JobQueue and after desk actions.

Never twice, never lost: each row is claimed (bot.services.OutboxClaims) before sending and marked sent
only after Telegram accepted the message; a failure marks it failed (attempts + 1) and it is retried at
the next run. Staff notifications go into the ticket's forum topic (created on first use, with the
ticket card and its buttons); leader notifications also go to each leader privately.
"""

from __future__ import annotations

import asyncio
import logging

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.context import BotContext
from bot.desk.errors import DeskError
from bot.desk.states import Audience
from bot.models import NotificationPublic, TicketPublic
from handlers import keyboards, render, texts
from handlers.common import send_html

log = logging.getLogger(__name__)

LOCK_KEY = "zhitong.outbox_lock"
_RATE_KINDS = {"rate_request", "rating_reminder"}
_CREATED_HINT = "之后您在这里发的文字消息都会转给专员；/mytickets 可查看进度。"


def _lock(context: BotContext) -> asyncio.Lock:
    lock = context.application.bot_data.get(LOCK_KEY)
    if lock is None:
        lock = context.application.bot_data[LOCK_KEY] = asyncio.Lock()
    return lock  # type: ignore[no-any-return]


async def deliver_outbox(context: BotContext) -> int:
    """Deliver pending desk notifications; returns how many were sent. One run at a time per process."""
    lock = _lock(context)
    if lock.locked():
        # A run is in progress; make sure rows queued after its query are not left for the next tick.
        context.application.bot_data["zhitong.outbox_again"] = True
        return 0
    sent = 0
    async with lock:
        while True:
            context.application.bot_data["zhitong.outbox_again"] = False
            sent += await _deliver_batch(context)
            # Loop only when a kick arrived during the batch (its rows may postdate our query).
            if not context.application.bot_data.get("zhitong.outbox_again"):
                break
    return sent


async def _deliver_batch(context: BotContext) -> int:
    services = context.services
    desk = services.desk
    rows = await desk.pending_notifications(limit=50)
    sent = 0
    for row in rows:
        if not await services.claims.claim(row.id):
            continue  # another worker has it
        try:
            await _deliver_one(context, row)
        except RetryAfter as exc:
            await desk.mark_notification_failed(row.id, f"RetryAfter {exc.retry_after}")
            await services.claims.release(row.id)
            return sent  # Telegram asks us to slow down: stop this run
        except (Forbidden, BadRequest, NetworkError, TelegramError, DeskError) as exc:
            log.warning("notification %s (%s) not delivered: %s", row.id, row.kind, exc)
            await desk.mark_notification_failed(row.id, f"{type(exc).__name__}: {exc}")
            await services.claims.release(row.id)
            continue
        await desk.mark_notification_sent(row.id)
        await services.claims.release(row.id)
        sent += 1
    return sent


async def _deliver_one(context: BotContext, row: NotificationPublic) -> None:
    if row.audience == Audience.ENTERPRISE:
        await _to_enterprise(context, row)
    elif row.audience == Audience.STAFF:
        await _to_staff(context, row)
    elif row.audience == Audience.LEADERS:
        await _to_staff(context, row)
        await _to_leaders(context, row)
    else:
        log.warning("notification %s has unknown audience %r; dropped", row.id, row.audience)


async def _to_enterprise(context: BotContext, row: NotificationPublic) -> None:
    if row.recipient_tg_id is None:
        return  # a ticket opened outside Telegram (CLI/dashboard): nobody to tell here
    text = row.text
    if row.kind == "created":
        text = f"{text}\n{_CREATED_HINT}"
    keyboard = keyboards.rating(row.ticket_id) if row.kind in _RATE_KINDS and row.ticket_id else None
    await send_html(context, row.recipient_tg_id, render.plain_messages(text), keyboard=keyboard)


async def _to_staff(context: BotContext, row: NotificationPublic) -> None:
    settings = context.services.settings.telegram
    if not settings.staff_group_id:
        # No staff group: tell the assignee privately when there is one.
        if row.recipient_tg_id is not None:
            await send_html(context, row.recipient_tg_id, render.plain_messages(row.text))
        return
    if row.ticket_id is None:
        await send_html(context, settings.staff_group_id, render.plain_messages(row.text))
        return
    ticket = await context.services.desk.get_ticket(row.ticket_id)
    if ticket.staff_thread_id is None:
        # First staff notification of this ticket: open its topic; the card is the message.
        await open_staff_thread(context, ticket)
        if row.kind == "new_ticket":
            return
    await post_in_thread(context, ticket, row.text)


async def _to_leaders(context: BotContext, row: NotificationPublic) -> None:
    leaders = [s for s in await context.services.desk.list_staff() if s.role == "leader"]
    for leader in leaders:
        try:
            await send_html(context, leader.tg_user_id, render.plain_messages(row.text))
        except TelegramError as exc:
            # Best effort: the topic already has it, and failing the row would post it there twice.
            log.info("leader %s not reached privately: %s", leader.tg_user_id, exc)


async def open_staff_thread(context: BotContext, ticket: TicketPublic) -> None:
    """Create the ticket's forum topic (or, without topics, a card message that replies thread under)."""
    settings = context.services.settings
    group = settings.telegram.staff_group_id
    card = render.split_html(render.ticket_card(ticket, tz=settings.desk.timezone))
    keyboard = keyboards.staff_ticket(ticket.id)
    if settings.telegram.use_topics:
        name = texts.TOPIC_NAME.format(number=ticket.number, title=ticket.title)[:128]
        try:
            topic = await context.bot.create_forum_topic(group, name)
        except BadRequest as exc:
            # Not a forum, or the bot may not manage topics: fall back to a reply thread, don't stall.
            log.warning("cannot create a forum topic in %s (%s); using a reply thread", group, exc.message)
        else:
            # Saved before the card is shown, so nobody can press 认领 while the row is being written.
            await context.services.desk.set_staff_thread(ticket.id, group, topic.message_thread_id)
            await send_html(context, group, card, keyboard=keyboard, thread_id=topic.message_thread_id)
            return
    message = await send_html(context, group, card, keyboard=keyboard)
    await context.services.desk.set_staff_thread(ticket.id, group, message.message_id)


async def post_in_thread(context: BotContext, ticket: TicketPublic, text: str) -> None:
    """Post into the ticket's topic, or as a reply to its card when topics are off."""
    settings = context.services.settings.telegram
    chat_id = ticket.staff_chat_id or settings.staff_group_id
    if settings.use_topics:
        try:
            await send_html(context, chat_id, render.plain_messages(text), thread_id=ticket.staff_thread_id)
            return
        except BadRequest as exc:
            if "thread not found" not in exc.message.lower():
                raise
            # The ticket fell back to a reply thread when it was opened (see open_staff_thread).
    await send_html(context, chat_id, render.plain_messages(text), reply_to=ticket.staff_thread_id)


async def scheduler_tick(context: BotContext) -> None:
    """The desk's deadline tick (warnings, escalations, auto-close), then deliver what it queued."""
    result = await context.services.desk.run_due()
    if result.total:
        log.info("desk tick: %s", result)
    await deliver_outbox(context)
