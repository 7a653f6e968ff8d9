"""Quality: dense-only vs BM25-only vs hybrid on the question sets (hit@1, hit@3, MRR, routing).

    .venv/bin/python bench/bench_quality.py [--guangdong]

Ingests the demo city (and, with --guangdong, ../shared/data/guangdong) into temporary data dirs
with the real pipeline, then runs the same evaluation as `zhitong eval`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import REPO, SAMPLE, SHARED, fresh_data_dir, peak_rss_mb, settings_for


def run(label: str, paths: list[Path], question_files: list[Path], data_dir: Path | None) -> None:
    from ingest.pipeline import ingest_paths
    from knowledge.evaluation import evaluate, load_eval_file
    from knowledge.service import KnowledgeService

    settings = settings_for(data_dir or fresh_data_dir(f"zt-bench-{label}-"))
    report = ingest_paths(settings, paths)
    print(f"\n[{label}] {report.summary_zh().splitlines()[0]}")
    service = KnowledgeService.open(settings)
    print(
        f"{'question set':28}{'mode':>9}{'n':>5}{'hit@1':>8}{'hit@3':>8}{'MRR':>8}{'routing':>9}{'p50 ms':>8}{'p95 ms':>8}"
    )
    for path in question_files:
        items, _ = load_eval_file(path)
        for mode in ("dense", "lexical", "hybrid"):
            result = evaluate(
                items,
                lambda q, m: service.ask(q, mode=m),
                mode=mode,  # type: ignore[arg-type]
                canonical=service.canonical_department,
            ).to_json()
            print(
                f"{path.name:28}{mode:>9}{result['n']:>5}{result['hit@1']:>8.3f}{result['hit@3']:>8.3f}"
                f"{result['mrr']:>8.3f}{result['routing_accuracy']:>9.3f}{result['p50_ms']:>8.1f}{result['p95_ms']:>8.1f}"
            )
    service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--guangdong", action="store_true", help="also the real Guangdong directory")
    parser.add_argument(
        "--sample-data-dir", type=Path, default=None, help="reuse an ingested demo-city data dir"
    )
    parser.add_argument("--guangdong-data-dir", type=Path, default=None)
    args = parser.parse_args()
    run(
        "sample",
        [SAMPLE / "directory", SAMPLE / "policies"],
        [SAMPLE / "questions.jsonl", SAMPLE / "questions_holdout.jsonl"],
        args.sample_data_dir,
    )
    if args.guangdong:
        run(
            "guangdong",
            [SHARED / "data" / "guangdong"],
            [REPO / "bench" / "guangdong_questions.jsonl"],
            args.guangdong_data_dir,
        )
    print(f"\npeak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
