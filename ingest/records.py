"""Records and their two homes: ids, SQL rows, department ownership, supersedes, and vectors kept in step.

A record's id is a hash of its content, so the same content from the same file keeps its id (and its
vector) across runs; kb_record is the truth and Chroma is made to match it (reconcile).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.db import sync_session
from ingest.directory import name_key
from knowledge.models import KbDepartment, KbRecord, KbSource, ensure_generation_row
from knowledge.types import Record

if TYPE_CHECKING:
    from knowledge.store import VectorStore

SQL_BATCH = 500


def record_id(source_path: str, kind: str, *parts: Any) -> str:
    """Content hash: the same content from the same file keeps its id across runs."""
    h = hashlib.sha256()
    for part in (source_path, kind, *parts):
        text = part if isinstance(part, str) else json.dumps(part, ensure_ascii=False, sort_keys=True, default=str)
        h.update(text.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def make_record(source: Path, kind: str, *, title: str, department: str, text: str, citation: str,
                 section: str = "", span: tuple[int, int] = (0, 0), data: dict[str, Any] | None = None) -> Record:
    """A record whose id is the hash of everything it says (see record_id)."""
    data = data or {}
    rid = record_id(str(source), kind, title, department, section, text, list(span), data)
    return Record(id=rid, kind=kind, title=title, department=department, text=text,  # type: ignore[arg-type]
                  citation=citation, source_file=source.name, section=section, span=span, data=data)


def to_row(record: Record, source_id: int) -> KbRecord:
    """The SQL row of a record, its text fields cut to their column widths."""
    return KbRecord(id=record.id, source_id=source_id, kind=record.kind, title=record.title[:500],
                    department=record.department[:200], section=record.section[:500],
                    citation=record.citation[:1000], text=record.text, span_start=record.span[0],
                    span_end=record.span[1], data=record.data)


def row_to_record(row: KbRecord, source_file: str = "") -> Record:
    """The record a SQL row stores (to embed it again, e.g. after the vector store was lost)."""
    return Record(id=row.id, kind=row.kind, title=row.title, department=row.department,  # type: ignore[arg-type]
                  text=row.text, citation=row.citation, source_file=source_file, section=row.section,
                  span=(row.span_start, row.span_end), data=dict(row.data or {}))


def release_department(session: Session, row: KbDepartment, source_id: int | None) -> None:
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


def resolve_supersedes(session: Session) -> None:
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
    for start in range(0, len(missing), SQL_BATCH):
        chunk = missing[start : start + SQL_BATCH]
        with sync_session(engine) as session:
            rows = session.exec(select(KbRecord, KbSource.name).join(KbSource).where(
                KbRecord.id.in_(chunk))).all()  # type: ignore[attr-defined]
        store.upsert([row_to_record(row, name) for row, name in rows])
    return len(orphans), len(missing)


def kb_totals(engine: Engine) -> dict[str, int]:
    """What the knowledge base holds now, per record kind, plus departments and files."""
    with sync_session(engine) as session:
        per_kind = session.exec(select(KbRecord.kind, func.count()).group_by(KbRecord.kind)).all()
        totals = {kind: int(n) for kind, n in per_kind}
        totals["departments"] = int(session.exec(select(func.count()).select_from(KbDepartment)).one())
        totals["files"] = int(session.exec(select(func.count()).select_from(KbSource)).one())
    return totals


def ensure_generation(engine: Engine) -> None:
    """The kb_generation row exists before an ingest transaction bumps it (see knowledge.models)."""
    try:
        with sync_session(engine) as session, session.begin():
            ensure_generation_row(session)
    except IntegrityError:
        pass  # another process created it at the same moment: that is all we wanted


__all__ = [
    "SQL_BATCH",
    "ensure_generation",
    "kb_totals",
    "make_record",
    "reconcile",
    "record_id",
    "release_department",
    "resolve_supersedes",
    "row_to_record",
    "to_row",
]
