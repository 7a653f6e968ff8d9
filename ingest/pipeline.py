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
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.config import Settings
from core.db import init_db_sync, make_sync_engine, sync_session
from ingest.chunking import chunk_text
from ingest.directory import (
    DIRECTORY_EXTENSIONS,
    DepartmentIndex,
    DirectoryFile,
    RowError,
    department_text,
    name_key,
    parse_directory,
    resolve_services,
    service_text,
)
from ingest.errors import IngestError
from ingest.loaders import POLICY_EXTENSIONS, Document, load_document
from ingest.responsibility import ResponsibleDepartments
from ingest.sandbox import ParseLimits, parse_isolated
from knowledge.departments import resolve_department
from knowledge.models import (
    KbDepartment,
    KbRecord,
    KbSource,
    bump_generation,
    ensure_generation_row,
    utc_now,
)
from knowledge.types import Record

if TYPE_CHECKING:
    from knowledge.store import VectorStore

log = logging.getLogger(__name__)

# progress(file name, files done, files in all); the name is "" on the last call, when every file is done.
Progress = Callable[[str, int, int], None]

SUPPORTED_EXTENSIONS = POLICY_EXTENSIONS | DIRECTORY_EXTENSIONS
# Files a data folder typically carries that are about the data, not data: never ingested.
_IGNORED_STEMS = {"readme", "license", "licence", "license-source", "changelog", "notice"}
_VECTOR_BATCH = 512
# A file that retires at least this many policies, and at least half of them, needs --force.
MASS_SUPERSEDE_MIN = 3
_SQL_BATCH = 500


# ---------------------------------------------------------------------------------------------
# Report


@dataclass
class IngestReport:
    """What an ingest run did; `summary_zh()` is the change report shown to admins."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    row_errors: list[tuple[str, int, str]] = field(default_factory=list)
    records_added: int = 0
    records_removed: int = 0
    records_embedded: int = 0  # vectors computed in this run (added records minus reusable vectors)
    # Not in the minimal contract, but useful: files passed over in a folder walk, warnings,
    # records per file written in this run, totals in the store afterwards, duration.
    ignored: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    file_records: dict[str, int] = field(default_factory=dict)
    superseded: list[tuple[str, list[str]]] = field(default_factory=list)  # (file, the files it retires)
    totals: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no file failed (row errors alone do not fail a run)."""
        return not self.failed

    def summary_zh(self, *, max_lines: int = 30) -> str:
        lines = [
            f"导入完成（用时 {self.seconds:.1f} 秒）：新增 {len(self.added)} 个文件，更新 {len(self.changed)} 个，"
            f"删除 {len(self.removed)} 个，未变化跳过 {len(self.skipped)} 个，失败 {len(self.failed)} 个。",
            f"记录：新增 {self.records_added} 条（计算向量 {self.records_embedded} 条），删除 {self.records_removed} 条。",
        ]
        if self.totals:
            lines.append(
                f"知识库现有：部门 {self.totals.get('departments', 0)} 个（部门及科室记录 "
                f"{self.totals.get('department', 0)} 条），事项 {self.totals.get('service', 0)} 项，"
                f"政策片段 {self.totals.get('policy', 0)} 段，文件 {self.totals.get('files', 0)} 个。"
            )

        def listing(title: str, items: Sequence[str]) -> None:
            if not items:
                return
            lines.append(f"{title}（{len(items)}）：")
            for item in items[:max_lines]:
                lines.append(f"  - {item}")
            if len(items) > max_lines:
                lines.append(f"  …… 另有 {len(items) - max_lines} 项")

        def with_count(name: str) -> str:
            n = self.file_records.get(name)
            return f"{name}（{n} 条记录）" if n is not None else name

        listing("新增", [with_count(n) for n in self.added])
        listing("更新", [with_count(n) for n in self.changed])
        listing("删除", self.removed)
        listing("替代旧政策（被替代的不再作为现行政策引用）", [f"{n} 替代 {'、'.join(old)}" for n, old in self.superseded])
        listing("失败（未导入，原有内容不变）", [f"{n}：{m}" for n, m in self.failed])
        listing("跳过的行", [f"{n} 第 {r} 行：{m}" for n, r, m in self.row_errors])
        listing("提醒", [f"{n}：{m}" for n, m in self.warnings])
        listing("已忽略的文件", [f"{n}：{m}" for n, m in self.ignored])
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "skipped": self.skipped,
            "failed": [{"file": n, "message": m} for n, m in self.failed],
            "row_errors": [{"file": n, "row": r, "message": m} for n, r, m in self.row_errors],
            "warnings": [{"file": n, "message": m} for n, m in self.warnings],
            "ignored": [{"file": n, "message": m} for n, m in self.ignored],
            "records_added": self.records_added,
            "records_removed": self.records_removed,
            "records_embedded": self.records_embedded,
            "totals": self.totals,
            "seconds": round(self.seconds, 3),
        }


