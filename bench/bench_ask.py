"""`ask` latency at 20,000 chunks vs. the bare cost of its parts; peak RSS.

Generates a corpus once (real Guangdong directory rows + policy chunks recombined from the seed
documents and the demo policies), writes it the way ingest does (SQLite rows + Chroma vectors), then
times KnowledgeService.ask against query embedding + vector search + BM25 alone.

    .venv/bin/python bench/bench_ask.py [--chunks 20000] [--data-dir DIR (reused when it exists)]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import time
from pathlib import Path

from common import REPO, SAMPLE, fresh_data_dir, pct, peak_rss_mb, settings_for


def _sentences() -> list[str]:
    # Policy prose shipped in the repository: the demo city's and the two fictional cities' files.
    files = sorted((SAMPLE / "policies").glob("*.md")) + sorted((REPO / "data" / "eval").glob("*/policies/*"))
    texts = [p.read_text(encoding="utf-8", errors="ignore") for p in files if p.suffix in (".md", ".txt", ".html")]
    out: list[str] = []
    for text in texts:
        out += [s.strip() for s in re.split(r"(?<=[。；！？])", text) if 12 <= len(s.strip()) <= 200]
    return out


def generate(settings, target: int) -> int:  # type: ignore[no-untyped-def]
    from core.db import init_db_sync, make_sync_engine, sync_session
    from ingest.directory import service_text
    from knowledge.embedder import make_embedder
    from knowledge.models import KbDepartment, KbRecord, KbSource
    from knowledge.store import VectorStore
    from knowledge.types import Record

    rng = random.Random(20261122)
    engine = make_sync_engine(settings.database_url)
    init_db_sync(engine)
    store = VectorStore(settings, make_embedder(settings.embedder))
    keys = {
        "事项名称": "name",
        "办理部门": "department",
        "窗口": "window",
        "办理材料": "materials",
        "办理时限": "time_limit",
        "办理流程": "steps",
        "收费": "fee",
        "设定依据": "legal_basis",
        "线上入口": "online",
        "咨询电话": "phone",
        "关键词": "keywords",
    }
    with open(REPO / "data" / "guangdong" / "services.csv", encoding="utf-8") as fh:
        services = [
            {keys[k]: (v or "").strip() for k, v in row.items() if k in keys} for row in csv.DictReader(fh)
        ]
    departments = sorted({s["department"] for s in services if s["department"]})
    records: list[tuple[int, Record]] = []
    for i, svc in enumerate(services):
        text = service_text(svc)
        rid = hashlib.sha256(f"gd|service|{text}|{i}".encode()).hexdigest()[:32]
        records.append(
            (
                0,
                Record(
                    id=rid,
                    kind="service",
                    title=svc["name"],
                    department=svc["department"],
                    text=text,
                    citation=f"services.csv › {svc['name']}",
                    data=svc,
                ),
            )
        )
    for name in departments:
        text = f"{name}。服务窗口与咨询电话见服务联络簿。"
        rid = hashlib.sha256(f"gd|department|{name}".encode()).hexdigest()[:32]
        records.append(
            (
                0,
                Record(
                    id=rid,
                    kind="department",
                    title=name,
                    department=name,
                    text=text,
                    citation=f"departments.csv › {name}",
                ),
            )
        )
    sentences = _sentences()
    n_files = 200
    i = 0
    while len(records) < target:
        dept = rng.choice(departments)
        body = "".join(rng.sample(sentences, rng.randint(3, 6)))[:400]
        heading = f"第{rng.randint(1, 12)}条"
        text = f"{dept}政策文件 › {heading}\n{body}"
        rid = hashlib.sha256(f"gen|policy|{i}|{text}".encode()).hexdigest()[:32]
        records.append(
            (
                1 + i % n_files,
                Record(
                    id=rid,
                    kind="policy",
                    title=f"生成政策文件{i % n_files}",
                    department=dept,
                    text=text,
                    citation=f"生成政策文件{i % n_files}.md › {heading}",
                    section=heading,
                    data={"quote": body},
                ),
            )
        )
        i += 1
    started = time.perf_counter()
    store.upsert([r for _, r in records])
    embed_s = time.perf_counter() - started
    with sync_session(engine) as session:
        sources = [
            KbSource(path="/bench/services.csv", name="services.csv", kind="directory", sha256="0" * 64)
        ]
        sources += [
            KbSource(
                path=f"/bench/policy{j}.md", name=f"生成政策文件{j}.md", kind="policy", sha256=f"{j:064d}"
            )
            for j in range(n_files)
        ]
        session.add_all(sources)
        session.flush()
        session.add_all(KbDepartment(name=d, aliases=[]) for d in departments)
        session.add_all(
            KbRecord(
                id=r.id,
                source_id=sources[s].id or 0,
                kind=r.kind,
                title=r.title[:500],
                department=r.department,
                section=r.section,
                citation=r.citation,
                text=r.text,
                data=r.data,
            )
            for s, r in records
        )
        session.commit()
    engine.dispose()
    print(
        f"generated {len(records)} records; embedding + Chroma upsert {embed_s:.1f} s "
        f"({len(records) / embed_s:.0f} records/s)"
    )
    return len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    data_dir = args.data_dir or fresh_data_dir("zt-bench-ask-")
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings_for(data_dir)
    if not (data_dir / "zhitong.db").exists():
        generate(settings, args.chunks)

    from knowledge.lexical import analyze
    from knowledge.service import KnowledgeService

    started = time.perf_counter()
    service = KnowledgeService.open(settings)
    open_s = time.perf_counter() - started
    stats = service.stats()
    print(
        f"records indexed: {stats['records']}  vectors: {stats['vectors']}  open (embedder + BM25 build): "
        f"{open_s:.2f} s (BM25 index build {stats['index_build_s']:.2f} s)"
    )

    questions = []
    for path in (SAMPLE / "questions.jsonl", REPO / "bench" / "guangdong_questions.jsonl"):
        questions += [
            json.loads(line)["q"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    state = service._require_state()
    retriever, index = state.retriever, state.index
    n = settings.retrieval.candidates

    ask_ms: list[float] = []
    embed_ms: list[float] = []
    vector_ms: list[float] = []
    bm25_ms: list[float] = []
    bare_ms: list[float] = []
    for _ in range(args.rounds):
        for q in questions:
            t0 = time.perf_counter()
            service.ask(q)
            ask_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            vector = service.embedder.embed_query(q)
            t1 = time.perf_counter()
            service.store.query_embedding(vector, n)
            t2 = time.perf_counter()
            index.lexical.search(analyze(q), n)
            t3 = time.perf_counter()
            embed_ms.append((t1 - t0) * 1000)
            vector_ms.append((t2 - t1) * 1000)
            bm25_ms.append((t3 - t2) * 1000)
            bare_ms.append((t3 - t0) * 1000)
    print(f"questions: {len(questions)} x {args.rounds} rounds")
    print(f"{'':28}{'p50 ms':>9}{'p95 ms':>9}")
    for label, values in (
        ("ask (full answer)", ask_ms),
        ("bare: embed+vector+BM25", bare_ms),
        ("  query embedding", embed_ms),
        ("  Chroma search", vector_ms),
        ("  BM25 (jieba+bigrams)", bm25_ms),
    ):
        print(f"{label:28}{pct(values, 50):9.1f}{pct(values, 95):9.1f}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    del retriever


if __name__ == "__main__":
    main()
