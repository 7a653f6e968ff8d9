"""Admins: upload a policy file or directory spreadsheet → download → incremental ingest → change report;
/reindex, /kb (what is indexed), /stats (questions, routing, 没用 rate, unanswered questions of the week).
Everybody else is refused politely; an unsupported or oversized file is refused before download.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.context import BotContext
from bot.ingest_runner import IngestBusy, IngestRunner
from handlers import render, texts
from handlers.common import reply_text, send_html, user_id
from handlers.tickets import relay_attachment_to_ticket

log = logging.getLogger(__name__)

ALLOWED_EXTENSIONS = IngestRunner.ALLOWED_EXTENSIONS
PROGRESS_EVERY_S = 1.0


async def on_document(update: Update, context: BotContext) -> None:
    """A document in private chat: admins' files are ingested; an owner's goes to their open ticket;
    others are told politely."""
    message = update.effective_message
    assert message is not None and message.document is not None
    services = context.services
    ingest = services.ingest
    if not await services.is_admin(user_id(update)):
        if await relay_attachment_to_ticket(update, context):  # an owner's materials for the commissioner
            return
        await reply_text(update, context, texts.UPLOAD_NOT_ADMIN)
        return
    document = message.document
    name = ingest.safe_name(document.file_name or "upload")
    problem = ingest.check_upload(name, document.file_size or 0)
    if problem is None and ingest.busy:
        problem = "busy"
    if problem is not None:
        await reply_text(update, context, _upload_problem(problem, name, document.file_size or 0, ingest.max_upload_mb))
        return
    status = await reply_text(update, context, texts.UPLOAD_RECEIVED.format(name=name))
    partial = ingest.partial_path(name)
    try:
        file = await document.get_file()
        await file.download_to_drive(partial)
    except TelegramError as exc:
        partial.unlink(missing_ok=True)
        await reply_text(update, context, texts.UPLOAD_DOWNLOAD_FAILED.format(error=exc.message))
        return
    size = partial.stat().st_size
    if ingest.check_upload(name, size) is not None:  # the declared size lied
        partial.unlink(missing_ok=True)
        await reply_text(update, context, _upload_problem("too_large", name, size, ingest.max_upload_mb))
        return
    report = await _run_ingest(update, context, lambda progress: ingest.ingest_upload(name, partial, progress),
                               status, name)
    if report is not None:
        await reply_text(update, context, texts.UPLOAD_REPORT.format(summary=report.summary_zh()))


def _upload_problem(problem: str, name: str, size: int, limit_mb: float) -> str:
    if problem == "unsupported":
        return texts.UPLOAD_UNSUPPORTED.format(ext=Path(name).suffix or name, allowed=" ".join(ALLOWED_EXTENSIONS))
    if problem == "too_large":
        return texts.UPLOAD_TOO_LARGE.format(size=size / (1024 * 1024), limit=limit_mb)
    return texts.UPLOAD_BUSY


def _progress_text(name: str, done: int, total: int) -> str:
    """The ingest reports the file it starts (0-based count) and "" once every file is done."""
    if not name:
        return texts.UPLOAD_PROGRESS_DONE.format(total=total)
    return texts.UPLOAD_PROGRESS.format(name=name, done=done + 1, total=total)


async def _run_ingest(
    update: Update, context: BotContext, job: Callable[[Callable[[str, int, int], None]], Awaitable[Any]],
    status: Message | None, label: str,
) -> Any:
    """Run the ingest with a progress message edited at most once a second; returns the report."""
    loop = asyncio.get_running_loop()
    latest: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:  # called from the ingest thread
        loop.call_soon_threadsafe(latest.update, {"name": name, "done": done, "total": total})

    async def show_progress() -> None:
        shown: dict[str, Any] = {}
        last_edit = 0.0
        while True:
            await asyncio.sleep(0.2)
            # First progress soon, then at most one edit per PROGRESS_EVERY_S (Telegram rate limits).
            if latest and latest != shown and status is not None and loop.time() - last_edit >= PROGRESS_EVERY_S:
                shown, last_edit = dict(latest), loop.time()
                with contextlib.suppress(BadRequest):
                    await status.edit_text(_progress_text(shown["name"], shown["done"], shown["total"]))

    ticker = asyncio.create_task(show_progress())
    try:
        report = await job(progress)
    except IngestBusy:
        await reply_text(update, context, texts.UPLOAD_BUSY)
        return None
    except Exception as exc:  # the pipeline's own errors: the store is as it was (ingest is per-file atomic)
        log.exception("ingest of %s failed", label)
        await reply_text(update, context, texts.UPLOAD_FAILED.format(error=type(exc).__name__))
        return None
    finally:
        ticker.cancel()
    return report


async def reindex(update: Update, context: BotContext) -> None:
    """/reindex — re-ingest the uploads directory (changed files update, removed files leave)."""
    services = context.services
    if not await services.is_admin(user_id(update)):
        await reply_text(update, context, texts.ADMIN_ONLY)
        return
    uploads = services.ingest.uploads_dir
    if not any(p.is_file() and not p.name.startswith(".") for p in uploads.iterdir()):
        await reply_text(update, context, texts.REINDEX_EMPTY)
        return
    status = await reply_text(update, context, texts.REINDEX_START)
    report = await _run_ingest(update, context, lambda progress: services.ingest.run([uploads], progress),
                               status, "uploads")
    if report is not None:
        await reply_text(update, context, texts.UPLOAD_REPORT.format(summary=report.summary_zh()))


async def kb(update: Update, context: BotContext) -> None:
    """/kb — counts per kind, files, last ingest."""
    services = context.services
    if not await services.is_admin(user_id(update)):
        await reply_text(update, context, texts.ADMIN_ONLY)
        return
    if services.knowledge is None:
        await reply_text(update, context, texts.KNOWLEDGE_NOT_READY)
        return
    stats = await asyncio.to_thread(services.knowledge.stats)
    await reply_text(update, context, render.kb_summary(stats, tz=services.settings.desk.timezone))


async def stats(update: Update, context: BotContext) -> None:
    """/stats — questions answered, routed to the desk, 没用 rate, unanswered questions of the week."""
    services = context.services
    if not await services.is_admin(user_id(update)):
        await reply_text(update, context, texts.ADMIN_ONLY)
        return
    report = await services.analytics.stats(days=7)
    tickets = await services.analytics.ticket_counts()
    ticket_text = "、".join(f"{label} {n}" for label, n in tickets) or "0"
    lines = [texts.STATS_TEXT.format(
        days=report.days, asked=report.asked, answered=report.answered, routed=report.routed,
        escalated=report.escalated, up=report.up, down=report.down, down_rate=f"{report.down_rate:.0%}",
        tickets=ticket_text,
    )]
    if report.unanswered:
        lines.extend(f"{i}. {q}（{n} 次）" for i, (q, n) in enumerate(report.unanswered, 1))
    else:
        lines.append(texts.STATS_NONE)
    chat = update.effective_chat
    assert chat is not None
    await send_html(context, chat.id, render.plain_messages("\n".join(lines)))


def handlers() -> list[Any]:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("reindex", reindex),
        CommandHandler("kb", kb),
        CommandHandler("stats", stats),
        MessageHandler(private & filters.Document.ALL, on_document),
    ]
