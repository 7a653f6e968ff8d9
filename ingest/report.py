"""What an ingest run did, and the change report admins read (Chinese)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IngestReport:
    """What an ingest run did; `summary_zh()` is the change report shown to admins."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    row_errors: list[tuple[str, int, str]] = field(default_factory=list)
    records_added: int = 0
    records_removed: int = 0
    records_embedded: int = 0  # vectors computed in this run (added records minus reusable vectors)
    # Not in the minimal contract, but useful: files passed over in a folder walk, warnings,
    # records per file written in this run, totals in the store afterwards, duration.
    ignored: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    file_records: dict[str, int] = field(default_factory=dict)
    superseded: list[tuple[str, list[str]]] = field(default_factory=list)  # (file, the files it retires)
    totals: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no file failed (row errors alone do not fail a run)."""
        return not self.failed

    def summary_zh(self, *, max_lines: int = 30) -> str:
        lines = [
            f"导入完成（用时 {self.seconds:.1f} 秒）：新增 {len(self.added)} 个文件，更新 {len(self.changed)} 个，"
            f"删除 {len(self.removed)} 个，未变化跳过 {len(self.skipped)} 个，失败 {len(self.failed)} 个。",
            f"记录：新增 {self.records_added} 条（计算向量 {self.records_embedded} 条），删除 {self.records_removed} 条。",
        ]
        if self.totals:
            lines.append(
                f"知识库现有：部门 {self.totals.get('departments', 0)} 个（部门及科室记录 "
                f"{self.totals.get('department', 0)} 条），事项 {self.totals.get('service', 0)} 项，"
                f"政策片段 {self.totals.get('policy', 0)} 段，文件 {self.totals.get('files', 0)} 个。"
            )

        def listing(title: str, items: Sequence[str]) -> None:
            if not items:
                return
            lines.append(f"{title}（{len(items)}）：")
            for item in items[:max_lines]:
                lines.append(f"  - {item}")
            if len(items) > max_lines:
                lines.append(f"  …… 另有 {len(items) - max_lines} 项")

        def with_count(name: str) -> str:
            n = self.file_records.get(name)
            return f"{name}（{n} 条记录）" if n is not None else name

        listing("新增", [with_count(n) for n in self.added])
        listing("更新", [with_count(n) for n in self.changed])
        listing("删除", self.removed)
        listing("替代旧政策（被替代的不再作为现行政策引用）", [f"{n} 替代 {'、'.join(old)}" for n, old in self.superseded])
        listing("失败（未导入，原有内容不变）", [f"{n}：{m}" for n, m in self.failed])
        listing("跳过的行", [f"{n} 第 {r} 行：{m}" for n, r, m in self.row_errors])
        listing("提醒", [f"{n}：{m}" for n, m in self.warnings])
        listing("已忽略的文件", [f"{n}：{m}" for n, m in self.ignored])
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "skipped": self.skipped,
            "failed": [{"file": n, "message": m} for n, m in self.failed],
            "row_errors": [{"file": n, "row": r, "message": m} for n, r, m in self.row_errors],
            "warnings": [{"file": n, "message": m} for n, m in self.warnings],
            "ignored": [{"file": n, "message": m} for n, m in self.ignored],
            "records_added": self.records_added,
            "records_removed": self.records_removed,
            "records_embedded": self.records_embedded,
            "totals": self.totals,
            "seconds": round(self.seconds, 3),
        }


__all__ = ["IngestReport"]
