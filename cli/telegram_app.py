"""Telegram application wiring: build_application(settings) → a python-telegram-bot Application.

Services are built in post_init and closed in post_shutdown; handlers are registered by
handlers.register; JobQueue runs the desk outbox delivery, the desk's deadline tick and the check for
knowledge-base changes made by other processes; conversation state (registration, 转人工 intake) is
kept in the database (bot/persistence.py) so a restart, or another webhook worker, resumes it.
"""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import urlparse

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes

from bot.chat_order import ChatLeases
from bot.context import SERVICES_KEY, BotContext
from bot.journal import JournalingRequest, JournalQueue, UpdateJournal
from bot.persistence import SqlPersistence
from bot.services import Services
from bot.telegram_http import AiohttpRequest
from bot.update_processor import PerChatUpdateProcessor, drain_stalled_chats
from core.clock import Clock
from core.config import Settings
from core.db import init_db, make_async_engine
from handlers import register, texts
from handlers.outbox import deliver_outbox, scheduler_tick
from handlers.push import deliver_pushes

log = logging.getLogger(__name__)


class _RedactToken(logging.Filter):
    """Replace the bot token in log records (PTB logs the API URL at DEBUG; errors may quote URLs)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


def _install_token_redaction(token: str) -> None:
    """On the root handlers (everything that is written) and on PTB's own loggers."""
    redactor = _RedactToken(token)
    targets: list[logging.Filterer] = [*logging.getLogger().handlers]
    targets += [logging.getLogger(name) for name in (
        "telegram", "telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Updater", "telegram.ext.Application",
        "telegram.request", "httpx", "httpcore", "aiohttp", "aiohttp.client", "bot.telegram_http", __name__,
        "handlers",
    )]
    for target in targets:
        if not any(isinstance(f, _RedactToken) and f.token == token for f in target.filters):
            target.addFilter(redactor)


def build_application(
    settings: Settings, *, knowledge: Any | None = None, clock: Clock | None = None,
    answer_process: bool = False,
) -> Application[Any, BotContext, Any, Any, Any, Any]:
    """The bot for ``settings``; ``knowledge`` lets tests share one loaded KnowledgeService;
    ``answer_process`` answers new questions in a worker process (Services.build)."""
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    tg = settings.telegram
    token = tg.token.get_secret_value()
    if not token:
        raise ValueError("没有配置 Telegram 机器人令牌：请设置环境变量 ZHITONG_TELEGRAM_TOKEN。")
    _install_token_redaction(token)
    # Webhook workers may be several behind a round-robin proxy: they share every chat (see
    # bot/update_processor.py). Polling has one consumer by Telegram's rule, so one process.
    shared = tg.mode == "webhook"
    engine = make_async_engine(settings.database_url, echo=settings.database.echo, database=settings.database)
    # Conversation scratch (intake, registration, pending staff notes) in the database; tickets are the desk's.
    persistence = SqlPersistence.for_engine(
        engine, legacy_pickle=settings.data_dir / "telegram" / "conversations.pickle",
        prepare=lambda: init_db(engine), shared=shared, update_interval=2,
    )
    rate_limiter = AIORateLimiter(
        overall_max_rate=tg.rate_overall_per_s,
        overall_time_period=1,
        group_max_rate=tg.rate_group_per_min,
        group_time_period=60,
        max_retries=3,
    )

    # Every update is on disk before Telegram is told it arrived (bot/journal.py); a webhook worker
    # replays its own interrupted updates, so it needs a name that survives a restart.
    worker = f"{socket.gethostname()}:{tg.webhook_port}" if tg.mode == "webhook" else "polling"
    journal = UpdateJournal(worker)

    processor = PerChatUpdateProcessor(tg.concurrent_updates, journal)

    async def save_state(context: BotContext) -> None:
        """Conversation state to the database, then the done marks of the updates it reflects (never the
        other way round: after a crash an update is replayed rather than its intake step forgotten)."""
        await context.application.update_persistence()
        await persistence.flush()
        await journal.flush()

    async def take_over_stalled(context: BotContext) -> None:
        await drain_stalled_chats(processor, journal)

    async def post_init(app: Application[Any, BotContext, Any, Any, Any, Any]) -> None:
        services = await Services.build(settings, knowledge=knowledge, clock=clock, answer_process=answer_process,
                                        engine=engine)
        app.bot_data[SERVICES_KEY] = services
        journal.attach(services.sessions)
        if shared:
            leases = ChatLeases(services.sessions, worker, lease_s=tg.chat_lease_s)
            freed = await leases.release_all_of_worker()
            if freed:
                log.warning("freed %d chat lease(s) this worker held when it stopped", freed)
            # The question log is written in batches: the answer's 转人工 button may reach another worker.
            processor.share_chats(app, leases, after_update=services.analytics.flush)
        interrupted = await journal.unfinished()
        if interrupted:
            log.warning("replaying %d update(s) received but not handled before the last stop", len(interrupted))
        for payload in interrupted:
            # Straight into the queue (put_nowait is not journaled again: the rows exist).
            app.update_queue.put_nowait(Update.de_json(payload, app.bot))
        await _set_commands(app)
        jobs = app.job_queue
        if jobs is not None:
            jobs.run_repeating(deliver_outbox, interval=tg.outbox_interval_s, first=0.5, name="outbox")
            jobs.run_repeating(scheduler_tick, interval=settings.desk.scheduler_interval_s, first=1.0,
                               name="desk-scheduler")
            # Policy pushes: new campaigns for admins, reminders, and approved pushes sent at push.rate_per_s.
            # A run may last minutes (a big campaign); a run that starts meanwhile finds the lock taken and
            # returns at once (two instances allowed, so the scheduler does not warn about skipping one).
            jobs.run_repeating(deliver_pushes, interval=settings.push.interval_s, first=2.0, name="push",
                               job_kwargs={"max_instances": 2, "coalesce": True, "misfire_grace_time": None})
            # Conversation state and done marks: at most PERSIST_EVERY_S (+ update_interval) old after a
            # crash; what was handled since is replayed from the journal.
            jobs.run_repeating(save_state, interval=PERSIST_EVERY_S, first=PERSIST_EVERY_S, name="save-state")
            if shared:
                # A worker killed with updates in hand: the chat's next update makes another worker take
                # them; if the chat stays quiet, this does (and the restarted worker replays its own).
                jobs.run_repeating(take_over_stalled, interval=tg.chat_lease_s, first=tg.chat_lease_s,
                                   name="stalled-chats")
            reload_every = settings.knowledge.reload_check_s
            if reload_every > 0:
                jobs.run_repeating(_reload_changed_knowledge, interval=reload_every, first=reload_every,
                                   name="knowledge-reload")
        log.info("Telegram bot ready (mode=%s, staff group=%s)", tg.mode, tg.staff_group_id or "none")

    async def post_shutdown(app: Application[Any, BotContext, Any, Any, Any, Any]) -> None:
        services = app.bot_data.pop(SERVICES_KEY, None)
        if isinstance(services, Services):
            try:
                await journal.flush()  # the last done marks: a clean stop replays nothing
            except Exception:
                log.warning("could not write the last journal marks; those updates replay at start", exc_info=True)
            await services.aclose()

    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .context_types(ContextTypes(context=BotContext))
        .rate_limiter(rate_limiter)
        .persistence(persistence)
        .concurrent_updates(processor)
        .update_queue(JournalQueue(journal, durable_put=tg.mode == "webhook"))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        # aiohttp instead of PTB's httpx (see bot/telegram_http.py). Downloads of admin uploads can be
        # large: the read/write timeouts are far above PTB's 5 s defaults, meant for small API calls.
        # 16 connections carry far more than Telegram's ~30 msg/s; a burst queues for a free one.
        .request(AiohttpRequest(connection_pool_size=HTTP_POOL_SIZE, read_timeout=30, write_timeout=60,
                                pool_timeout=30, media_write_timeout=60))
        .get_updates_request(JournalingRequest(journal, connection_pool_size=1, read_timeout=40, pool_timeout=30))
    )
    app = builder.build()

    register(app, settings)
    return app  # type: ignore[return-value]


