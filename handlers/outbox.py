"""Delivery of the desk's outbox (notifications) to Telegram, run by the JobQueue and after desk actions.

Never lost, and not twice while the bot runs: each row is claimed (bot.outbox_claims.OutboxClaims) before
sending and marked sent only after Telegram accepted the message; a failure marks it failed (attempts + 1)
and it is retried at the next run. (A crash between Telegram's accept and the mark repeats that one
message after the claim's lease: Telegram has no idempotency key, and a repeat beats a loss.) Staff
notifications go into the ticket's forum topic (created on first use, with the ticket card and its
buttons); leader notifications also go to each leader privately. Every ticket a delivered row belongs to
gets its card brought up to date (state, assignee, deadlines, which buttons apply).
"""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.context import BotContext
from bot.staff_cards import digest
from desk import notices
from desk.errors import DeskError
from desk.models import NotificationPublic, TicketPublic
from desk.states import CLAIMABLE_STATES, Audience, TicketState
from handlers import keyboards, render, texts
from handlers.common import send_html, send_html_all

log = logging.getLogger(__name__)

LOCK_KEY = "zhitong.outbox_lock"
_RATE_KINDS = {"rate_request", "rating_reminder"}


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


def kick_outbox(context: BotContext) -> None:
    """Deliver queued desk notifications now instead of at the next interval."""
    if context.job_queue is not None:
        context.job_queue.run_once(deliver_outbox, 0, name="outbox-kick")  # type: ignore[arg-type]


async def _deliver_batch(context: BotContext) -> int:
    services = context.services
    desk = services.desk
    rows = await desk.pending_notifications(limit=50)
    sent = 0
    changed_tickets: dict[int, None] = {}  # ordered set: cards to bring up to date after the batch
    try:
        for row in rows:
            if not await services.claims.claim(row.id):
                continue  # another worker has it
            if row.ticket_id is not None:
                changed_tickets[row.ticket_id] = None
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
    finally:
        for ticket_id in changed_tickets:
            await refresh_card(context, ticket_id)
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


def _text(context: BotContext, row: NotificationPublic) -> str:
    """The notification in the Telegram channel's words (desk.notices), deadlines in the desk's timezone."""
    return notices.render(row.kind, row.audience, row.payload, context.services.desk.fmt, "telegram",
                          legacy_text=row.text)


async def _to_enterprise(context: BotContext, row: NotificationPublic) -> None:
    if row.recipient_tg_id is None:
        return  # a ticket opened outside Telegram (CLI/dashboard): nobody to tell here
    text = _text(context, row)
    keyboard = keyboards.rating(row.ticket_id) if row.kind in _RATE_KINDS and row.ticket_id else None
    await send_html(context, row.recipient_tg_id, render.plain_messages(text), keyboard=keyboard)


async def _to_staff(context: BotContext, row: NotificationPublic) -> None:
    settings = context.services.settings.telegram
    if not settings.staff_group_id:
        # No staff group: tell the assignee privately when there is one.
        if row.recipient_tg_id is not None:
            await send_html(context, row.recipient_tg_id, render.plain_messages(_text(context, row)))
        return
    if row.ticket_id is None:
        await send_html(context, settings.staff_group_id, render.plain_messages(_text(context, row)))
        return
    ticket = await context.services.desk.get_ticket(row.ticket_id)
    if ticket.staff_thread_id is None:
        # First staff notification of this ticket: open its topic; the card is the message.
        await open_staff_thread(context, ticket)
        if row.kind == "new_ticket":
            return
    # A 回访 task can be recorded right from its notice (the CLI and the dashboard can too).
    keyboard = keyboards.followup(ticket.id) if row.kind == "followup" else None
    await post_in_thread(context, ticket, _text(context, row), keyboard=keyboard)


async def _to_leaders(context: BotContext, row: NotificationPublic) -> None:
    leaders = [s for s in await context.services.desk.list_staff() if s.role == "leader"]
    for leader in leaders:
        try:
            await send_html(context, leader.tg_user_id, render.plain_messages(_text(context, row)))
        except TelegramError as exc:
            # Best effort: the topic already has it, and failing the row would post it there twice.
            log.info("leader %s not reached privately: %s", leader.tg_user_id, exc)


def _card(context: BotContext, ticket: TicketPublic) -> tuple[list[str], InlineKeyboardMarkup | None]:
    """The card's HTML chunks and buttons for the ticket as it is now (no buttons once resolved or closed)."""
    chunks = render.split_html(render.ticket_card(ticket, tz=context.services.settings.desk.timezone))
    state = TicketState(ticket.state)
    if state in (TicketState.RESOLVED, TicketState.CLOSED):
        return chunks, None  # the enterprise's rating (or nothing) comes next; old buttons would only refuse
    # A new ticket is claimed (accepted) even when routed to someone; a reopened or escalated one that
    # still has its commissioner is theirs: 认领 there only when nobody has it.
    claimable = state == TicketState.NEW or (
        state in CLAIMABLE_STATES and getattr(ticket, "assignee_id", None) is None
    )
    return chunks, keyboards.staff_ticket(ticket.id, claimable=claimable)


def _card_digest(chunks: list[str], keyboard: InlineKeyboardMarkup | None) -> str:
    return digest(chunks, keyboard.to_dict() if keyboard is not None else None)


