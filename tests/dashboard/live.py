"""Real uvicorn on 127.0.0.1 and real headless Chromium (Debian's package) for the browser tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on a free port; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class LiveBot:
    """The real bot (python-telegram-bot Application) polling a local Bot API server, in its own thread."""

    api: Any  # tests.auxil.botapi_server.BotApiServer
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the bot's loop (e.g. api.wait_for) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


STAFF_GROUP = -1001234567890


@contextmanager
def run_bot(data_dir: Path, clock: Any) -> Iterator[LiveBot]:
    """Start the Bot API server and the bot against the same data dir (database) as the dashboard."""
    from cli.telegram_app import build_application
    from core.config import load_settings
    from tests.auxil.botapi_server import BOT_TOKEN, BotApiServer

    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        api = BotApiServer()
        await api.start()
        api.supergroup(STAFF_GROUP, is_forum=True)
        settings = load_settings(
            data_dir=data_dir,
            telegram={
                "token": BOT_TOKEN,
                "base_url": api.base_url,
                "base_file_url": api.base_file_url,
                "staff_group_id": STAFF_GROUP,
                "outbox_interval_s": 0.3,
            },
        )
        app = build_application(settings, clock=clock)
        stop = asyncio.Event()
        await app.initialize()
        assert app.post_init is not None and app.updater is not None
        await app.post_init(app)
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await app.start()
        holder.update(bot=LiveBot(api, asyncio.get_running_loop()), stop=stop)
        ready.set()
        try:
            await stop.wait()
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            if app.post_shutdown is not None:
                await app.post_shutdown(app)
            await api.stop()

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test below
            holder["error"] = exc
            ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    if not ready.wait(60) or "error" in holder:
        raise RuntimeError(f"bot did not start: {holder.get('error')!r}")
    bot: LiveBot = holder["bot"]
    try:
        yield bot
    finally:
        bot.loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(timeout=30)
