"""惠企政策直达 in Telegram: the enterprise's profile and consent, its answers to a push, the admin's
review, and the job that sends approved pushes. Thin: parse → push.PushService → render."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from desk.models import EnterprisePublic
from handlers import keyboards, texts
from handlers.ask import answer_question
from handlers.common import answer_callback, reply_text, user_id
from handlers.render import fmt_time
from knowledge.audience import DIMENSION_LABELS, INDUSTRIES, SIZES, TAGS, Audience
from push.base import PushError
from push.campaigns import CampaignPreview, parse_audience_text
from push.enterprises import NOT_APPLICABLE_REASONS
from push.models import Response

log = logging.getLogger(__name__)

PRIVATE = filters.ChatType.PRIVATE
LOCK_KEY = "zhitong.push_lock"
LIMITER_KEY = "zhitong.push_limiter"


# ---------------------------------------------------------------- the enterprise's profile
def profile_text(enterprise: EnterprisePublic, tz: str) -> str:
    consent = (texts.PROFILE_CONSENT_YES.format(when=fmt_time(enterprise.push_consent_at, tz))
               if enterprise.push_consent else texts.PROFILE_CONSENT_NO)
    unset = texts.PROFILE_UNSET
    return texts.PROFILE_CARD.format(industry=enterprise.industry or unset, size=enterprise.size or unset,
                                     district=enterprise.district or unset,
                                     tags="、".join(enterprise.tags) or unset, consent=consent)


async def show_profile(update: Update, context: BotContext, *, intro: str = "") -> None:
    """The profile card with its editing buttons (also sent at the end of /register)."""
    services = context.services
    enterprise = await services.push.profile(user_id(update))
    if enterprise is None:
        await reply_text(update, context, texts.PROFILE_NOT_REGISTERED)
        return
    text = profile_text(enterprise, services.settings.desk.timezone)
    await reply_text(update, context, f"{intro}\n\n{text}" if intro else text,
                     keyboard=_card_keyboard(enterprise))


def _card_keyboard(enterprise: EnterprisePublic) -> InlineKeyboardMarkup:
    return keyboards.profile_card(enterprise.push_consent)


async def on_profile(update: Update, context: BotContext) -> None:
    await show_profile(update, context)


async def on_district(update: Update, context: BotContext) -> None:
    """/district 东城区: the district as text (for cities that list none in push.districts)."""
    name = " ".join(context.args or []).strip()
    if not name:
        await reply_text(update, context, texts.PROFILE_DISTRICT_FREE)
        return
    try:
        enterprise = await context.services.push.update_profile(user_id(update), district=name)
    except PushError as exc:
        await reply_text(update, context, exc.message)
        return
    await reply_text(update, context, texts.PROFILE_DISTRICT_SET.format(district=enterprise.district))


async def on_subscribe(update: Update, context: BotContext) -> None:
    await _consent(update, context, True)


async def on_unsubscribe(update: Update, context: BotContext) -> None:
    await _consent(update, context, False)


async def _consent(update: Update, context: BotContext, consent: bool) -> None:
    services = context.services
    try:
        await services.push.set_consent(user_id(update), consent)
    except PushError as exc:
        await reply_text(update, context, exc.message)
        return
    said = texts.SUBSCRIBED.format(per_week=services.settings.push.max_per_week) if consent else texts.UNSUBSCRIBED
    await reply_text(update, context, said)


async def on_profile_button(update: Update, context: BotContext) -> None:
    """The profile editor's buttons: each press saves at once and redraws the card or the menu."""
    query = update.callback_query
    parsed = keyboards.parse(query.data if query else None)
    if query is None or parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    services = context.services
    pushes = services.push
    tg = user_id(update)
    action = parsed.args[0]
    districts = list(services.settings.push.districts)
    options = {"i": list(INDUSTRIES), "s": list(SIZES), "d": districts, "t": list(TAGS)}
    labels = {"i": DIMENSION_LABELS["industries"], "s": DIMENSION_LABELS["sizes"],
              "d": DIMENSION_LABELS["districts"], "t": DIMENSION_LABELS["tags"]}
    try:
        if action == "done":
            await answer_callback(update)
            await _edit(query, texts.PROFILE_DONE, None)
            return
        enterprise = await pushes.profile(tg)
        if enterprise is None:
            raise PushError(texts.PROFILE_NOT_REGISTERED)
        if action.startswith("menu:"):
            kind = action[-1]
            if kind == "d" and not districts:
                await answer_callback(update, texts.PROFILE_DISTRICT_FREE, alert=True)
                return
            chosen = {"i": [enterprise.industry], "s": [enterprise.size], "d": [enterprise.district],
                      "t": list(enterprise.tags)}[kind]
            await answer_callback(update)
            await _edit(query, texts.PROFILE_PICK.format(field=labels[kind]),
                        keyboards.profile_choices(kind, options[kind], chosen))
            return
        if action.startswith("c:"):
            enterprise = await pushes.set_consent(tg, action == "c:1")
        elif action != "card":
            kind, _, raw = action.partition(":")
            index = int(raw)
            if index >= len(options[kind]):
                raise PushError(texts.BAD_CALLBACK)
            value = options[kind][index] if index >= 0 else ""
            if kind == "t":
                enterprise = await pushes.update_profile(tg, toggle_tag=value)
                await answer_callback(update)
                await _edit(query, texts.PROFILE_PICK.format(field=labels["t"]),
                            keyboards.profile_choices("t", options["t"], list(enterprise.tags)))
                return
            field = {"i": "industry", "s": "size", "d": "district"}[kind]
            enterprise = await pushes.update_profile(tg, **{field: value})
    except PushError as exc:
        await answer_callback(update, exc.message, alert=True)
        return
    await answer_callback(update)
    await _edit(query, profile_text(enterprise, services.settings.desk.timezone), _card_keyboard(enterprise))