async def open_staff_thread(context: BotContext, ticket: TicketPublic) -> None:
    """Create the ticket's forum topic (or, without topics, a card message that replies thread under)."""
    services = context.services
    group = services.settings.telegram.staff_group_id
    chunks, keyboard = _card(context, ticket)
    if services.settings.telegram.use_topics:
        name = texts.TOPIC_NAME.format(number=ticket.number, title=ticket.title)[:128]
        try:
            topic = await context.bot.create_forum_topic(group, name)
        except BadRequest as exc:
            # Not a forum, or the bot may not manage topics: fall back to a reply thread, don't stall.
            log.warning("cannot create a forum topic in %s (%s); using a reply thread", group, exc.message)
        except TelegramError:
            raise  # network trouble or flood control: the outbox retries this notification
        except Exception:
            # An API server that answers createForumTopic with something that is not a topic (some
            # test servers): a reply thread works everywhere, and the ticket must reach the staff.
            log.warning("createForumTopic gave no usable topic in %s; using a reply thread", group, exc_info=True)
        else:
            # Saved before the card is shown, so nobody can press 认领 while the row is being written.
            await services.desk.set_staff_thread(ticket.id, group, topic.message_thread_id)
            messages = await send_html_all(context, group, chunks, keyboard=keyboard,
                                           thread_id=topic.message_thread_id)
            await services.cards.save(ticket.id, group, [m.message_id for m in messages],
                                      _card_digest(chunks, keyboard))
            return
    messages = await send_html_all(context, group, chunks, keyboard=keyboard)
    await services.desk.set_staff_thread(ticket.id, group, messages[-1].message_id)
    await services.cards.save(ticket.id, group, [m.message_id for m in messages], _card_digest(chunks, keyboard))


async def refresh_card(context: BotContext, ticket_id: int) -> None:
    """Edit the ticket's card in the staff group to show its current state; best effort, never raises.

    A card that cannot be edited (deleted by someone, or a desk error) is logged and left: the topic's
    own messages still tell the story, and delivery of notifications must not depend on the card.
    """
    services = context.services
    try:
        place = await services.cards.get(ticket_id)
        if place is None or not place.message_ids:
            return  # no staff group, or the card predates this record
        ticket = await services.desk.get_ticket(ticket_id)
        chunks, keyboard = _card(context, ticket)
        rendered = _card_digest(chunks, keyboard)
        if rendered == place.rendered:
            return
        # The transcript is fixed at intake, so the card keeps its number of messages; should the split
        # ever shift, the header (state, assignee, deadlines) in the first message is what must be current.
        for i, message_id in enumerate(place.message_ids):
            chunk = chunks[i] if i < len(chunks) else "…"
            last = i == len(place.message_ids) - 1
            try:
                await context.bot.edit_message_text(
                    chunk, chat_id=place.chat_id, message_id=message_id, parse_mode=ParseMode.HTML,
                    reply_markup=keyboard if last else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except BadRequest as exc:
                if "not modified" not in exc.message.lower():
                    raise
        await services.cards.set_rendered(ticket_id, rendered)
    except Exception as exc:  # best effort by design: a card must never stop the outbox
        log.warning("card of ticket %s not updated: %s", ticket_id, exc, exc_info=not isinstance(exc, TelegramError))


async def post_in_thread(
    context: BotContext, ticket: TicketPublic, text: str, *, keyboard: InlineKeyboardMarkup | None = None
) -> None:
    """Post into the ticket's topic, or as a reply to its card when topics are off."""
    settings = context.services.settings.telegram
    chat_id = ticket.staff_chat_id or settings.staff_group_id
    if settings.use_topics:
        try:
            await send_html(context, chat_id, render.plain_messages(text), thread_id=ticket.staff_thread_id,
                            keyboard=keyboard)
            return
        except BadRequest as exc:
            if "thread not found" not in exc.message.lower():
                raise
            # The ticket fell back to a reply thread when it was opened (see open_staff_thread).
    await send_html(context, chat_id, render.plain_messages(text), reply_to=ticket.staff_thread_id, keyboard=keyboard)


async def copy_into_thread(context: BotContext, ticket: TicketPublic, from_chat_id: int, message_id: int) -> bool:
    """Copy an attachment the enterprise sent into the ticket's topic (reply thread; no staff group: the
    assignee's private chat). False when there is nowhere to put it yet or Telegram refused."""
    settings = context.services.settings.telegram
    try:
        if not settings.staff_group_id:
            if ticket.assignee_tg_id is None:
                return False
            await context.bot.copy_message(ticket.assignee_tg_id, from_chat_id, message_id)
            return True
        if ticket.staff_thread_id is None:
            return False  # the topic opens with the first delivery of the ticket; the note says so
        chat_id = ticket.staff_chat_id or settings.staff_group_id
        if settings.use_topics:
            try:
                await context.bot.copy_message(chat_id, from_chat_id, message_id,
                                               message_thread_id=ticket.staff_thread_id)
                return True
            except BadRequest as exc:
                if "thread not found" not in exc.message.lower():
                    raise
        await context.bot.copy_message(
            chat_id, from_chat_id, message_id,
            reply_parameters=ReplyParameters(ticket.staff_thread_id, allow_sending_without_reply=True),
        )
        return True
    except Exception as exc:  # best effort: the desk note says the attachment did not arrive
        log.warning("attachment %s/%s not copied to ticket %s: %s", from_chat_id, message_id, ticket.id, exc,
                    exc_info=not isinstance(exc, TelegramError))
        return False


async def scheduler_tick(context: BotContext) -> None:
    """The desk's deadline tick (warnings, escalations, auto-close), then deliver what it queued."""
    result = await context.services.desk.run_due()
    if result.total:
        log.info("desk tick: %s", result)
    await deliver_outbox(context)
