"""Incremental ingest: files → records → Chroma vectors + SQL rows, one file at a time, atomically.

For each file (contract in docs/knowledge-contract.md): vectors of its new records are upserted to
Chroma first, then ONE SQL transaction replaces the file's KbRecord rows and KbSource row (and its
KbDepartment rows for a directory file), then the file's stale vectors are deleted. Retrieval only
trusts ids present in kb_record, so an ingest interrupted anywhere leaves no half-indexed file:
the SQL side still describes the previous version (or nothing), and re-running completes it.

Unchanged files (same sha256) are skipped; files that disappeared from a directory that is ingested
again are removed. Ingests are serialised by a lock file in the data dir.

Every transaction that changes the knowledge base also bumps the one-row kb_generation counter, so
running bots notice an ingest made by any process (dashboard, CLI, another worker) and reload.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, delete
from sqlmodel import col, select

from core.config import Settings
from core.db import init_db_sync, make_sync_engine, sync_session
from ingest.directory import (
    DepartmentIndex,
    DirectoryFile,
    department_text,
    parse_directory,
    resolve_services,
    service_text,
)
from ingest.errors import IngestError
from ingest.loaders import load_document
from ingest.planning import SUPPORTED_EXTENSIONS, Plan, is_under, plan_paths
from ingest.policy_files import (
    directory_departments,
    policy_department,
    policy_records,
    push_meta,
    retired_policies,
)
from ingest.records import (
    SQL_BATCH,
    ensure_generation,
    kb_totals,
    make_record,
    reconcile,
    release_department,
    resolve_supersedes,
    to_row,
)
from ingest.report import IngestReport
from ingest.sandbox import ParseLimits, parse_isolated
from ingest.tables import DIRECTORY_EXTENSIONS, RowError
from knowledge.models import KbDepartment, KbRecord, KbSource, bump_generation, utc_now
from knowledge.types import Record

try:
    import fcntl
except ImportError:  # Windows: no flock; a single admin ingests anyway
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from knowledge.store import VectorStore

log = logging.getLogger(__name__)

# progress(file name, files done, files in all); the name is "" on the last call, when every file is done.
Progress = Callable[[str, int, int], None]

_VECTOR_BATCH = 512

# Bump when the records a file produces change for the same bytes (v2: per-chunk department credit,
# v3: one record per measure, v4: push meta from the front matter).
INGEST_VERSION = b"zhitong-ingest-v4\x00"

_T = TypeVar("_T")


@contextlib.contextmanager
def _ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingest at a time per data dir: a second one waits (the bot's upload and the CLI may race)."""
    path = settings.data_dir / "ingest.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _Pipeline:
    def __init__(self, settings: Settings, engine: Engine, store: VectorStore, progress: Progress | None,
                 report: IngestReport, force: bool) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.progress = progress or (lambda _label, _done, _total: None)
        self.report = report
        self.force = force
        self.max_bytes = int(settings.ingest.max_file_mb * 1024 * 1024)
        self.parse_limits = ParseLimits(settings.ingest.parse_timeout_s, settings.ingest.parse_memory_mb)
        # Set when a departments table was written or removed: services must be resolved again.
        self.departments_touched = False
        self.vector_ids: set[str] | None = None  # ids in the vector store, read once per run

    # -- file level -------------------------------------------------------------------------

    def run(self, plan: Plan) -> None:
        self._remove_missing(plan)
        prepared: list[tuple[Path, str, KbSource | None]] = []
        unchanged_directories: list[tuple[Path, str, KbSource]] = []
        for path in plan.files:
            try:
                size = path.stat().st_size
                if size > self.max_bytes:
                    raise IngestError(f"{path.name}：文件过大（{size / 1024 / 1024:.1f} MB），"
                                      f"上限为 {self.settings.ingest.max_file_mb:g} MB")
                if size == 0:
                    raise IngestError(f"{path.name}：文件为空")
                content = path.read_bytes()
            except IngestError as exc:
                self.report.failed.append((path.name, _strip_name(exc.message, path.name)))
                continue
            except OSError as exc:
                self.report.failed.append((path.name, f"无法读取文件（{exc.strerror or exc}）"))
                continue
            # The ingest version is part of the hash: records built by older rules are rebuilt once.
            sha = hashlib.sha256(INGEST_VERSION + content).hexdigest()
            existing = self._source(path)
            del content
            if existing is not None and existing.sha256 == sha and not self.force:
                self.report.skipped.append(path.name)
                if path.suffix.lower() in DIRECTORY_EXTENSIONS:
                    unchanged_directories.append((path, sha, existing))
                continue
            prepared.append((path, sha, existing))
        # Directory files first, and among them those that define departments: services need them.
        parsed: list[tuple[Path, str, KbSource | None, DirectoryFile | None]] = []
        for path, sha, existing in prepared:
            directory: DirectoryFile | None = None
            if path.suffix.lower() in DIRECTORY_EXTENSIONS:
                try:
                    directory = _guarded(parse_directory, path, self.parse_limits)
                except IngestError as exc:
                    self.report.failed.append((path.name, _strip_name(exc.message, path.name)))
                    continue
            parsed.append((path, sha, existing, directory))
        parsed.sort(key=lambda item: (item[3] is None, not (item[3] and item[3].has_departments)))
        total = len(parsed)
        for done, (path, sha, existing, directory) in enumerate(parsed):
            self.progress(path.name, done, total)
            try:
                if directory is not None:
                    self._ingest_directory(path, sha, existing, directory, done, total)
                else:
                    self._ingest_policy(path, sha, existing, done, total)
            except IngestError as exc:
                self.report.failed.append((path.name, _strip_name(exc.message, path.name)))
        if self.departments_touched:
            self._recheck_services(unchanged_directories)
        self.progress("", total, total)  # every file done: no file name to show

    def _recheck_services(self, files: list[tuple[Path, str, KbSource]]) -> None:
        """Unchanged services files are resolved again after the departments changed.

        A new alias can make a skipped row valid, and a removed department invalidates its items;
        a file whose records come out the same stays "unchanged".
        """
        for path, sha, existing in files:
            try:
                parsed = _guarded(parse_directory, path, self.parse_limits)
                if parsed.services:
                    self._ingest_directory(path, sha, existing, parsed, 0, 1, recheck=True)
            except IngestError as exc:
                self.report.failed.append((path.name, _strip_name(exc.message, path.name)))

    def _record_ids(self, source: KbSource) -> set[str]:
        with sync_session(self.engine) as session:
            return set(session.exec(select(KbRecord.id).where(KbRecord.source_id == source.id)).all())

    def _source(self, path: Path) -> KbSource | None:
        with sync_session(self.engine) as session:
            return session.exec(select(KbSource).where(KbSource.path == str(path))).first()

    def _remove_missing(self, plan: Plan) -> None:
        if not plan.roots:
            return
        with sync_session(self.engine) as session:
            sources = session.exec(select(KbSource)).all()
        for source in sources:
            path = Path(source.path)
            if any(is_under(path, root) for root in plan.roots) and not path.exists():
                self._remove_source(source)

    def _remove_source(self, source: KbSource) -> None:
        with sync_session(self.engine) as session, session.begin():
            ids = list(session.exec(select(KbRecord.id).where(KbRecord.source_id == source.id)).all())
            for row in session.exec(select(KbDepartment).where(KbDepartment.source_id == source.id)).all():
                release_department(session, row, source.id)
            session.exec(delete(KbRecord).where(col(KbRecord.source_id) == source.id))  # type: ignore[call-overload]
            session.exec(delete(KbSource).where(col(KbSource.id) == source.id))  # type: ignore[call-overload]
            resolve_supersedes(session)
            bump_generation(session)
        self.store.delete(ids)
        if self.vector_ids is not None:
            self.vector_ids.difference_update(ids)
        if source.kind == "directory":
            self.departments_touched = True
        self.report.removed.append(source.name)
        self.report.records_removed += len(ids)

    # -- writing ----------------------------------------------------------------------------

    def _write(self, path: Path, existing: KbSource | None, records: list[Record], source_fields: dict[str, Any],
               departments: list[KbDepartment] | None, done: int, total: int) -> None:
        """Vectors first, then one SQL transaction, then stale vectors: see the module docstring."""
        unique: dict[str, Record] = {}
        for record in records:
            unique.setdefault(record.id, record)
        records = list(unique.values())
        limit = self.settings.ingest.max_records_per_file
        if len(records) > limit:
            raise IngestError(f"{path.name}：拆分后共 {len(records)} 条记录，超过每个文件 {limit} 条的上限"
                              "（常见原因：大量只有一行的标题），请拆分文件后分别导入")
        old_ids = self._record_ids(existing) if existing is not None else set()
        new_records = [r for r in records if r.id not in old_ids]
        if self.vector_ids is None:
            self.vector_ids = self.store.ids()
        # Ids are content hashes: a vector left by an interrupted run is still right for its record.
        to_embed = [r for r in new_records if r.id not in self.vector_ids]
        for start in range(0, len(to_embed), _VECTOR_BATCH):
            batch = to_embed[start : start + _VECTOR_BATCH]
            self.store.upsert(batch)
            self.vector_ids.update(r.id for r in batch)
            self.report.records_embedded += len(batch)
            self.progress(f"{path.name} 向量 {start + len(batch)}/{len(to_embed)}", done, total)
        self.progress(f"{path.name} 写入数据库", done, total)
        new_ids = {r.id for r in records}
        stale = old_ids - new_ids
        with sync_session(self.engine) as session, session.begin():
            source = session.get(KbSource, existing.id) if existing is not None else None
            if source is None:
                source = KbSource(path=str(path), name=path.name, kind=source_fields["kind"], sha256="")
            for key, value in source_fields.items():
                setattr(source, key, value)
            source.name = path.name
            source.record_count = len(records)
            source.ingested_at = utc_now()
            session.add(source)
            session.flush()
            assert source.id is not None
            stale_list = sorted(stale)
            for start in range(0, len(stale_list), SQL_BATCH):
                chunk = stale_list[start : start + SQL_BATCH]
                session.exec(delete(KbRecord).where(KbRecord.id.in_(chunk)))  # type: ignore[call-overload,attr-defined]
            session.add_all(to_row(r, source.id) for r in new_records)
            if departments is not None:
                keep = {d.name for d in departments}
                for row in session.exec(select(KbDepartment).where(KbDepartment.source_id == source.id)).all():
                    if row.name not in keep:
                        release_department(session, row, source.id)
                        self.departments_touched = True
                if departments:
                    self.departments_touched = True
                for dept in departments:
                    current = session.get(KbDepartment, dept.name)
                    if current is not None and current.source_id != source.id:
                        # Another file defines it too: keep the aliases both files give.
                        dept.aliases = list(dict.fromkeys([*(current.aliases or []), *dept.aliases]))
                    dept.source_id = source.id
                    session.merge(dept)
            if source_fields["kind"] == "policy":
                resolve_supersedes(session)
            bump_generation(session)
        self.store.delete(sorted(stale))
        self.vector_ids.difference_update(stale)
        if existing is None:
            self.report.added.append(path.name)
        else:
            self.report.changed.append(path.name)
        self.report.file_records[path.name] = len(records)
        self.report.records_added += len(new_records)
        self.report.records_removed += len(stale)

    # -- directory files --------------------------------------------------------------------

    def _department_index(self, own: DirectoryFile) -> DepartmentIndex:
        index = DepartmentIndex((d.name, d.aliases) for d in own.departments)
        with sync_session(self.engine) as session:
            for row in session.exec(select(KbDepartment)).all():
                if index.resolve(row.name) is None:
                    index.add(row.name, row.aliases or [])
                else:
                    index.add(row.name, [])
        return index

    def _ingest_directory(self, path: Path, sha: str, existing: KbSource | None, parsed: DirectoryFile,
                          done: int, total: int, *, recheck: bool = False) -> None:
        errors: list[RowError] = list(parsed.errors)
        records: list[Record] = []
        for dept in parsed.departments:
            data = dept.as_dict()
            records.append(make_record(path, "department", title=dept.name, department=dept.name,
                                        text=department_text(dept), citation=f"{path.name} › {dept.name}",
                                        data=data))
            # One record per section too: "谁管食品经营许可" should find 食品经营科 by its duties.
            for section in dept.sections:
                records.append(make_record(
                    path, "department", title=f"{dept.name} {section.name}", department=dept.name,
                    text=department_text(dept, section), section=section.name,
                    citation=f"{path.name} › {dept.name} › {section.name}",
                    data={**data, "section": section.as_dict()}))
        services = parsed.services
        if services:
            index = self._department_index(parsed)
            services = resolve_services(services, index, errors)
        for service in services:
            fields = dict(service.fields)
            records.append(make_record(path, "service", title=service.name, department=service.department,
                                        text=service_text(fields), citation=f"{path.name} › {service.name}",
                                        data=fields))
        errors.sort(key=lambda e: (e.file, e.row))
        if recheck:
            assert existing is not None
            if {r.id for r in records} == self._record_ids(existing):
                return  # the departments changed, but not in a way that matters to this file
            self.report.skipped.remove(path.name)
        self.report.row_errors += [(e.file, e.row, e.message) for e in errors]
        if not records:
            raise IngestError(f"{path.name}：没有可导入的行（共 {len(errors)} 行有错误）" if errors
                              else f"{path.name}：没有数据行")
        # Always a list for directory files: a file that no longer has a departments table must
        # release the departments it defined before.
        departments = [KbDepartment(name=d.name, aliases=list(d.aliases)) for d in parsed.departments]
        self._write(path, existing, records, {"kind": "directory", "sha256": sha, "title": path.stem}, departments,
                    done, total)

    # -- policy files -----------------------------------------------------------------------

    def _ingest_policy(self, path: Path, sha: str, existing: KbSource | None, done: int, total: int) -> None:
        document = _guarded(load_document, path, self.parse_limits)
        retired = retired_policies(self.engine, path, document, force=self.force)
        index = directory_departments(self.engine)
        department = policy_department(self.engine, path, document, index, self.report.warnings)
        records = policy_records(path, document, department, index, self.settings.ingest)
        meta = document.meta
        fields = {
            "kind": "policy", "sha256": sha, "title": document.title[:500], "department": department,
            "effective": meta.effective, "expires": meta.expires, "supersedes": list(meta.supersedes),
            "tags": list(meta.tags),
            "push_meta": push_meta(path, document, self.settings.push.districts, self.report.warnings),
        }
        self._write(path, existing, records, fields, None, done, total)
        if retired:
            self.report.superseded.append((path.name, retired))


