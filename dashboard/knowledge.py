"""Knowledge-base administration for the dashboard: uploads re-ingested through the ingest pipeline,
and resolved tickets turned into FAQ files that are ingested like any other policy file.

Ingest is synchronous (embedding, Chroma, sync SQL): every call here runs in a worker thread, and the
vector store (with its loaded embedder) is opened once per process and reused.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.config import Settings
from dashboard.models import FaqDecision
from desk.analytics import QuestionLog
from desk.models import Rating, Ticket
from desk.states import TicketState
from ingest.pipeline import SUPPORTED_EXTENSIONS, IngestReport, ingest_paths, open_store
from knowledge.models import KbRecord, KbSource

UPLOAD_DIR = "uploads"
FAQ_DIR = "faq"
MAX_FILENAME_CHARS = 120


class UploadRejected(ValueError):
    """An upload the dashboard refuses before ingesting; the message is Chinese."""


def supported_extensions() -> frozenset[str]:

    return frozenset(SUPPORTED_EXTENSIONS)


def safe_filename(name: str) -> str:
    """The uploaded file's own name, reduced to one harmless path component (Chinese kept)."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").split("/")[-1]
    name = re.sub(r"[\x00-\x1f<>:\"|?*]", "_", name).strip(" .")
    if not name or name.startswith("."):
        raise UploadRejected("文件名无效，请重新选择文件。")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        raise UploadRejected("文件没有扩展名，无法判断类型。")
    return f"{stem[:MAX_FILENAME_CHARS]}.{ext.lower()}"


def check_upload(filename: str, size: int, settings: Settings) -> str:
    """Validate type and size; returns the safe file name."""
    name = safe_filename(filename)
    ext = "." + name.rsplit(".", 1)[1]
    allowed = supported_extensions()
    if ext not in allowed:
        raise UploadRejected(f"不支持的文件类型「{ext}」。可上传：{'、'.join(sorted(allowed))}。")
    limit = settings.ingest.max_file_mb
    if size > limit * 1024 * 1024:
        raise UploadRejected(f"文件过大（{size / 1024 / 1024:.1f} MB），上限 {limit:g} MB。")
    if size == 0:
        raise UploadRejected("文件是空的。")
    return name


