"""Which files an ingest run reads: folders walked, names checked, unsupported and meta files set aside."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders import POLICY_EXTENSIONS
from ingest.report import IngestReport
from ingest.tables import DIRECTORY_EXTENSIONS

SUPPORTED_EXTENSIONS = POLICY_EXTENSIONS | DIRECTORY_EXTENSIONS
# Files a data folder typically carries that are about the data, not data: never ingested.
_IGNORED_STEMS = {"readme", "license", "licence", "license-source", "changelog", "notice"}


@dataclass
class Plan:
    """The files to ingest, and the folders walked to find them (their vanished files are removed)."""

    files: list[Path] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)


def plan_paths(paths: Sequence[Path], report: IngestReport) -> Plan:
    """Expand files and folders into the files to ingest; what cannot be ingested goes to the report."""
    plan = Plan()
    seen: set[Path] = set()

    def add(p: Path) -> None:
        if p not in seen:
            seen.add(p)
            plan.files.append(p)

    for raw in paths:
        try:
            path = Path(raw).expanduser().resolve()
        except (RuntimeError, OSError):  # "Symlink loop from …", or an unreadable component
            report.failed.append((display_name(str(raw)), "路径无法解析（符号链接循环或无权访问），已跳过"))
            continue
        if not valid_name(str(path)):
            report.failed.append((display_name(path.name), BAD_NAME))
            continue
        if path.is_dir():
            plan.roots.append(path)
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")) and valid_name(d))
                for filename in sorted(filenames):
                    file = Path(dirpath) / filename
                    if filename.startswith((".", "~$")):
                        continue  # hidden files and Office lock files
                    if not valid_name(filename):
                        # One badly named file must not stop the folder: it is reported and skipped.
                        report.failed.append((display_name(filename), BAD_NAME))
                    elif file.stem.lower() in _IGNORED_STEMS:
                        report.ignored.append((_relative(file, path), "说明/许可文件，不作为知识导入"))
                    elif file.suffix.lower() not in SUPPORTED_EXTENSIONS:
                        report.ignored.append((_relative(file, path), f"不支持的文件类型“{file.suffix or '无扩展名'}”"))
                    elif not file.is_file():
                        report.ignored.append((_relative(file, path), "不是普通文件（管道、设备或失效的链接）"))
                    else:
                        add(file)
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                report.failed.append((path.name, f"不支持的文件类型“{path.suffix or '无扩展名'}”，支持："
                                      + " ".join(sorted(SUPPORTED_EXTENSIONS))))
            else:
                add(path)
        elif path.exists():
            report.failed.append((path.name, "不是普通文件（管道、设备等），已跳过"))
        else:
            report.failed.append((str(raw), "路径不存在"))
    return plan


BAD_NAME = "文件名不是有效的 UTF-8 编码，无法保存；请重命名（例如改为中文或英文名）后再导入"


def valid_name(name: str) -> bool:
    """False for names that are not valid UTF-8 (Python keeps their bytes as surrogates): the database
    and the terminal cannot store or print them."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_name(name: str) -> str:
    """A printable form of any file name (undecodable bytes shown as �)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _relative(file: Path, root: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return file.name


def is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


__all__ = ["BAD_NAME", "SUPPORTED_EXTENSIONS", "Plan", "display_name", "is_under", "plan_paths", "valid_name"]
