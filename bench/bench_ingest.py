"""Ingest throughput vs. the raw embedder's throughput on the same chunks.

.venv/bin/python bench/bench_ingest.py [PATH ...]   (default: the demo city)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import SAMPLE, fresh_data_dir, peak_rss_mb, settings_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, default=[SAMPLE / "directory", SAMPLE / "policies"])
    args = parser.parse_args()

    from sqlmodel import select

    from core.db import make_sync_engine, sync_session
    from ingest.pipeline import ingest_paths
    from knowledge.embedder import make_embedder
    from knowledge.models import KbRecord
    from knowledge.store import VectorStore
    from knowledge.types import Record

    settings = settings_for(fresh_data_dir("zt-bench-ingest-"))
    embedder = make_embedder(settings.embedder)  # loaded before timing: ingest and raw share it
    embedder.embed_query("预热")
    store = VectorStore(settings, embedder)

    started = time.perf_counter()
    report = ingest_paths(settings, args.paths, store=store)
    ingest_s = time.perf_counter() - started
    n = report.records_added

    engine = make_sync_engine(settings.database_url)
    with sync_session(engine) as session:
        rows = session.exec(select(KbRecord)).all()
    texts = [r.text for r in rows]
    started = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    embed_s = time.perf_counter() - started

    # Chroma alone: the same vectors into a fresh collection.
    other = settings_for(fresh_data_dir("zt-bench-chroma-"))
    chroma_store = VectorStore(other, embedder)
    records = [
        Record(id=r.id, kind=r.kind, title=r.title, department=r.department, text=r.text, citation="")
        for r in rows
    ]  # type: ignore[arg-type]
    started = time.perf_counter()
    chroma_store.upsert_embeddings(records, vectors)
    chroma_s = time.perf_counter() - started

    chars = sum(len(t) for t in texts)
    print(f"files: {len(report.added)}  records: {n}  characters: {chars}")
    print(
        f"ingest (parse + chunk + embed + Chroma + SQL): {ingest_s:7.2f} s  = {n / ingest_s:8.1f} records/s"
    )
    print(
        f"raw embedder on the same {len(texts)} texts:      {embed_s:7.2f} s  = {len(texts) / embed_s:8.1f} records/s"
    )
    print(
        f"Chroma upsert of those vectors alone:          {chroma_s:7.2f} s  = {len(texts) / chroma_s:8.1f} records/s"
    )
    print(
        f"ingest overhead beyond embedding: {ingest_s - embed_s:.2f} s ({(ingest_s / embed_s):.2f}x the raw embed time)"
    )
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