class KnowledgeAdmin:
    """Runs ingests for the dashboard, one at a time, with one vector store per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Any = None
        self._lock = threading.Lock()

    def _ingest_sync(self, paths: list[Path]) -> IngestReport:

        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return ingest_paths(self.settings, paths, store=self._store)

    async def ingest(self, paths: list[Path]) -> IngestReport:
        return await asyncio.to_thread(self._ingest_sync, paths)

    async def ingest_upload(self, name: str, data: bytes) -> IngestReport:
        """Save the upload under <data_dir>/uploads and ingest it; a failed file leaves the KB and disk as before.

        The same file name replaces the earlier version (same path → "更新" in the change report).
        """
        folder = self.settings.data_dir / UPLOAD_DIR
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        backup = folder / f".{name}.previous"
        had_previous = target.exists()
        if had_previous:
            shutil.copy2(target, backup)
        await asyncio.to_thread(target.write_bytes, data)
        try:
            report = await self.ingest([target])
        except BaseException:
            _restore(target, backup, had_previous)
            raise
        if report.failed:
            _restore(target, backup, had_previous)
        elif had_previous:
            backup.unlink(missing_ok=True)
        return report

    async def accept_faq(self, entry: FaqEntry) -> tuple[Path, IngestReport]:
        """Write the FAQ as a Markdown policy file with front matter and ingest it."""
        folder = self.settings.data_dir / FAQ_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"faq-{entry.number}.md"
        await asyncio.to_thread(path.write_text, entry.markdown(), "utf-8")
        report = await self.ingest([path])
        if report.failed:
            path.unlink(missing_ok=True)
        return path, report


def _restore(target: Path, backup: Path, had_previous: bool) -> None:
    if had_previous and backup.exists():
        backup.replace(target)
    else:
        target.unlink(missing_ok=True)


@dataclass(frozen=True)
class FaqEntry:
    ticket_id: int
    number: str
    question: str
    answer: str
    department: str
    service_item: str
    resolved_at: datetime | None

    def markdown(self) -> str:
        """A policy file the ingest pipeline reads: YAML front matter, then the question and answer."""
        front = {
            "title": f"常见问题：{self.question}"[:200],
            "department": self.department,
            "effective": (self.resolved_at.date() if self.resolved_at else date.today()).isoformat(),  # noqa: DTZ011
            "tags": ["FAQ", "办不成事"],
        }
        body = f"# {self.question}\n\n## 问题\n\n{self.question}\n\n## 答复\n\n{self.answer}\n"
        if self.service_item:
            body += f"\n涉及事项：{self.service_item}\n"
        body += f"\n（来源：办不成事工单 {self.number} 的办理结果，经管理员审核采纳。）\n"
        return "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n\n" + body


async def faq_proposals(session: AsyncSession, limit: int = 20) -> list[FaqEntry]:
    """Resolved or closed tickets with a resolution note, not rated 不满意 in their last round,
    and not yet accepted or dismissed: candidates for new FAQ entries, newest first."""
    decided = select(FaqDecision.ticket_id)
    unhappy = select(Rating.ticket_id).where(
        Rating.score == "不满意", Rating.round == Ticket.resolution_round
    )
    stmt = (
        select(Ticket)
        .where(
            col(Ticket.state).in_([TicketState.RESOLVED.value, TicketState.CLOSED.value]),
            col(Ticket.resolution_note) != "",
            col(Ticket.id).not_in(decided),
            col(Ticket.id).not_in(unhappy),
        )
        .order_by(col(Ticket.resolved_at).desc(), col(Ticket.id).desc())
        .limit(limit)
    )
    return [faq_entry(t) for t in (await session.exec(stmt)).all()]


def faq_entry(t: Ticket, question: str = "", answer: str = "") -> FaqEntry:
    return FaqEntry(
        ticket_id=t.id or 0,
        number=t.number or str(t.id),
        question=(question or t.title).strip(),
        answer=(answer or t.resolution_note).strip(),
        department=t.department,
        service_item=t.service_item,
        resolved_at=t.resolved_at,
    )


async def sources(session: AsyncSession) -> list[Any]:

    return list((await session.exec(select(KbSource).order_by(col(KbSource.kind), col(KbSource.name)))).all())


async def record_totals(session: AsyncSession) -> dict[str, int]:

    rows = (await session.exec(select(KbRecord.kind, func.count()).group_by(col(KbRecord.kind)))).all()
    return {str(kind): int(n) for kind, n in rows}


async def downvoted_questions(
    session: AsyncSession, since: datetime, limit: int = 20
) -> list[tuple[str, int, str]]:
    """Questions marked 没用 since `since`: (question, times, what the bot answered with)."""

    stmt = (
        select(QuestionLog.question, func.count(), func.max(QuestionLog.top_title))
        .where(col(QuestionLog.created_at) >= since, QuestionLog.feedback == "down")
        .group_by(col(QuestionLog.question))
        .order_by(func.count().desc(), col(QuestionLog.question))
        .limit(limit)
    )
    return [(str(q), int(n), str(t or "")) for q, n, t in (await session.exec(stmt)).all()]


async def unanswered_questions(
    session: AsyncSession, since: datetime, limit: int = 20
) -> list[tuple[str, int]]:
    """Questions the knowledge base found nothing for (routed to the desk) since `since`."""

    stmt = (
        select(QuestionLog.question, func.count())
        .where(col(QuestionLog.created_at) >= since, col(QuestionLog.routed))
        .group_by(col(QuestionLog.question))
        .order_by(func.count().desc(), col(QuestionLog.question))
        .limit(limit)
    )
    return [(str(q), int(n)) for q, n in (await session.exec(stmt)).all()]
