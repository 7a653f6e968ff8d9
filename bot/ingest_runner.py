"""Admin uploads and ingest runs from the bot: one at a time, checked, then the knowledge core reloads."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import Settings
from ingest.pipeline import ingest_paths

if TYPE_CHECKING:
    from ingest.pipeline import IngestReport
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)


class IngestBusy(Exception):
    """Another ingest is running (one at a time: the store is written by one writer)."""


class IngestRunner:
    """Runs the ingest pipeline in a worker thread, one at a time, then reloads the knowledge core.

    Also the one place where "the knowledge base changed" becomes a reload of this process's knowledge
    core and answers (``on_reload``: the answer cache): after its own ingest, and when the knowledge
    generation shows that another process ingested (dashboard upload, `zhitong ingest`, another
    webhook worker) — see ``reload_if_changed``.
    """

    def __init__(self, settings: Settings, knowledge: KnowledgeService | None,
                 on_reload: Callable[[], None] | None = None) -> None:
        self._settings = settings
        self._knowledge = knowledge
        self._on_reload = on_reload
        self._lock = asyncio.Lock()  # one ingest at a time (held through its reload)
        self._reload_lock = asyncio.Lock()  # one reload at a time

    @property
    def uploads_dir(self) -> Path:
        path = self._settings.data_dir / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @property
    def reloading(self) -> bool:
        """A reload of the knowledge core (and the answer cache) is running."""
        return self._reload_lock.locked()

    # Uploads (admins send files to the bot) --------------------------------------------------
    ALLOWED_EXTENSIONS = (".pdf", ".docx", ".txt", ".md", ".html", ".htm", ".csv", ".xlsx", ".yaml", ".yml")

    @property
    def max_upload_mb(self) -> float:
        return min(self._settings.telegram.max_upload_mb, self._settings.ingest.max_file_mb)

    @staticmethod
    def safe_name(name: str) -> str:
        """A file name that stays inside the uploads dir (no path parts, no control characters)."""
        base = Path(name.replace("\\", "/")).name
        base = re.sub(r"[\x00-\x1f/]", "_", base).strip(" .")
        return base[:120] or "upload"

    def check_upload(self, name: str, size_bytes: int) -> str | None:
        """None when acceptable, else "unsupported" or "too_large" (checked before any download)."""
        if Path(name).suffix.lower() not in self.ALLOWED_EXTENSIONS:
            return "unsupported"
        if size_bytes / (1024 * 1024) > self.max_upload_mb:
            return "too_large"
        return None

    def partial_path(self, name: str) -> Path:
        """Where a download goes before it is complete (hidden, never ingested)."""
        return self.uploads_dir / f".{name}.part"

    async def ingest_upload(
        self, name: str, partial: Path, progress: Callable[[str, int, int], None] | None = None,
    ) -> IngestReport:
        """Put a downloaded upload in place and ingest it; a failure restores the previous version.

        The store is unchanged by a file that fails, and the uploads dir must keep matching the store
        (/reindex ingests the dir, removing what is gone), so the file on disk is rolled back too.
        """
        if self._lock.locked():
            partial.unlink(missing_ok=True)  # noqa: ASYNC240 (a local unlink: microseconds)
            raise IngestBusy()
        target = self.uploads_dir / name
        backup = target.with_name(f".{target.name}.bak")
        had_previous = target.exists()
        if had_previous:
            os.replace(target, backup)
        os.replace(partial, target)
        report = None
        try:
            report = await self.run([target], progress)
        finally:
            failed = report is None or any(Path(str(f)).name == name for f, _ in report.failed)
            if failed:
                if had_previous:
                    os.replace(backup, target)
                else:
                    target.unlink(missing_ok=True)
            elif had_previous:
                backup.unlink(missing_ok=True)
        return report

    async def run(self, paths: Sequence[Path], progress: Callable[[str, int, int], None] | None = None) -> IngestReport:
        """Ingest ``paths`` (thread), reload retrieval; returns the IngestReport."""
        if self._lock.locked():
            raise IngestBusy()
        async with self._lock:
            store = getattr(self._knowledge, "store", None)
            report = await asyncio.to_thread(
                ingest_paths, self._settings, list(paths), progress=progress, store=store
            )
            try:
                await self.reload()
            except Exception:
                # The ingest is committed: the knowledge base (and so the uploads dir, which must match
                # it) holds the new version. The previous index keeps answering until the periodic
                # check (reload_if_changed, which sees the new generation) reloads successfully.
                log.exception("reloading after an ingest failed; the next knowledge check retries")
            return report

    async def reload(self) -> None:
        """Rebuild the knowledge core from the database (thread), then drop the cached answers.

        Raises when the rebuild fails: the previous index keeps answering and the cache is kept.
        """
        async with self._reload_lock:
            if self._knowledge is not None:
                await asyncio.to_thread(self._knowledge.reload)
            if self._on_reload is not None:
                self._on_reload()

    async def reload_if_changed(self) -> bool:
        """Reload when the knowledge base changed since it was loaded, or the day changed (a policy may
        have taken effect or expired at midnight); True when it did.

        Skipped while this bot's own ingest or a reload runs (each ends with a reload that reads the
        newest generation), so an upload to this bot is never reloaded twice. A failure is logged and
        the next call tries again; the previous index keeps answering meanwhile.
        """
        knowledge = self._knowledge
        if knowledge is None or self._lock.locked() or self._reload_lock.locked():
            return False
        try:
            stale = await asyncio.to_thread(knowledge.is_stale)
        except Exception:
            log.warning("could not read the knowledge generation; checking again later", exc_info=True)
            return False
        # An ingest of this bot may have started while the generation was read: it reloads itself.
        if not stale or self._lock.locked() or self._reload_lock.locked():
            return False
        log.info("knowledge base changed elsewhere, or a new day began (validity dates): reloading")
        try:
            await self.reload()
        except Exception:
            log.exception("reloading the knowledge base failed; still answering from the previous index")
            return False
        return True