async def _edit(query: Any, text: str, keyboard: InlineKeyboardMarkup | None) -> None:
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as exc:  # "message is not modified" (the same button twice), or too old to edit
        log.info("profile edit skipped: %s", exc)


# ---------------------------------------------------------------- answers to a push
async def on_push_button(update: Update, context: BotContext) -> None:
    """详细了解 / 不适用 / 已申报 / 退订 under a pushed policy."""
    query = update.callback_query
    parsed = keyboards.parse(query.data if query else None)
    if query is None or parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    action, raw_id = parsed.args
    delivery_id = int(raw_id)
    pushes = context.services.push
    tg = user_id(update)
    if action == "na":  # the reason first; it is recorded with the answer
        await answer_callback(update)
        await reply_text(update, context, texts.PUSH_ASK_REASON,
                         keyboard=keyboards.not_applicable_reasons(delivery_id, NOT_APPLICABLE_REASONS))
        return
    response = {"more": Response.DETAILS, "ap": Response.APPLIED, "un": Response.UNSUBSCRIBED}[action]
    try:
        delivery = await pushes.respond(delivery_id, tg, response)
    except PushError as exc:
        await answer_callback(update, exc.message, alert=True)
        return
    await answer_callback(update)
    if response == Response.UNSUBSCRIBED:
        await reply_text(update, context, texts.UNSUBSCRIBED)
    elif response == Response.APPLIED:
        await reply_text(update, context, texts.PUSH_THANKS_APPLIED)
    else:  # the answer flow, on this policy
        campaign = await pushes.get_campaign(delivery.campaign_id)
        await answer_question(update, context,
                              texts.PUSH_MORE_QUESTION.format(title=campaign.title or campaign.policy_name))


