"""Custom CallbackContext: handlers reach the services through a typed property, not bot_data keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

if TYPE_CHECKING:
    from bot.services import Services

SERVICES_KEY = "zhitong.services"


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with `.services` (built in post_init, closed in post_shutdown)."""

    @property
    def services(self) -> Services:
        services = self.application.bot_data.get(SERVICES_KEY)
        if services is None:
            raise RuntimeError("services are not initialised (post_init has not run)")
        return services  # type: ignore[no-any-return]

    @property
    def udata(self) -> dict[Any, Any]:
        """user_data, which exists for every update with a user (the only ones our handlers take)."""
        data = self.user_data
        if data is None:
            raise RuntimeError("update without a user")
        return data

    @property
    def cdata(self) -> dict[Any, Any]:
        """chat_data, which exists for every update with a chat."""
        data = self.chat_data
        if data is None:
            raise RuntimeError("update without a chat")
        return data


BotApplication = Application[ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]
