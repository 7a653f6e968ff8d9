"""Tables of the knowledge base. The relational store is the source of truth:
Chroma holds vectors for these records and BM25 is rebuilt from them, so an ingest that was
interrupted between the vector upsert and the SQL commit leaves nothing citable behind.

The ingest ↔ retrieval interface contract is in docs/knowledge-contract.md — read it first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text, update
from sqlmodel import Field, Session, SQLModel, col, select


def utc_now() -> datetime:
    return datetime.now(UTC)


class KbSource(SQLModel, table=True):
    """One ingested file (directory spreadsheet or policy document)."""

    __tablename__ = "kb_source"

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(index=True, unique=True, max_length=1024)  # resolved absolute path
    name: str = Field(max_length=255)  # file name shown in citations
    kind: str = Field(max_length=16)  # "directory" | "policy"
    sha256: str = Field(max_length=64)
    title: str = Field(default="", max_length=500)
    department: str = Field(default="", max_length=200)
    effective: date | None = None
    expires: date | None = None
    supersedes: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    superseded_by: str = Field(default="", max_length=500)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    # Who a policy is for and what it gives (front matter applies_to, benefit, apply_by, summary), as
    # ingest read them against knowledge.audience; the push campaign of each version starts from it.
    push_meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    record_count: int = 0
    ingested_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class KbDepartment(SQLModel, table=True):
    """A department of the directory (服务联络簿), with its aliases, for routing and tokenisation."""

    __tablename__ = "kb_department"

    name: str = Field(primary_key=True, max_length=200)  # canonical name
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    source_id: int | None = Field(default=None, foreign_key="kb_source.id", index=True)


class KbRecord(SQLModel, table=True):
    """A searchable record; mirrors knowledge.types.Record."""

    __tablename__ = "kb_record"

    id: str = Field(primary_key=True, max_length=64)
    source_id: int = Field(foreign_key="kb_source.id", index=True)
    kind: str = Field(max_length=16, index=True)
    title: str = Field(max_length=500)
    department: str = Field(default="", max_length=200, index=True)
    section: str = Field(default="", max_length=500)
    citation: str = Field(max_length=1000)
    text: str = Field(sa_column=Column(Text, nullable=False))
    span_start: int = 0
    span_end: int = 0
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class KbGeneration(SQLModel, table=True):
    """One row counting the changes to the tables above: bumped in the transaction of each change.

    Processes that hold the knowledge base in memory (a bot worker's BM25 index, alias tables and
    answer cache) compare it with the generation they loaded to notice an ingest made by another
    process — the dashboard, `zhitong ingest`, another webhook worker. A counter rather than
    max(ingested_at): the hosts' clocks need not agree, and a changed file may keep its record count.
    """

    __tablename__ = "kb_generation"

    id: int = Field(default=1, primary_key=True)
    value: int = 0
    changed_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


GENERATION_ROW_ID = 1


def read_generation(session: Session) -> int:
    """The knowledge base's current generation (0 until the first change)."""
    value = session.exec(select(KbGeneration.value).where(col(KbGeneration.id) == GENERATION_ROW_ID)).first()
    return int(value or 0)


def ensure_generation_row(session: Session) -> None:
    """Create the counter row if missing (its own transaction, before any ingest transaction bumps it).

    Creating it lazily inside an ingest transaction would make two first ingests race on the insert.
    """
    if session.get(KbGeneration, GENERATION_ROW_ID) is None:
        session.add(KbGeneration(id=GENERATION_ROW_ID, value=0))


def bump_generation(session: Session) -> None:
    """Count one change. Call inside the transaction that makes it, so readers see both or neither."""
    # An atomic increment: two processes committing ingests at once both count.
    result = session.exec(
        update(KbGeneration)  # type: ignore[call-overload]
        .where(col(KbGeneration.id) == GENERATION_ROW_ID)
        .values(value=col(KbGeneration.value) + 1, changed_at=utc_now())
    )
    if result.rowcount == 0:  # the row was never created (a database older than this table)
        session.add(KbGeneration(id=GENERATION_ROW_ID, value=1))
