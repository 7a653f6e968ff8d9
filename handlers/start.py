"""Enterprise owners: /start, /help, and the optional registration conversation (with /cancel)."""

from __future__ import annotations

import re

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import CommandHandler, ConversationHandler, MessageHandler, filters

from bot.context import BotContext
from desk.credit_code import normalize_credit_code
from desk.errors import DeskError
from desk.models import EnterpriseCreate
from handlers import texts
from handlers.ask import on_text
from handlers.common import is_stale, mark_started, reply_text, user_id
from handlers.push import show_profile

NAME, CODE, INDUSTRY, CONTACT = range(4)
REG_KEY = "registration"
_PHONE = re.compile(r"(\+?\d[\d\- ]{5,20}\d)")


async def start(update: Update, context: BotContext) -> None:
    """Greet, show the guide, the registered company and its commissioner."""
    user = update.effective_user
    assert user is not None
    services = context.services
    lines = [texts.GREETING.format(name=user.first_name or "")]
    enterprise = await services.desk.get_enterprise_by_tg(user.id)
    if enterprise is not None:
        lines.append(texts.GREETING_REGISTERED.format(company=enterprise.name))
        if enterprise.commissioner_id is not None:
            staff = {s.id: s for s in await services.desk.list_staff()}
            commissioner = staff.get(enterprise.commissioner_id)
            if commissioner is not None:
                lines.append(texts.GREETING_COMMISSIONER.format(commissioner=commissioner.name))
    if await services.is_staff(user.id):
        lines.append(texts.STAFF_HELP)
    if await services.is_admin(user.id):
        lines.append(texts.ADMIN_HELP)
    await reply_text(update, context, "\n\n".join(lines))


async def register_start(update: Update, context: BotContext) -> int:
    """Start the registration conversation."""
    context.udata[REG_KEY] = {}
    mark_started(context.udata[REG_KEY])
    await reply_text(update, context, texts.REG_ASK_NAME)
    return NAME


def _field(update: Update, limit: int) -> str | None:
    message = update.effective_message
    text = (message.text or "").strip() if message is not None else ""
    return text if 0 < len(text) <= limit else None


async def _expired(update: Update, context: BotContext) -> int | None:
    """END (after handling the text as a normal message) when the registration was abandoned long ago."""
    if not is_stale(context.udata.get(REG_KEY)):
        return None

    context.udata.pop(REG_KEY, None)
    await reply_text(update, context, texts.REG_EXPIRED)
    await on_text(update, context)
    return ConversationHandler.END


async def register_name(update: Update, context: BotContext) -> int:
    """Store the company name and ask for the credit code."""
    if (ended := await _expired(update, context)) is not None:
        return ended
    name = _field(update, 200)
    if name is None:
        await reply_text(update, context, texts.REG_FIELD_TOO_LONG.format(limit=200))
        return NAME
    context.udata.setdefault(REG_KEY, {})["name"] = name
    await reply_text(update, context, texts.REG_ASK_CODE)
    return CODE


async def register_code(update: Update, context: BotContext) -> int:
    """Validate the 统一社会信用代码 (GB 32100-2015) and ask for the industry."""
    if (ended := await _expired(update, context)) is not None:
        return ended
    raw = _field(update, 40) or ""
    try:
        code = normalize_credit_code(raw.upper())
    except DeskError as exc:
        await reply_text(update, context, texts.REG_BAD_CODE.format(error=exc.message))
        return CODE
    context.udata.setdefault(REG_KEY, {})["code"] = code
    await reply_text(update, context, texts.REG_ASK_INDUSTRY)
    return INDUSTRY


async def register_industry(update: Update, context: BotContext) -> int:
    """Store the industry and ask for the contact."""
    if (ended := await _expired(update, context)) is not None:
        return ended
    industry = _field(update, 100)
    if industry is None:
        await reply_text(update, context, texts.REG_FIELD_TOO_LONG.format(limit=100))
        return INDUSTRY
    context.udata.setdefault(REG_KEY, {})["industry"] = industry
    # Typing "name phone" works everywhere; the button shares the Telegram account's own number.
    share = ReplyKeyboardMarkup([[KeyboardButton(texts.BTN_SHARE_CONTACT, request_contact=True)]],
                                resize_keyboard=True, one_time_keyboard=True)
    await reply_text(update, context, texts.REG_ASK_CONTACT, keyboard=share)
    return CONTACT


async def register_contact(update: Update, context: BotContext) -> int:
    """Parse "name phone", register the enterprise with the desk, finish."""
    if (ended := await _expired(update, context)) is not None:
        return ended
    shared = update.effective_message.contact if update.effective_message else None
    if shared is not None:  # the 发送手机号 button (or any contact card with a number)
        contact = _contact_name(shared.first_name, shared.last_name)
        phone = shared.phone_number.strip()
    else:
        text = _field(update, 100) or ""
        phone_match = _PHONE.search(text)
        contact = _PHONE.sub("", text).strip(" ,，:：") if phone_match else ""
        phone = phone_match.group(1) if phone_match else ""
    if not phone or not contact:
        await reply_text(update, context, texts.REG_BAD_CONTACT)
        return CONTACT
    data = context.udata.pop(REG_KEY, {})
    try:
        enterprise = await context.services.desk.register_enterprise(EnterpriseCreate(
            name=data.get("name", ""), credit_code=data.get("code", ""), industry=data.get("industry", ""),
            contact_name=contact[:64], contact_phone=phone[:32], tg_user_id=user_id(update),
        ))
    except DeskError as exc:
        await reply_text(update, context, texts.REG_FAILED.format(error=exc.message), keyboard=ReplyKeyboardRemove())
        return ConversationHandler.END
    await reply_text(update, context, texts.REG_DONE.format(company=enterprise.name, code=enterprise.credit_code),
                     keyboard=ReplyKeyboardRemove())
    # The push profile and consent, with buttons: skippable, editable later with /profile.
    await show_profile(update, context, intro=texts.PROFILE_ASK)
    return ConversationHandler.END


def _contact_name(first: str, last: str | None) -> str:
    """钱 + 大宝 → 钱大宝 (Chinese: family name first, no space); Ann + Lee → Ann Lee."""
    if not last:
        return first.strip()
    if (first + last).isascii():
        return f"{first} {last}".strip()
    return f"{last}{first}".strip()


async def cancel(update: Update, context: BotContext) -> int:
    """Leave any conversation (registration or intake) and drop its scratch data."""
    context.udata.pop(REG_KEY, None)
    context.udata.pop("intake", None)
    await reply_text(update, context, texts.CANCELLED, keyboard=ReplyKeyboardRemove())  # 发送手机号, if shown
    return ConversationHandler.END


async def not_text_in_step(update: Update, context: BotContext) -> None:
    """A sticker/photo/voice where a typed answer is expected: stay in the same step."""
    await reply_text(update, context, texts.NOT_TEXT_IN_STEP)


def registration_conversation() -> ConversationHandler[BotContext]:
    private_text = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND
    other = filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND
    return ConversationHandler(
        entry_points=[CommandHandler("register", register_start, filters=filters.ChatType.PRIVATE)],
        states={
            NAME: [MessageHandler(private_text, register_name)],
            CODE: [MessageHandler(private_text, register_code)],
            INDUSTRY: [MessageHandler(private_text, register_industry)],
            CONTACT: [MessageHandler(private_text | (filters.ChatType.PRIVATE & filters.CONTACT), register_contact)],
        },
        fallbacks=[CommandHandler("cancel", cancel), MessageHandler(other, not_text_in_step)],
        name="register",
        persistent=True,
        allow_reentry=True,
    )
