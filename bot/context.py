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


BotApplication = Application[ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]
