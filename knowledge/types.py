"""Plain data types shared by ingest and retrieval (no I/O here).

The ingest ↔ retrieval interface contract is in docs/knowledge-contract.md — read it first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RecordKind = Literal["service", "department", "policy"]


@dataclass(frozen=True, slots=True)
class Record:
    """One searchable unit: a service item, a department (section), or a policy chunk.

    `text` is what is indexed (dense and lexical); `data` holds the structured fields the answer
    cards are rendered from (service: window, materials, time_limit...; department: address, phone,
    sections...; policy: the chunk's quote). `citation` is what an answer cites: "文件名 › 章节".
    """

    id: str
    kind: RecordKind
    title: str
    department: str
    text: str
    citation: str
    source_file: str = ""
    section: str = ""
    span: tuple[int, int] = (0, 0)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved record with its fused score and the per-retriever scores behind it."""

    record: Record
    score: float
    dense: float = 0.0
    lexical: float = 0.0
