"""Telegram handlers, one module per role. Thin: parse → call a service → render.

:func:`register` is the one place that knows the handlers, their order and their groups.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from core.config import Settings
from handlers.common import answer_callback, reply_text
from handlers.texts import BAD_CALLBACK, COMMANDS_ENTERPRISE, NOTHING_TO_CANCEL, UNKNOWN_COMMAND

# Group -3 runs before everything: flood control (it may stop the update with ApplicationHandlerStop).
GATE_GROUP = -3
# Group -2 stops edited messages (they are not new messages; see errors.edited_message_gate).
EDIT_GATE_GROUP = -2
# Group -1 only tidies per-user state (a lapsed rating-comment invitation) and lets the update go on to group 0.
LAPSE_GROUP = -1


def register(app: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Add every handler to ``app``. Order matters within group 0: the first match wins."""
    # Here, not at the top: `import handlers.texts` (tests, renderers) should not load every handler
    # module and python-telegram-bot's handler stack with it.
    from handlers import admin, ask, errors, escalate, push, staff, start, tickets

    app.add_handler(TypeHandler(Update, errors.flood_gate), group=GATE_GROUP)
    app.add_handler(TypeHandler(Update, errors.edited_message_gate), group=EDIT_GATE_GROUP)
    for handler in tickets.lapse_handlers():  # a command or another button ends a pending rating comment
        app.add_handler(handler, group=LAPSE_GROUP)

    ordered: list[Any] = [
        # 1. Conversations first: while one is active, its steps own the user's messages.
        escalate.intake_conversation(),
        start.registration_conversation(),
        # 2. Commands (enterprise, staff, admin).
        CommandHandler(["start", "help"], start.start),
        *tickets.handlers(),
        *staff.handlers(settings),
        *admin.handlers(),
        *push.handlers(),
        # 3. /cancel outside any conversation.
        CommandHandler("cancel", _nothing_to_cancel, filters=filters.ChatType.PRIVATE),
        # 4. Free text and answer buttons (private chat).
        *ask.handlers(),
        # 5. Anything non-text nobody took; a command nobody knows (a typo, an old menu); any button
        #    nobody understood (tampered or expired data).
        ask.not_text_handler(),
        MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, _unknown_command),
        CallbackQueryHandler(_unknown_button),
    ]
    for handler in ordered:
        app.add_handler(handler)
    app.add_error_handler(errors.on_error)


async def _unknown_button(update: Update, context: Any) -> None:
    """A button nobody handles: tampered data, or left over from an older version of the bot."""

    await answer_callback(update, BAD_CALLBACK)


async def _nothing_to_cancel(update: Update, context: Any) -> None:

    await reply_text(update, context, NOTHING_TO_CANCEL)


async def _unknown_command(update: Update, context: Any) -> None:
    """A private-chat command nobody handles: say which ones exist instead of staying silent."""

    menu = "\n".join(f"/{name} {label}" for name, label in COMMANDS_ENTERPRISE)
    await reply_text(update, context, UNKNOWN_COMMAND.format(menu=menu))
