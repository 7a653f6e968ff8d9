"""The answer worker ends with the bot that started it, even when the bot died before it started."""

from __future__ import annotations

import multiprocessing
import os
import time


def _child(parent_pid: int, ready: str = "") -> None:
    from bot.answers import exit_with_parent

    exit_with_parent(parent_pid, interval_s=0.1)
    if ready:
        open(ready, "w").close()  # noqa: SIM115 - a marker: the watch is running
    time.sleep(30)  # a worker would now load its knowledge core and wait for questions


def test_a_worker_whose_bot_is_already_gone_exits_at_once() -> None:
    ctx = multiprocessing.get_context("spawn")
    # The pid it was told is not its parent: the bot died before the worker ran (it was re-parented).
    orphan = ctx.Process(target=_child, args=(os.getpid() + 1_000_000,))
    orphan.start()
    orphan.join(timeout=20)
    assert not orphan.is_alive() and orphan.exitcode == 0


def test_a_worker_whose_bot_lives_keeps_running(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("spawn")
    ready = tmp_path / "watching"
    worker = ctx.Process(target=_child, args=(os.getpid(), str(ready)))
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        time.sleep(1.0)  # ten watch intervals
        assert worker.is_alive()
    finally:
        worker.terminate()
        worker.join(timeout=10)
