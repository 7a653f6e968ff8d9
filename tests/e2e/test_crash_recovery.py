"""A bot killed in the middle of handling updates loses none of them (bot/journal.py).

`zhitong run` runs in its own process against the local Bot API server; its replies hang (the server
holds sendMessage) so the owners' questions are mid-handling when the process is SIGKILLed — after it
already confirmed them to "Telegram" with its next getUpdates. The restarted bot answers every one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.auxil.botapi_server import BOT_TOKEN, BotApiServer, FakeUser
from tests.conftest import REPO_ROOT

QUESTION = "开饭店要办什么证？"


async def _start_bot(api: BotApiServer, data_dir: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHITONG_")}
    env.update({
        "ZHITONG_DATA_DIR": str(data_dir), "ZHITONG_CONFIG": str(data_dir / "absent.toml"),
        "ZHITONG_LOG_LEVEL": "WARNING", "ZHITONG_TELEGRAM_TOKEN": BOT_TOKEN,
        "ZHITONG_TELEGRAM_BASE_URL": api.base_url, "ZHITONG_TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "ZHITONG_TELEGRAM_FLOOD_MESSAGES": "1000",
    })
    calls = api.get_updates_calls
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli", "run", env=env, cwd=str(REPO_ROOT))
    deadline = time.monotonic() + 120
    while api.get_updates_calls == calls:  # noqa: ASYNC110 (another process: poll for its effect)
        assert proc.returncode is None, "the bot exited during start-up"
        assert time.monotonic() < deadline, "the bot did not start polling"
        await asyncio.sleep(0.1)
    return proc


def _children(pid: int) -> set[int]:
    """Live child processes of ``pid`` (Linux /proc)."""
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.add(int(stat.parent.name))
    return kids


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":  # a zombie has exited; whoever adopted it reaps it
            alive.add(pid)
    return alive


def _journal(data_dir: Path) -> list[tuple[Any, ...]]:
    engine = create_engine(f"sqlite:///{data_dir / 'zhitong.db'}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT update_id, done_at, replays FROM inbound_update")))
    finally:
        engine.dispose()


async def test_updates_confirmed_before_a_crash_are_answered_after_restart(api: BotApiServer, kb_dir: Path,
                                                                            tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    shutil.copytree(kb_dir, data_dir)  # the demo city's knowledge, and a desk of its own
    proc = await _start_bot(api, data_dir)
    try:
        owners = [FakeUser(api, 30_000 + i) for i in range(6)]
        api.hang_sends.update(o.user_id for o in owners)
        update_ids = {owner.send(QUESTION) for owner in owners}
        # Wait until the bot has confirmed them (Telegram forgets an update below the next offset).
        deadline = time.monotonic() + 30
        while any(u["update_id"] in update_ids for u in api.updates):  # noqa: ASYNC110
            assert time.monotonic() < deadline, "the bot never confirmed the updates"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # they are being handled: the answers hang in sendMessage
        helpers = _children(proc.pid)  # the answer worker process (and multiprocessing's tracker)
        assert helpers
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        deadline = time.monotonic() + 15
        while _alive(helpers):  # noqa: ASYNC110 (other processes)
            assert time.monotonic() < deadline, f"orphaned helper processes: {_alive(helpers)}"
            await asyncio.sleep(0.2)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    api.hang_sends.clear()  # the hung sends fail (502) into a dead connection: nothing was sent
    assert not [e for e in api.events if e.chat_id in {o.user_id for o in owners}]
    assert {row[0] for row in _journal(data_dir) if row[1] is None} == update_ids  # on disk, not handled

    proc = await _start_bot(api, data_dir)
    try:
        for owner in owners:
            answer = await owner.expect("食品经营许可", timeout=60)
            assert answer.chat_id == owner.user_id
        # Replayed once, answered once; Telegram's own re-delivery (none here: they were confirmed) and
        # the replay cannot both reach the handlers.
        await asyncio.sleep(0.5)
        for owner in owners:
            assert len([e for e in api.events if e.chat_id == owner.user_id]) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)
    rows = {row[0]: row for row in _journal(data_dir)}
    assert all(rows[uid][1] is not None and rows[uid][2] == 1 for uid in update_ids)  # done, replayed once
