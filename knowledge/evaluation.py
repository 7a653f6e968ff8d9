"""Question-set evaluation (the `eval --json` contract of DESIGN.md), shared by the CLI and bench/."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.answer import Answer
from knowledge.retriever import Mode

INTENTS = ("answer", "desk", "decline")


@dataclass(frozen=True, slots=True)
class EvalItem:
    q: str
    department: str
    route_to_desk: bool
    line: int
    intent: str = ""  # expected outcome when the file gives one ("answer" | "desk" | "decline")
    kind: str = ""  # the question's kind, for per-kind figures (direct, typo, complaint, …)


@dataclass(slots=True)
class KindStats:
    n: int = 0
    with_dept: int = 0
    hit1: int = 0
    hit3: int = 0
    routing_ok: int = 0
    with_intent: int = 0
    intent_ok: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "hit@1": round(self.hit1 / self.with_dept, 4) if self.with_dept else None,
            "hit@3": round(self.hit3 / self.with_dept, 4) if self.with_dept else None,
            "routing_accuracy": round(self.routing_ok / self.n, 4) if self.n else None,
            "intent_accuracy": round(self.intent_ok / self.with_intent, 4) if self.with_intent else None,
        }


@dataclass(slots=True)
class EvalResult:
    n: int
    hit1: float
    hit3: float
    mrr: float
    routing_accuracy: float
    p50_ms: float
    p95_ms: float
    misses: list[dict[str, Any]] = field(default_factory=list)
    intent_accuracy: float | None = None  # over the items that name an intent; None when none does
    by_kind: dict[str, KindStats] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "n": self.n,
            "hit@1": round(self.hit1, 4),
            "hit@3": round(self.hit3, 4),
            "mrr": round(self.mrr, 4),
            "routing_accuracy": round(self.routing_accuracy, 4),
            "p50_ms": round(self.p50_ms, 1),
            "p95_ms": round(self.p95_ms, 1),
        }
        if self.intent_accuracy is not None:
            data["intent_accuracy"] = round(self.intent_accuracy, 4)
        return data


class EvalFileError(ValueError):
    """The evaluation file cannot be used; the message is Chinese and names the line."""


def load_eval_file(path: Path) -> tuple[list[EvalItem], list[str]]:
    """Items of a .jsonl question file, plus Chinese warnings for lines that were skipped."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise EvalFileError(f"找不到评测文件：{path}") from exc
    except UnicodeDecodeError as exc:
        raise EvalFileError(f"评测文件不是 UTF-8 编码：{path}") from exc
    except OSError as exc:
        raise EvalFileError(f"无法读取评测文件 {path}：{exc.strerror}") from exc
    items: list[EvalItem] = []
    warnings: list[str] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            warnings.append(f"第 {number} 行不是有效的 JSON，已跳过")
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("q"), str) or not obj["q"].strip():
            warnings.append(f"第 {number} 行缺少问题字段 q，已跳过")
            continue
        department = obj.get("department") or ""
        intent = obj.get("intent") or ""
        route = obj.get("route_to_desk", intent == "desk")
        kind = obj.get("kind") or ""
        if not isinstance(department, str) or not isinstance(route, bool):
            warnings.append(f"第 {number} 行的 department 或 route_to_desk 类型不对，已跳过")
            continue
        if intent not in ("", *INTENTS):
            warnings.append(f"第 {number} 行的 intent 只能是 answer、desk 或 decline，已忽略该字段")
            intent = ""
        items.append(EvalItem(obj["q"], department.strip(), route, number, intent, str(kind)))
    if not items:
        raise EvalFileError(f"评测文件中没有可用的问题：{path}")
    return items, warnings


def distinct_departments(answer: Answer) -> list[str]:
    seen: list[str] = []
    for hit in answer.hits:
        dept = hit.record.department
        if dept and dept not in seen:
            seen.append(dept)
    return seen


def evaluate(
    items: Sequence[EvalItem],
    ask: Callable[[str, Mode], Answer],
    *,
    mode: Mode = "hybrid",
    canonical: Callable[[str], str] = lambda name: name,
) -> EvalResult:
    """hit@1/hit@3/MRR over the distinct departments of the matches; routing accuracy on all items."""
    hit1 = hit3 = rr = 0.0
    with_dept = 0
    routing_ok = 0
    with_intent = intent_ok = 0
    by_kind: dict[str, KindStats] = {}
    latencies: list[float] = []
    misses: list[dict[str, Any]] = []
    for item in items:
        answer = ask(item.q, mode)
        latencies.append(answer.latency_ms)
        stats = by_kind.setdefault(item.kind or "-", KindStats())
        stats.n += 1
        routed_right = answer.route_to_desk == item.route_to_desk
        routing_ok += routed_right
        stats.routing_ok += routed_right
        intent_right = True
        if item.intent:
            intent_right = getattr(answer, "intent", "") == item.intent
            with_intent += 1
            intent_ok += intent_right
            stats.with_intent += 1
            stats.intent_ok += intent_right
        rank = 0
        if item.department:
            with_dept += 1
            stats.with_dept += 1
            expected = canonical(item.department)
            departments = distinct_departments(answer)
            rank = departments.index(expected) + 1 if expected in departments else 0
            hit1 += rank == 1
            hit3 += 0 < rank <= 3
            rr += 1.0 / rank if rank else 0.0
            stats.hit1 += rank == 1
            stats.hit3 += 0 < rank <= 3
        if (item.department and rank != 1) or not routed_right or not intent_right:
            misses.append(
                {
                    "line": item.line,
                    "q": item.q,
                    "expected": item.department,
                    "got": distinct_departments(answer)[:3],
                    "route_expected": item.route_to_desk,
                    "route_got": answer.route_to_desk,
                    "intent_expected": item.intent,
                    "intent_got": getattr(answer, "intent", ""),
                    "kind": item.kind,
                    "confidence": answer.confidence,
                }
            )
    lat = np.asarray(latencies or [0.0])
    return EvalResult(
        n=len(items),
        hit1=hit1 / with_dept if with_dept else 0.0,
        hit3=hit3 / with_dept if with_dept else 0.0,
        mrr=rr / with_dept if with_dept else 0.0,
        routing_accuracy=routing_ok / len(items) if items else 0.0,
        p50_ms=float(np.percentile(lat, 50)),
        p95_ms=float(np.percentile(lat, 95)),
        misses=misses,
        intent_accuracy=intent_ok / with_intent if with_intent else None,
        by_kind=by_kind,
    )
