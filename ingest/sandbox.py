"""Run a file parser on untrusted input in a child process with a wall-time and a memory limit.

The parsers (python-docx, openpyxl, lxml, pypdf, PyYAML) are written for honest files. Hostile ones
hung them for minutes (an .xlsx declaring 200,000 × 16,384 cells, 100,000 nested <div>s) or made them
allocate gigabytes; a crash inside a C extension would take the whole ingest with it. Each rule we add
for one such file leaves the next one unhandled, so every parse runs here: a forked child (cheap: it
shares the already-imported parsers) under RLIMIT_AS, killed when `seconds` pass. Whatever goes wrong
becomes this file's IngestError in Chinese, and the knowledge base is untouched: parsing happens
before anything is written.
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import os
import resource
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from ingest.errors import IngestError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ParseLimits:
    seconds: float
    memory_mb: int


def _address_space_now() -> int:
    """Bytes of address space this process already maps (the child starts with the same)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(read: Callable[[Path], Any], path: Path, memory_mb: int, conn: Connection) -> None:
    # A crash here is reported by the parent as this file's refusal; no traceback dump on stderr.
    faulthandler.disable()
    try:
        limit = _address_space_now() + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        result: tuple[str, Any] = ("ok", read(path))
    except IngestError as exc:
        result = ("refused", exc.message)
    except MemoryError:
        result = ("memory", None)
    except RecursionError:
        result = ("crashed", "RecursionError")
    except BaseException as exc:  # a hostile file makes parsers raise anything
        result = ("crashed", f"{type(exc).__name__}: {''.join(traceback.format_exception_only(exc)).strip()[:500]}")
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory", None))
    finally:
        conn.close()


def parse_isolated(read: Callable[[Path], T], path: Path, limits: ParseLimits) -> T:
    """`read(path)` in a child process; its result, or IngestError (Chinese) for whatever went wrong."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(read, path, limits.memory_mb, sender), daemon=True)
    started = time.monotonic()
    child.start()
    sender.close()  # the child holds the only writing end: EOF means it is gone
    try:
        outcome: tuple[str, Any] | None = None
        if receiver.poll(limits.seconds):
            try:
                outcome = receiver.recv()
            except EOFError:
                outcome = None  # died without answering (killed by the kernel, a crash in C code)
        else:
            log.warning("parsing %s took over %.0f s: stopped", path.name, limits.seconds)
            raise IngestError(f"{path.name}：文件解析超过 {limits.seconds:g} 秒仍未完成（文件过大或结构异常），已拒绝导入")
    finally:
        if child.is_alive():
            os.kill(child.pid or 0, signal.SIGKILL)
        child.join(timeout=10)
        receiver.close()
    if outcome is None:
        log.warning("parser for %s exited with %s after %.1f s", path.name, child.exitcode, time.monotonic() - started)
        raise IngestError(f"{path.name}：解析文件时解析器异常退出（文件可能损坏或结构异常），已拒绝导入")
    status, value = outcome
    if status == "ok":
        return value  # type: ignore[no-any-return]
    if status == "refused":
        raise IngestError(str(value))
    if status == "memory":
        raise IngestError(f"{path.name}：解析文件需要的内存超过上限 {limits.memory_mb} MB（文件过大或结构异常），已拒绝导入")
    log.warning("parser for %s failed: %s", path.name, value)
    name = str(value).split(":", 1)[0]
    raise IngestError(f"{path.name}：文件无法解析（{name}），请检查文件是否完整")