# ---------------------------------------------------------------------------------------------
# Helpers


def record_id(source_path: str, kind: str, *parts: Any) -> str:
    """Content hash: the same content from the same file keeps its id across runs."""
    h = hashlib.sha256()
    for part in (source_path, kind, *parts):
        text = part if isinstance(part, str) else json.dumps(part, ensure_ascii=False, sort_keys=True, default=str)
        h.update(text.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def _make_record(source: Path, kind: str, *, title: str, department: str, text: str, citation: str,
                 section: str = "", span: tuple[int, int] = (0, 0), data: dict[str, Any] | None = None) -> Record:
    data = data or {}
    rid = record_id(str(source), kind, title, department, section, text, list(span), data)
    return Record(id=rid, kind=kind, title=title, department=department, text=text,  # type: ignore[arg-type]
                  citation=citation, source_file=source.name, section=section, span=span, data=data)


@contextlib.contextmanager
def _ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingest at a time per data dir: a second one waits (the bot's upload and the CLI may race)."""
    path = settings.data_dir / "ingest.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except ImportError:  # Windows: no flock; a single admin ingests anyway
            pass
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass
class _Plan:
    files: list[Path] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)


def _plan(paths: Sequence[Path], report: IngestReport) -> _Plan:
    plan = _Plan()
    seen: set[Path] = set()

    def add(p: Path) -> None:
        if p not in seen:
            seen.add(p)
            plan.files.append(p)

    for raw in paths:
        try:
            path = Path(raw).expanduser().resolve()
        except (RuntimeError, OSError):  # "Symlink loop from …", or an unreadable component
            report.failed.append((_display(str(raw)), "路径无法解析（符号链接循环或无权访问），已跳过"))
            continue
        if not _valid_name(str(path)):
            report.failed.append((_display(path.name), BAD_NAME))
            continue
        if path.is_dir():
            plan.roots.append(path)
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")) and _valid_name(d))
                for filename in sorted(filenames):
                    file = Path(dirpath) / filename
                    if filename.startswith((".", "~$")):
                        continue  # hidden files and Office lock files
                    if not _valid_name(filename):
                        # One badly named file must not stop the folder: it is reported and skipped.
                        report.failed.append((_display(filename), BAD_NAME))
                    elif file.stem.lower() in _IGNORED_STEMS:
                        report.ignored.append((_rel(file, path), "说明/许可文件，不作为知识导入"))
                    elif file.suffix.lower() not in SUPPORTED_EXTENSIONS:
                        report.ignored.append((_rel(file, path), f"不支持的文件类型“{file.suffix or '无扩展名'}”"))
                    elif not file.is_file():
                        report.ignored.append((_rel(file, path), "不是普通文件（管道、设备或失效的链接）"))
                    else:
                        add(file)
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                report.failed.append((path.name, f"不支持的文件类型“{path.suffix or '无扩展名'}”，支持："
                                      + " ".join(sorted(SUPPORTED_EXTENSIONS))))
            else:
                add(path)
        elif path.exists():
            report.failed.append((path.name, "不是普通文件（管道、设备等），已跳过"))
        else:
            report.failed.append((str(raw), "路径不存在"))
    return plan


BAD_NAME = "文件名不是有效的 UTF-8 编码，无法保存；请重命名（例如改为中文或英文名）后再导入"


def _valid_name(name: str) -> bool:
    """False for names that are not valid UTF-8 (Python keeps their bytes as surrogates): the database
    and the terminal cannot store or print them."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _display(name: str) -> str:
    """A printable form of any file name (undecodable bytes shown as �)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _rel(file: Path, root: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return file.name


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# The pipeline


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

    def run(self, plan: _Plan) -> None:
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

    def _remove_missing(self, plan: _Plan) -> None:
        if not plan.roots:
            return
        with sync_session(self.engine) as session:
            sources = session.exec(select(KbSource)).all()
        for source in sources:
            path = Path(source.path)
            if any(_is_under(path, root) for root in plan.roots) and not path.exists():
                self._remove_source(source)

    def _remove_source(self, source: KbSource) -> None:
        with sync_session(self.engine) as session, session.begin():
            ids = list(session.exec(select(KbRecord.id).where(KbRecord.source_id == source.id)).all())
            for row in session.exec(select(KbDepartment).where(KbDepartment.source_id == source.id)).all():
                _release_department(session, row, source.id)
            session.exec(delete(KbRecord).where(col(KbRecord.source_id) == source.id))  # type: ignore[call-overload]
            session.exec(delete(KbSource).where(col(KbSource.id) == source.id))  # type: ignore[call-overload]
            _resolve_supersedes(session)
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
            for start in range(0, len(stale_list), _SQL_BATCH):
                chunk = stale_list[start : start + _SQL_BATCH]
                session.exec(delete(KbRecord).where(KbRecord.id.in_(chunk)))  # type: ignore[call-overload,attr-defined]
            session.add_all(_to_row(r, source.id) for r in new_records)
            if departments is not None:
                keep = {d.name for d in departments}
                for row in session.exec(select(KbDepartment).where(KbDepartment.source_id == source.id)).all():
                    if row.name not in keep:
                        _release_department(session, row, source.id)
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
                _resolve_supersedes(session)
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
            records.append(_make_record(path, "department", title=dept.name, department=dept.name,
                                        text=department_text(dept), citation=f"{path.name} › {dept.name}",
                                        data=data))
            # One record per section too: "谁管食品经营许可" should find 食品经营科 by its duties.
            for section in dept.sections:
                records.append(_make_record(
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
            records.append(_make_record(path, "service", title=service.name, department=service.department,
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
        retired = self._check_supersedes(path, document)
        index = self._directory_departments()
        department = self._policy_department(path, document, index)
        responsible = ResponsibleDepartments(index)
        chunks = chunk_text(document.text, chunk_chars=self.settings.ingest.chunk_chars,
                            overlap=self.settings.ingest.chunk_overlap, title=document.title)
        meta = document.meta
        common = {
            "file": path.name,
            "title": document.title,
            "effective": meta.effective.isoformat() if meta.effective else "",
            "expires": meta.expires.isoformat() if meta.expires else "",
            "tags": list(meta.tags),
        }
        records: list[Record] = []
        for i, chunk in enumerate(chunks):
            # A measure that names its own lead department is credited to it (若干措施: one per measure);
            # a chunk holding several such measures becomes one record per measure.
            pieces = responsible.measures(chunk.text) or [
                (0, len(chunk.text), responsible.in_passage(chunk.text))
            ]
            for start, end, lead in pieces:
                text = chunk.text[start:end].strip()
                if not text:
                    continue
                offset = chunk.start + start + (len(chunk.text[start:end]) - len(chunk.text[start:end].lstrip()))
                section = chunk.section
                if len(pieces) > 1 and start > 0:
                    section = _measure_section(chunk.section, text)
                records.append(_make_record(
                    path, "policy", title=document.title, department=lead or department,
                    text=f"{document.title} › {section}\n{text}" if section else f"{document.title}\n{text}",
                    section=section, span=(offset, offset + len(text)),
                    citation=f"{path.name} › {section}" if section else path.name,
                    data={**common, "quote": text, "chunk": i}))
        fields = {
            "kind": "policy", "sha256": sha, "title": document.title[:500], "department": department,
            "effective": meta.effective, "expires": meta.expires, "supersedes": list(meta.supersedes),
            "tags": list(meta.tags),
        }
        self._write(path, existing, records, fields, None, done, total)
        if retired:
            self.report.superseded.append((path.name, retired))

    def _check_supersedes(self, path: Path, document: Document) -> list[str]:
        """The current policy files this one retires (front matter `supersedes`), refusing a file that
        retires itself, or most of the others at once unless --force says it is meant."""
        wanted = [str(item) for item in document.meta.supersedes]
        if not wanted:
            return []
        own = {name_key(k) for k in (path.name, path.stem, document.title) if k}
        if any(name_key(item) in own or name_key(Path(item).stem) in own for item in wanted):
            raise IngestError(f"{path.name}：front matter 的 supersedes 指向了文件自己，请删除这一项")
        with sync_session(self.engine) as session:
            others = [s for s in session.exec(select(KbSource).where(KbSource.kind == "policy")).all()
                      if s.path != str(path)]
        lookup: dict[str, KbSource] = {}
        for source in others:
            for key in (source.name, Path(source.name).stem, source.title):
                if key:
                    lookup.setdefault(name_key(key), source)
        targets = {
            target.name: target
            for item in wanted
            if (target := lookup.get(name_key(item)) or lookup.get(name_key(Path(item).stem))) is not None
        }
        if len(targets) >= MASS_SUPERSEDE_MIN and len(targets) * 2 >= len(others) and not self.force:
            raise IngestError(
                f"{path.name}：声明替代 {len(targets)} 个现行政策文件（共 {len(others)} 个），疑似误操作，未导入；"
                "确认无误请加 --force 重新导入"
            )
        return sorted(targets)

    def _alias_resolve(self, name: str) -> str | None:
        """The retrieval alias table (generic old names such as 劳动局 included) as the last resort."""
        with sync_session(self.engine) as session:
            directory = {r.name: list(r.aliases or []) for r in session.exec(select(KbDepartment)).all()}
        return resolve_department(name, directory)[0] if directory else None

    def _directory_departments(self) -> DepartmentIndex:
        with sync_session(self.engine) as session:
            rows = session.exec(select(KbDepartment)).all()
        return DepartmentIndex((r.name, r.aliases or []) for r in rows)

    def _policy_department(self, path: Path, document: Document, index: DepartmentIndex) -> str:
        declared = document.meta.department
        if declared:
            canonical = (index.resolve(declared) or ResponsibleDepartments(index).resolve(declared)
                         or self._alias_resolve(declared))
            if canonical is None:
                self.report.warnings.append((path.name, f"front matter 中的部门“{declared}”不在部门目录中，按原样保存"))
                return declared
            return canonical
        return department_named_most(document.text, index)


# Bump when the records a file produces change for the same bytes (v2: per-chunk department credit,
# v3: one record per measure).
INGEST_VERSION = b"zhitong-ingest-v3\x00"

_T = TypeVar("_T")


_MEASURE_HEADING = re.compile(r"^\s*([（(][一二三四五六七八九十百零〇\d]+[）)][^。；;\n]{1,40})")


def _measure_section(chunk_section: str, text: str) -> str:
    """The section of a measure split out of a chunk: its own （六）heading under the chunk's parent."""
    match = _MEASURE_HEADING.match(text)
    if match is None:
        return chunk_section
    parts = chunk_section.split(" › ") if chunk_section else []
    if parts and _MEASURE_HEADING.match(parts[-1]):
        parts = parts[:-1]  # the chunk's own (first) measure heading
    return " › ".join([*parts, match.group(1).strip()])


def _guarded(read: Callable[[Path], _T], path: Path, limits: ParseLimits) -> _T:
    """Run a parser on untrusted input, isolated (ingest.sandbox): a crash, a hang or a memory blow-up
    inside it is this file's failure, not the run's."""
    return parse_isolated(read, path, limits)


def department_named_most(text: str, index: DepartmentIndex) -> str:
    """The department whose names/aliases the text mentions most (longest forms first), else ""."""
    counts: dict[str, int] = {}
    work = text
    for surface, canonical in sorted(index.names_and_aliases(), key=lambda p: -len(p[0])):
        # Two-character aliases (工商, 财政) hide inside ordinary words (个体工商户): not evidence.
        if len(surface) < 3 or surface not in work:
            continue
        # A full name is stronger evidence than a colloquial alias.
        weight = 2 if surface == canonical else 1
        counts[canonical] = counts.get(canonical, 0) + weight * work.count(surface)
        work = work.replace(surface, "\x00")  # a longer name is not counted again as a shorter one
    if not counts:
        return ""
    return max(counts.items(), key=lambda kv: (kv[1], len(kv[0])))[0]


def _release_department(session: Session, row: KbDepartment, source_id: int | None) -> None:
    """A file no longer defines this department: it lives on while another file still does (its
    department records say so), owned by that file; otherwise it is deleted."""
    other = session.exec(
        select(KbRecord.source_id)
        .where(KbRecord.kind == "department", KbRecord.department == row.name, KbRecord.source_id != source_id)
        .limit(1)
    ).first()
    if other is None:
        session.delete(row)
    else:
        row.source_id = other
        session.add(row)


def _resolve_supersedes(session: Session) -> None:
    """Recompute every policy's superseded_by from the `supersedes` lists (file name, stem or title)."""
    policies = session.exec(select(KbSource).where(KbSource.kind == "policy")).all()
    lookup: dict[str, KbSource] = {}
    for source in policies:
        for key in (source.name, Path(source.name).stem, source.title):
            if key:
                lookup.setdefault(name_key(key), source)
    desired: dict[int | None, str] = {s.id: "" for s in policies}
    for source in sorted(policies, key=lambda s: (s.effective or date.min, s.id or 0)):
        for item in source.supersedes or []:
            target = lookup.get(name_key(str(item))) or lookup.get(name_key(Path(str(item)).stem))
            if target is not None and target.id != source.id:
                desired[target.id] = source.name
    for source in policies:
        if source.superseded_by != desired[source.id]:
            source.superseded_by = desired[source.id]
            session.add(source)


def _to_row(record: Record, source_id: int) -> KbRecord:
    return KbRecord(id=record.id, source_id=source_id, kind=record.kind, title=record.title[:500],
                    department=record.department[:200], section=record.section[:500],
                    citation=record.citation[:1000], text=record.text, span_start=record.span[0],
                    span_end=record.span[1], data=record.data)


def row_to_record(row: KbRecord, source_file: str = "") -> Record:
    return Record(id=row.id, kind=row.kind, title=row.title, department=row.department,  # type: ignore[arg-type]
                  text=row.text, citation=row.citation, source_file=source_file, section=row.section,
                  span=(row.span_start, row.span_end), data=dict(row.data or {}))


def _strip_name(message: str, name: str) -> str:
    """Messages carry the file name for standalone use; in the report the name is already shown."""
    prefix = f"{name}："
    return message[len(prefix):] if message.startswith(prefix) else message


def reconcile(engine: Engine, store: VectorStore) -> tuple[int, int]:
    """Make Chroma match kb_record: delete orphan vectors, embed records that have none.

    Orphans come from an ingest interrupted after its vector upsert; missing vectors from a new
    embedder (new collection) or a lost Chroma directory. Returns (deleted, embedded).
    """
    vector_ids = store.ids()
    with sync_session(engine) as session:
        sql_ids = set(session.exec(select(KbRecord.id)).all())
    orphans = sorted(vector_ids - sql_ids)
    if orphans:
        store.delete(orphans)
    missing = sorted(sql_ids - vector_ids)
    for start in range(0, len(missing), _SQL_BATCH):
        chunk = missing[start : start + _SQL_BATCH]
        with sync_session(engine) as session:
            rows = session.exec(select(KbRecord, KbSource.name).join(KbSource).where(
                KbRecord.id.in_(chunk))).all()  # type: ignore[attr-defined]
        store.upsert([row_to_record(row, name) for row, name in rows])
    return len(orphans), len(missing)


def _totals(engine: Engine) -> dict[str, int]:
    with sync_session(engine) as session:
        per_kind = session.exec(select(KbRecord.kind, func.count()).group_by(KbRecord.kind)).all()
        totals = {kind: int(n) for kind, n in per_kind}
        totals["departments"] = int(session.exec(select(func.count()).select_from(KbDepartment)).one())
        totals["files"] = int(session.exec(select(func.count()).select_from(KbSource)).one())
    return totals


def _ensure_generation(engine: Engine) -> None:
    """The kb_generation row exists before an ingest transaction bumps it (see knowledge.models)."""
    try:
        with sync_session(engine) as session, session.begin():
            ensure_generation_row(session)
    except IntegrityError:
        pass  # another process created it at the same moment: that is all we wanted


def open_store(settings: Settings) -> VectorStore:
    """The configured vector store with the configured embedder (loaded once per process)."""
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
        _ensure_generation(engine)
        with _ingest_lock(settings):
            plan = _plan(paths, report)
            if plan.files or plan.roots:
                store = store if store is not None else open_store(settings)
                _Pipeline(settings, engine, store, progress, report, force).run(plan)
                deleted, embedded = reconcile(engine, store)
                if deleted or embedded:
                    log.info("reconcile: %d orphan vectors deleted, %d records re-embedded", deleted, embedded)
        report.totals = _totals(engine)
    finally:
        if own_engine:
            engine.dispose()
    report.seconds = time.perf_counter() - started
    return report


__all__ = [
    "SUPPORTED_EXTENSIONS",
    "IngestReport",
    "department_named_most",
    "ingest_paths",
    "open_store",
    "reconcile",
    "record_id",
    "row_to_record",
]