def _guarded(read: Callable[[Path], _T], path: Path, limits: ParseLimits) -> _T:
    """Run a parser on untrusted input, isolated (ingest.sandbox): a crash, a hang or a memory blow-up
    inside it is this file's failure, not the run's."""
    return parse_isolated(read, path, limits)


def _strip_name(message: str, name: str) -> str:
    """Messages carry the file name for standalone use; in the report the name is already shown."""
    prefix = f"{name}："
    return message[len(prefix):] if message.startswith(prefix) else message


def open_store(settings: Settings) -> VectorStore:
    """The configured vector store with the configured embedder (loaded once per process)."""
    # The embedder (torch) loads only when an ingest has files to embed, not for a dry or empty run.
    from knowledge.embedder import make_embedder
    from knowledge.store import VectorStore

    return VectorStore(settings, make_embedder(settings.embedder))


def ingest_paths(
    settings: Settings,
    paths: Sequence[Path],
    *,
    progress: Progress | None = None,
    store: VectorStore | None = None,
    force: bool = False,
    engine: Engine | None = None,
) -> IngestReport:
    """Ingest files and folders (recursively) into the knowledge base and report what changed.

    Args:
        settings: where the data lives and the ingest limits.
        paths: files and/or folders; a folder's previously ingested files that are gone are removed.
        progress: called as progress(label, files_done, files_total) while working.
        store: the vector store to write to (default: the configured one).
        force: re-process files even when their content hash is unchanged.
        engine: a sync SQLAlchemy engine (default: one for settings.database_url).
    """
    started = time.perf_counter()
    report = IngestReport()
    own_engine = engine is None
    if engine is None:
        engine = make_sync_engine(settings.database_url, echo=settings.database.echo, database=settings.database)
    try:
        init_db_sync(engine)
        ensure_generation(engine)
        with _ingest_lock(settings):
            plan = plan_paths(paths, report)
            if plan.files or plan.roots:
                store = store if store is not None else open_store(settings)
                _Pipeline(settings, engine, store, progress, report, force).run(plan)
                deleted, embedded = reconcile(engine, store)
                if deleted or embedded:
                    log.info("reconcile: %d orphan vectors deleted, %d records re-embedded", deleted, embedded)
        report.totals = kb_totals(engine)
    finally:
        if own_engine:
            engine.dispose()
    report.seconds = time.perf_counter() - started
    return report


__all__ = [
    "SUPPORTED_EXTENSIONS",
    "IngestReport",
    "Progress",
    "ingest_paths",
    "open_store",
]
