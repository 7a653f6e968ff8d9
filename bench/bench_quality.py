"""Quality on every question set, per question kind, against a plain char-bigram BM25 — in one run.

    .venv/bin/python bench/bench_quality.py [--sets demo,qinglan,...] [--misses SET] [--modes]

Each city is ingested with the real pipeline into a data dir cached under the temp dir (keyed by its
files and the ingest code), then asked every question through KnowledgeService.ask — the code the
bot runs. Printed per set: hit@1 / hit@3 (department), routing (desk or not) and intent (answer /
desk / decline) accuracy, p95 latency, and the char-bigram BM25's hit@1 / hit@3 on the same records;
then the same per question kind. `tuned` says whether the set was used to tune Zhitong: figures on
tuned sets are not evidence of anything; report the others.

The intent holdout (data/intent/holdout.jsonl, written separately from the training corpus) is
scored on the classifier's own decision: consult and meta → answer, complaint and person → desk,
chatter and off-topic → decline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from common import REPO, SAMPLE, parse_overrides, peak_rss_mb, settings_for


@dataclass(frozen=True)
class QuestionSet:
    name: str
    paths: tuple[Path, ...]  # what is ingested
    questions: Path
    tuned: bool
    about: str


EVAL = REPO / "data" / "eval"
SETS: tuple[QuestionSet, ...] = (
    QuestionSet("demo", (SAMPLE / "directory", SAMPLE / "policies"), SAMPLE / "questions.jsonl", True,
                "demo city, the original tuning set"),
    QuestionSet("demo-holdout", (SAMPLE / "directory", SAMPLE / "policies"), SAMPLE / "questions_holdout.jsonl",
                False, "demo city, held-out questions"),
    QuestionSet("qinglan", (EVAL / "qinglan" / "directory", EVAL / "qinglan" / "policies"),
                EVAL / "qinglan" / "questions.jsonl", True, "fictional city A (helper-written), the tuning city"),
    QuestionSet("lancang", (EVAL / "lancang" / "directory", EVAL / "lancang" / "policies"),
                EVAL / "lancang" / "questions.jsonl", False, "fictional city B (another helper), never tuned on"),
    QuestionSet("guangdong-tune", (REPO / "data" / "guangdong",), EVAL / "guangdong_tune" / "questions.jsonl", True,
                "real Guangdong directory, a second helper's questions, for tuning"),
    QuestionSet("guangdong", (REPO / "data" / "guangdong",), EVAL / "guangdong" / "questions.jsonl", False,
                "real Guangdong directory (2,262 items), helper-written questions"),
)


def _files_key(paths: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    code = sorted((REPO / "ingest").glob("*.py"))
    for path in sorted(p for root in paths for p in (root.rglob("*") if root.is_dir() else [root])) + code:
        if path.is_file():
            digest.update(str(path.name).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def open_city(qs: QuestionSet):  # type: ignore[no-untyped-def]
    from ingest.pipeline import ingest_paths
    from knowledge.service import KnowledgeService

    data_dir = Path(tempfile.gettempdir()) / f"zt-quality-{qs.paths[0].parent.name}-{_files_key(qs.paths)}"
    # The ingest depends on ingest settings only; retrieval overrides reuse the same data dir.
    fresh = not (data_dir / "zhitong.db").exists()
    settings = settings_for(data_dir)
    if fresh:
        report = ingest_paths(settings, list(qs.paths))
        print(f"  [{qs.name}] {report.summary_zh().splitlines()[0]}")
    return KnowledgeService.open(settings)


def baseline_for(service):  # type: ignore[no-untyped-def]
    from baseline import CharBigramBM25

    from knowledge.retriever import lexical_document

    records = service.records()
    return CharBigramBM25([lexical_document(r) for r in records], [r.department for r in records])


def _fmt(value: float | None) -> str:
    return f"{value:6.3f}" if value is not None else "     –"


def run_set(qs: QuestionSet, show_misses: bool, mode: str) -> dict[str, object]:
    from knowledge.evaluation import evaluate, load_eval_file

    if not qs.questions.is_file() or not all(p.exists() for p in qs.paths):
        print(f"  [{qs.name}] skipped: data not found")
        return {}
    service = open_city(qs)
    items, _ = load_eval_file(qs.questions)
    result = evaluate(items, lambda q, m: service.ask(q, mode=m), mode=mode,  # type: ignore[arg-type]
                      canonical=service.canonical_department)
    bm25 = baseline_for(service)
    base_kind: dict[str, list[int]] = {}
    base1 = base3 = n_dept = 0
    for item in items:
        if not item.department:
            continue
        got = bm25.departments_for(item.q)
        expected = service.canonical_department(item.department)
        rank = got.index(expected) + 1 if expected in got else 0
        n_dept += 1
        base1 += rank == 1
        base3 += 0 < rank <= 3
        row = base_kind.setdefault(item.kind or "-", [0, 0, 0])
        row[0] += 1
        row[1] += rank == 1
        row[2] += 0 < rank <= 3
    data = result.to_json()
    b1 = base1 / n_dept if n_dept else None
    b3 = base3 / n_dept if n_dept else None
    tuned = "tuned" if qs.tuned else "held out"
    print(f"\n{qs.name} ({qs.about}; {tuned}) — {qs.questions.relative_to(REPO) if qs.questions.is_relative_to(REPO) else qs.questions}")
    print(f"  {'':14}{'n':>5}{'hit@1':>8}{'hit@3':>8}{'route':>8}{'intent':>8}{'BM25@1':>8}{'BM25@3':>8}")
    print(f"  {'ALL':14}{data['n']:>5}{_fmt(data['hit@1'] if n_dept else None):>8}{_fmt(data['hit@3'] if n_dept else None):>8}"
          f"{_fmt(data['routing_accuracy']):>8}{_fmt(data.get('intent_accuracy')):>8}{_fmt(b1):>8}{_fmt(b3):>8}"
          f"   p50 {data['p50_ms']} ms, p95 {data['p95_ms']} ms")
    for kind, stats in sorted(result.by_kind.items()):
        k = stats.to_json()
        row = base_kind.get(kind)
        kb1 = row[1] / row[0] if row else None
        kb3 = row[2] / row[0] if row else None
        print(f"  {kind[:14]:14}{k['n']:>5}{_fmt(k['hit@1']):>8}{_fmt(k['hit@3']):>8}{_fmt(k['routing_accuracy']):>8}"
              f"{_fmt(k['intent_accuracy']):>8}{_fmt(kb1):>8}{_fmt(kb3):>8}")
    if show_misses:
        for miss in result.misses:
            print("    MISS", json.dumps(miss, ensure_ascii=False))
    service.close()
    return {"set": qs.name, "tuned": qs.tuned, **data, "bm25_hit@1": b1, "bm25_hit@3": b3}


def run_intent_holdout(show_misses: bool) -> None:
    """The classifier alone on messages written apart from its training corpus."""
    from knowledge.embedder import make_embedder
    from knowledge.intent import CLASS_TO_INTENT, FAMILY_TO_CLASS, load_examples, load_or_train

    path = REPO / "data" / "intent" / "holdout.jsonl"
    settings = settings_for(Path(tempfile.gettempdir()) / "zt-quality-intent")
    embedder = make_embedder(settings.embedder)
    model = load_or_train(settings.data_dir, None, embedder.name, embedder.embed_queries)
    assert model is not None
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = load_examples(path)
    probs = model.probabilities([e.text for e in examples], embedder.embed_queries([e.text for e in examples]))
    per_family: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for obj, p in zip(raw, probs, strict=True):
        got = CLASS_TO_INTENT[max(p, key=p.__getitem__)]  # type: ignore[index]
        expected = CLASS_TO_INTENT[FAMILY_TO_CLASS[obj["family"]]]
        per_family[obj["family"]] += 1
        right[obj["family"]] += got == expected
        if show_misses and got != expected:
            print("    MISS", obj["family"], "→", got, obj["text"][:80])
    total = sum(per_family.values())
    print(f"\nintent-holdout (data/intent/holdout.jsonl, {total} messages by a second helper; held out)")
    print(f"  {'ALL':18}{total:>5}  intent {sum(right.values()) / total:.3f}")
    for family in sorted(per_family):
        print(f"  {family:18}{per_family[family]:>5}  intent {right[family] / per_family[family]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="", help="comma-separated set names (default: all, plus intent-holdout)")
    parser.add_argument("--misses", default="", help="comma-separated set names whose misses are listed")
    parser.add_argument("--mode", default="hybrid", help="hybrid | dense | lexical")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting for this run, e.g. --set retrieval.dense_weight=0.2")
    args = parser.parse_args()
    parse_overrides(args.set)
    wanted = [s for s in args.sets.split(",") if s]
    show = set(args.misses.split(","))
    print("Zhitong vs plain char-bigram BM25 (hit@ = the expected department among the first k distinct departments)")
    for qs in SETS:
        if not wanted or qs.name in wanted:
            run_set(qs, qs.name in show, args.mode)
    if not wanted or "intent-holdout" in wanted:
        run_intent_holdout("intent-holdout" in show)
    print(f"\npeak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
