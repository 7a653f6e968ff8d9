"""Run a file parser on untrusted input in a separate process with a wall-time and a memory limit.

The parsers (python-docx, openpyxl, lxml, pypdf, PyYAML) are written for honest files. Hostile ones
hung them for minutes (an .xlsx declaring 200,000 × 16,384 cells, 100,000 nested <div>s) or made them
allocate gigabytes; a crash inside a C extension would take the whole ingest with it. Each rule we add
for one such file leaves the next one unhandled, so every parse runs here: in a parser process under
RLIMIT_AS, killed when `seconds` pass. Whatever goes wrong becomes this file's IngestError in Chinese,
and the knowledge base is untouched: parsing happens before anything is written.

The parser process is *spawned* (a fresh interpreter), not forked: the bot ingests uploads from a
thread of a busy process, and a forked child inherits whatever locks other threads held at that
moment (an import lock, a logging lock) and can hang on them. It is started once and reused for every
file of every run; one that timed out or died is replaced on the next parse.
"""

from __future__ import annotations

import atexit
import faulthandler
import logging
import multiprocessing
import os
import resource
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
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
    """Bytes of address space this process maps already (the limit is on top of them)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _parse_one(read: Callable[[Path], Any], path: Path) -> tuple[str, Any]:
    try:
        return "ok", read(path)
    except IngestError as exc:
        return "refused", exc.message
    except MemoryError:
        return "memory", None
    except RecursionError:
        return "crashed", "RecursionError"
    except Exception as exc:  # a hostile file makes parsers raise anything
        return "crashed", f"{type(exc).__name__}: {''.join(traceback.format_exception_only(exc)).strip()[:500]}"


def _serve(conn: Connection, memory_mb: int) -> None:
    """The parser process: parse what it is sent, one file at a time, until the pipe closes."""
    # Ctrl-C reaches the whole process group; the parent ends this process itself. A crash here is
    # reported by the parent as that file's refusal: no traceback dump on stderr.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.disable()
    limit = _address_space_now() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            read, path = conn.recv()
        except (EOFError, OSError):
            return
        outcome = _parse_one(read, path)
        try:
            conn.send(outcome)
        except MemoryError:
            conn.send(("memory", None))
        except Exception as exc:  # the result itself cannot be pickled: a parser bug, not a file's
            conn.send(("crashed", type(exc).__name__))


class _ParserProcess:
    """One spawned parser process and its pipe; replaced when it times out or dies."""

    def __init__(self, memory_mb: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.memory_mb = memory_mb
        self.conn, child_conn = context.Pipe(duplex=True)
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child_conn, memory_mb), name="zhitong-parser", daemon=True
        )
        self.process.start()
        child_conn.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive() and self.process.pid is not None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(timeout=10)
        self.conn.close()


_lock = threading.Lock()  # one parse at a time per process: the parser process is shared
_current: _ParserProcess | None = None


def _parser(memory_mb: int) -> _ParserProcess:
    global _current
    if _current is None or not _current.alive() or _current.memory_mb != memory_mb:
        if _current is not None:
            _current.kill()
        _current = _ParserProcess(memory_mb)
    return _current


def _discard() -> None:
    global _current
    if _current is not None:
        _current.kill()
        _current = None


atexit.register(_discard)


def parse_isolated(read: Callable[[Path], T], path: Path, limits: ParseLimits) -> T:
    """`read(path)` in the parser process; its result, or IngestError (Chinese) for whatever went wrong.

    `read` must be a module-level function (it is sent to the parser process by name).
    """
    with _lock:
        worker = _parser(limits.memory_mb)
        try:
            worker.conn.send((read, path))
            ready = worker.conn.poll(limits.seconds)
            outcome: tuple[str, Any] | None = worker.conn.recv() if ready else None
        except (EOFError, OSError, BrokenPipeError):
            outcome, ready = None, True  # died without answering (killed by the kernel, a crash in C)
        if outcome is None:
            _discard()
            if not ready:
                log.warning("parsing %s took over %.0f s: stopped", path.name, limits.seconds)
                raise IngestError(
                    f"{path.name}：文件解析超过 {limits.seconds:g} 秒仍未完成（文件过大或结构异常），已拒绝导入"
                )
            log.warning("the parser process died while reading %s", path.name)
            raise IngestError(f"{path.name}：解析文件时解析器异常退出（文件可能损坏或结构异常），已拒绝导入")
    status, value = outcome
    if status == "ok":
        return value  # type: ignore[no-any-return]
    if status == "refused":
        raise IngestError(str(value))
    if status == "memory":
        _discard()  # a process that ran out of memory may be left in a bad state
        raise IngestError(
            f"{path.name}：解析文件需要的内存超过上限 {limits.memory_mb} MB（文件过大或结构异常），已拒绝导入"
        )
    log.warning("parser for %s failed: %s", path.name, value)
    name = str(value).split(":", 1)[0]
    raise IngestError(f"{path.name}：文件无法解析（{name}），请检查文件是否完整")