async def on_not_applicable_reason(update: Update, context: BotContext) -> None:
    query = update.callback_query
    parsed = keyboards.parse(query.data if query else None)
    if query is None or parsed is None or int(parsed.args[1]) >= len(NOT_APPLICABLE_REASONS):
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    reason = NOT_APPLICABLE_REASONS[int(parsed.args[1])]
    try:
        await context.services.push.respond(int(parsed.args[0]), user_id(update), Response.NOT_APPLICABLE, reason)
    except PushError as exc:
        await answer_callback(update, exc.message, alert=True)
        return
    await answer_callback(update)
    await _edit(query, texts.PUSH_THANKS_REASON.format(reason=reason), None)


# ---------------------------------------------------------------- the admin's review
async def on_push_command(update: Update, context: BotContext) -> None:
    """/push: the campaigns waiting for review, one button each."""
    services = context.services
    if not await services.is_admin(user_id(update)):
        await reply_text(update, context, texts.ADMIN_ONLY)
        return
    pending = await services.push.list_campaigns("pending")
    if not pending:
        await reply_text(update, context, texts.PUSH_ADMIN_NONE)
        return
    await reply_text(update, context, texts.PUSH_ADMIN_LIST, keyboard=keyboards.campaign_list(
        [(c.id, f"#{c.id} {c.title or c.policy_name}") for c in pending if c.id is not None]))


def review_text(preview: CampaignPreview) -> str:
    c = preview.campaign
    r = preview.recipients
    reasons = "，".join(f"{reason} {n} 家" for reason, n in r.reasons.most_common(6)) or "无"
    unknown = texts.PUSH_UNKNOWN_TERMS.format(terms="、".join(c.unknown_terms)) if c.unknown_terms else ""
    return texts.PUSH_ADMIN_REVIEW.format(
        id=c.id, title=c.title or c.policy_name, department=c.department or "未注明部门",
        origin=texts.PUSH_ORIGIN.get(c.audience_origin, c.audience_origin), audience=preview.audience.describe(),
        unknown=unknown, matched=len(r.matched), reasons=reasons, not_subscribed=r.not_subscribed,
        unreachable=r.unreachable, sample=preview.sample)


async def on_review_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    parsed = keyboards.parse(query.data if query else None)
    if query is None or parsed is None:
        await answer_callback(update, texts.BAD_CALLBACK)
        return
    services = context.services
    tg = user_id(update)
    if not await services.is_admin(tg):
        await answer_callback(update, texts.ADMIN_ONLY, alert=True)
        return
    action, raw_id = parsed.args
    campaign_id = int(raw_id)
    try:
        if action == "view":
            preview = await services.push.preview(campaign_id)
            await answer_callback(update)
            await reply_text(update, context, review_text(preview), keyboard=keyboards.campaign_review(campaign_id)
                             if preview.campaign.status == "pending" else None)
            return
        if action == "ok":
            campaign = await services.push.approve(campaign_id, by_tg_id=tg)
            said = texts.PUSH_APPROVED.format(id=campaign_id, n=campaign.queued_count)
        else:
            await services.push.discard(campaign_id, by_tg_id=tg)
            said = texts.PUSH_DISCARDED.format(id=campaign_id)
    except PushError as exc:
        await answer_callback(update, exc.message, alert=True)
        return
    await answer_callback(update)
    await _edit(query, said, None)


async def on_push_audience(update: Update, context: BotContext) -> None:
    """/push_audience 12 行业=住宿和餐饮业；规模=小型,微型"""
    services = context.services
    tg = user_id(update)
    if not await services.is_admin(tg):
        await reply_text(update, context, texts.ADMIN_ONLY)
        return
    args = context.args or []
    if not args or not args[0].isdigit():
        await reply_text(update, context, texts.PUSH_AUDIENCE_USAGE)
        return
    campaign_id = int(args[0])
    try:
        audience = parse_audience_text(" ".join(args[1:]), list(services.settings.push.districts)) if args[1:] \
            else Audience()
        await services.push.set_audience(campaign_id, audience, by_tg_id=tg)
        preview = await services.push.preview(campaign_id)
    except PushError as exc:
        await reply_text(update, context, exc.message)
        return
    await reply_text(update, context, f"{texts.PUSH_AUDIENCE_SET}\n\n{review_text(preview)}",
                     keyboard=keyboards.campaign_review(campaign_id))


