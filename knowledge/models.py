"""Tables of the knowledge base. The relational store is the source of truth:
Chroma holds vectors for these records and BM25 is rebuilt from them, so an ingest that was
interrupted between the vector upsert and the SQL commit leaves nothing citable behind.

The ingest ↔ retrieval interface contract is in docs/knowledge-contract.md — read it first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel


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