PERSIST_EVERY_S = 3.0
HTTP_POOL_SIZE = 16  # connections to the Bot API for sends (getUpdates has its own)


async def _reload_changed_knowledge(context: BotContext) -> None:
    """Pick up ingests made by other processes (dashboard, `zhitong ingest`, other webhook workers)."""
    await context.services.ingest.reload_if_changed()


async def _set_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The command menu: enterprise commands in private chats, staff commands in groups."""
    try:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in texts.COMMANDS_ENTERPRISE],
                                      scope=BotCommandScopeAllPrivateChats())
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in texts.COMMANDS_STAFF],
                                      scope=BotCommandScopeAllGroupChats())
    except Exception:  # a menu is cosmetic: never fail start-up over it
        log.warning("could not set the command menu", exc_info=True)


def webhook_params(settings: Settings) -> dict[str, Any]:
    """Arguments for Updater.start_webhook / Application.run_webhook from the telegram settings."""
    tg = settings.telegram
    if not tg.webhook_url:
        raise ValueError("webhook 模式需要配置 telegram.webhook_url。")
    return {
        "listen": tg.webhook_listen,
        "port": tg.webhook_port,
        # Telegram posts to webhook_url; behind a proxy the local path is the URL's path.
        "url_path": urlparse(tg.webhook_url).path.lstrip("/") or "telegram",
        "webhook_url": tg.webhook_url,
        "secret_token": tg.webhook_secret.get_secret_value() or None,
        "allowed_updates": Update.ALL_TYPES,
    }


def run(settings: Settings) -> None:
    """Run until interrupted: long polling, or a webhook server when telegram.mode = "webhook"."""
    params = webhook_params(settings) if settings.telegram.mode == "webhook" else None
    # `zhitong run` is the production process: retrieval gets its own process (and core).
    app = build_application(settings, answer_process=True)
    if params is not None:
        app.run_webhook(**params)
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