# ---------------------------------------------------------------- the job that sends
def _limiter(context: BotContext) -> AsyncLimiter:
    limiter = context.application.bot_data.get(LIMITER_KEY)
    if limiter is None:
        rate = context.services.settings.push.rate_per_s
        # One token per 1/rate seconds, no burst: pushes leave room under Telegram's ~30/s for answers.
        limiter = context.application.bot_data[LIMITER_KEY] = AsyncLimiter(1, 1 / rate)
    return limiter  # type: ignore[no-any-return]


async def deliver_pushes(context: BotContext) -> int:
    """Open campaigns for new policies (admins told), queue due reminders, and send what is due."""
    lock = context.application.bot_data.setdefault(LOCK_KEY, asyncio.Lock())
    if lock.locked():
        return 0
    services = context.services
    pushes = services.push
    sent = 0
    async with lock:
        opened = await pushes.sync_from_knowledge()
        if opened:
            await _tell_admins(context, opened)
        await pushes.queue_reminders()
        limiter = _limiter(context)
        # A campaign can take minutes: stop between two sends when the bot is shutting down (the job
        # queue waits for running jobs); rows already leased are sent by the next run after push.lease_s.
        while context.application.running and (due := await pushes.claim_due(services.claims.worker, limit=20)):
            for i, delivery in enumerate(due):
                if not context.application.running:
                    await pushes.release([d.id for d in due[i:]])  # back in the queue for the next start
                    break
                async with limiter:
                    sent += await _send(context, delivery)
    return sent


async def _send(context: BotContext, delivery: Any) -> int:
    pushes = context.services.push
    try:
        await context.bot.send_message(
            delivery.tg_user_id, delivery.text,
            reply_markup=keyboards.push_message(delivery.id, asks_application=delivery.asks_application))
    except Forbidden as exc:  # blocked the bot, or never started it
        await pushes.mark_unreachable(delivery.id, str(exc))
        return 0
    except BadRequest as exc:
        if "chat not found" in str(exc).lower():
            await pushes.mark_unreachable(delivery.id, str(exc))
        else:
            await pushes.mark_retry(delivery.id, str(exc))
        return 0
    except (RetryAfter, NetworkError, TelegramError) as exc:
        log.warning("push %s not sent: %s", delivery.id, exc)
        await pushes.mark_retry(delivery.id, str(exc))
        return 0
    await pushes.mark_sent(delivery.id)
    return 1


async def _tell_admins(context: BotContext, opened: list[Any]) -> None:
    services = context.services
    titles = "\n".join(f"· #{c.id} 《{c.title or c.policy_name}》" for c in opened[:10])
    text = texts.PUSH_ADMIN_NEW.format(n=len(opened), titles=titles)
    for admin in await services.admin_ids():
        try:
            await context.bot.send_message(admin, text)
        except TelegramError as exc:
            log.warning("could not tell admin %s about new campaigns: %s", admin, exc)


def handlers() -> list[Any]:
    return [
        CommandHandler("profile", on_profile, filters=PRIVATE),
        CommandHandler("district", on_district, filters=PRIVATE),
        CommandHandler("subscribe", on_subscribe, filters=PRIVATE),
        CommandHandler("unsubscribe", on_unsubscribe, filters=PRIVATE),
        CommandHandler("push", on_push_command, filters=PRIVATE),
        CommandHandler("push_audience", on_push_audience, filters=PRIVATE),
        CallbackQueryHandler(on_profile_button, pattern=keyboards.PF),
        CallbackQueryHandler(on_push_button, pattern=keyboards.PS),
        CallbackQueryHandler(on_not_applicable_reason, pattern=keyboards.PR),
        CallbackQueryHandler(on_review_button, pattern=keyboards.PA),
    ]


__all__ = ["deliver_pushes", "handlers", "show_profile"]
