"""The vector side of the knowledge base: one Chroma collection per embedder.

Embedded default: `chromadb.PersistentClient` under `<data_dir>/chroma`; scale-out: `HttpClient` when
`vector.url` is set. We always pass our own embeddings (never Chroma's default embedding function,
which would try to download an ONNX model). The relational store (kb_record) is the source of truth;
this collection only answers "which record ids are near this text".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np

from core.config import Settings
from knowledge.embedder import Embedder
from knowledge.types import Record

# Chroma refuses batches above ~5,461 records.
MAX_BATCH = 5000


def collection_name(base: str, embedder_name: str) -> str:
    """`<collection>__<embedder>` made safe for Chroma (3–512 chars of [a-zA-Z0-9._-], alnum ends).

    The embedder is part of the name so switching models never mixes vectors of different spaces.
    """
    raw = f"{base}__{embedder_name}"
    safe = re.sub(r"[^a-zA-Z0-9._-]+", "-", raw).strip("-_.")
    safe = re.sub(r"^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$", "", safe)
    if len(safe) < 3:
        safe = f"kb-{safe}-kb"
    return safe[:512].rstrip("-_.")


def make_client(settings: Settings) -> Any:
    """A Chroma client: HTTP when `vector.url` is set, else the embedded persistent store."""
    # chromadb is heavy (~2 s, ONNX and telemetry stacks): loaded only when a store is opened.
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.vector.url:
        url = urlparse(settings.vector.url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


class VectorStore:
    """Record vectors in Chroma (cosine space), keyed by record id."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.name = collection_name(settings.vector.collection, embedder.name)
        self.client, self._collection = self._open()
        self._lock = threading.Lock()
        # Vector count for query_embedding's n_results clamp. Asking Chroma on every question cost a
        # second call into its bindings per question (profiled: ~20% of the Chroma time under a burst),
        # so it is remembered until this store writes or the knowledge core reloads.
        self._known_count: int | None = None

    def _open(self) -> tuple[Any, Any]:
        client = make_client(self.settings)
        collection = client.get_or_create_collection(
            name=self.name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": self.embedder.name, "dimension": self.embedder.dimension},
        )
        return client, collection

    def refresh(self) -> None:
        """See what other processes wrote since this store opened (call before re-reading the index).

        An embedded Chroma client loads the vector index once: after `zhitong ingest` or the dashboard
        wrote from another process it still counts the new vectors but never returns them from a query
        (checked with chromadb 1.x). A fresh client reads the index from disk again. Chroma caches one
        client system per path in the process, so that cache entry is dropped first; handles already
        taken by running queries keep working on the old system. A Chroma server needs none of this.
        """
        self._known_count = None
        if self.settings.vector.url:
            return
        # chromadb is heavy (~2 s, ONNX and telemetry stacks): loaded only when a store is opened.
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = getattr(self.client, "_identifier", None)
        SharedSystemClient._identifier_to_system.pop(identifier, None)  # type: ignore[arg-type]
        SharedSystemClient._identifier_to_refcount.pop(identifier, None)  # type: ignore[arg-type]
        client, collection = self._open()
        with self._lock:
            self.client, self._collection = client, collection

    def upsert(self, records: Sequence[Record]) -> None:
        """Embed `record.text` and add or replace the vectors (batches of at most MAX_BATCH)."""
        for start in range(0, len(records), MAX_BATCH):
            batch = records[start : start + MAX_BATCH]
            vectors = self.embedder.embed_documents([r.text for r in batch])
            self.upsert_embeddings(batch, vectors)

    def upsert_embeddings(self, records: Sequence[Record], vectors: np.ndarray) -> None:
        """Store vectors computed elsewhere (benchmarks separate embedding from storage cost)."""
        for start in range(0, len(records), MAX_BATCH):
            batch = records[start : start + MAX_BATCH]
            with self._lock:
                self._known_count = None
                self._collection.upsert(
                    ids=[r.id for r in batch],
                    embeddings=np.asarray(vectors[start : start + MAX_BATCH], dtype=np.float32),
                    metadatas=[
                        {"kind": r.kind, "department": r.department or "", "source_file": r.source_file or ""}
                        for r in batch
                    ],
                )

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), MAX_BATCH):
            with self._lock:
                self._known_count = None
                self._collection.delete(ids=ids[start : start + MAX_BATCH])

    def ids(self) -> set[str]:
        result: set[str] = set()
        total = self.count()
        page = MAX_BATCH
        for offset in range(0, total, page):
            got = self._collection.get(include=[], limit=page, offset=offset)
            result.update(got["ids"])
        return result

    def count(self) -> int:
        return int(self._collection.count())

    def vectors_for(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The stored vectors of `ids`, row i for ids[i] (float32), and which rows were found.

        Rows of ids without a stored vector (an interrupted ingest, a vector not written yet) are zero
        and marked False, so they can never rank as near.
        """
        dimension = self.embedder.dimension
        matrix = np.zeros((len(ids), dimension), dtype=np.float32)
        found = np.zeros(len(ids), dtype=bool)
        position = {rid: i for i, rid in enumerate(ids)}
        for start in range(0, len(ids), MAX_BATCH):
            got = self._collection.get(ids=list(ids[start : start + MAX_BATCH]), include=["embeddings"])
            embeddings = got.get("embeddings")
            if embeddings is None:
                continue
            for rid, vector in zip(got["ids"], embeddings, strict=True):
                i = position.get(rid)
                if i is not None and len(vector) == dimension:
                    matrix[i] = vector
                    found[i] = True
        return matrix, found

    def _query_count(self) -> int:
        """The count for clamping n_results: cached; a stale value is harmless (Chroma clamps too)."""
        known = self._known_count
        if known is None:
            known = self._known_count = self.count()
        return known

    def query(self, text: str, n: int, kinds: Collection[str] | None = None) -> list[tuple[str, float]]:
        """(record id, cosine similarity) of the `n` nearest records, best first."""
        return self.query_embedding(self.embedder.embed_query(text), n, kinds)

    def query_embedding(
        self, vector: np.ndarray, n: int, kinds: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """Like `query` with a query vector already computed (the retriever embeds once)."""
        total = self._query_count()
        if total == 0 or n <= 0:
            return []
        where: dict[str, Any] | None = None
        if kinds:
            kind_list = sorted(kinds)
            where = {"kind": kind_list[0]} if len(kind_list) == 1 else {"kind": {"$in": kind_list}}
        result = self._collection.query(
            query_embeddings=np.asarray(vector, dtype=np.float32)[None, :],
            n_results=min(n, total),
            where=where,
            include=["distances"],
        )
        ids = result["ids"][0]
        distances = result["distances"][0] if result.get("distances") else [1.0] * len(ids)
        # Chroma's cosine distance is 1 - cosine similarity.
        return [(rid, 1.0 - float(d)) for rid, d in zip(ids, distances, strict=True)]
