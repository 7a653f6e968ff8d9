"""End-to-end fixtures: the real Application polling our Bot API server over HTTP on 127.0.0.1.

One knowledge base (the demo city, ingested once per session with the real packaged embedder) is
shared read-only by the tests; each test has its own data dir (SQLite desk, conversation state).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings, load_settings
from tests.auxil.botapi_server import BOT_TOKEN, BotApiServer, FakeUser
from tests.conftest import SAMPLE_DIR

STAFF_GROUP = -1001234567890
ADMIN_ID = 9000
COMMISSIONER_ID = 7001
OUTSIDER_COMMISSIONER_ID = 7002
LEADER_ID = 7100

warnings.filterwarnings("ignore", message=".*per_message.*")


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the demo city ingested (directory + policies)."""
    from ingest.pipeline import ingest_paths

    data_dir = tmp_path_factory.mktemp("kb") / "var"
    settings = _isolated_settings(data_dir)
    report = ingest_paths(settings, [SAMPLE_DIR / "directory", SAMPLE_DIR / "policies"])
    assert not report.failed, report.summary_zh()
    return data_dir


@pytest.fixture(scope="session")
def knowledge(kb_dir: Path) -> Iterator[Any]:
    """One loaded KnowledgeService (real USE embedder, real Chroma) shared by the session."""
    from knowledge.service import KnowledgeService

    settings = _isolated_settings(kb_dir)
    service = KnowledgeService.open(settings)
    service.ask("预热")  # first query pays one-off costs (jieba, numpy kernels)
    yield service
    service.close()


def _isolated_settings(data_dir: Path) -> Settings:
    """Session-scoped settings that ignore the repo's config.toml and ZHITONG_* variables, like the
    function-scoped autouse fixture does, without leaving the environment changed."""
    import os

    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("ZHITONG_")]:
            mp.delenv(key)
        mp.setenv("ZHITONG_CONFIG", str(data_dir.parent / "absent.toml"))
        return load_settings(data_dir=data_dir)


def bot_settings(api: BotApiServer, data_dir: Path, **telegram: Any) -> Settings:
    tg: dict[str, Any] = {
        "token": BOT_TOKEN,
        "base_url": api.base_url,
        "base_file_url": api.base_file_url,
        "staff_group_id": STAFF_GROUP,
        "use_topics": True,
        "admin_ids": [ADMIN_ID],
        "outbox_interval_s": 0.5,
        "flood_messages": 8,
        "flood_window_s": 10,
    }
    tg.update(telegram)
    return load_settings(data_dir=data_dir, telegram=tg)


@dataclass
class RunningBot:
    api: BotApiServer
    settings: Settings
    app: Any

    @property
    def services(self) -> Any:
        from bot.context import SERVICES_KEY

        return self.app.bot_data[SERVICES_KEY]

    def user(self, user_id: int, name: str = "用户") -> FakeUser:
        return FakeUser(self.api, user_id, first_name=name)


@asynccontextmanager
async def run_bot(
    api: BotApiServer, settings: Settings, knowledge: Any | None, clock: Any | None = None,
    *, answer_process: bool = False,
) -> AsyncIterator[RunningBot]:
    """Start the real Application the way run_polling does (initialize, post_init, poll, start).

    ``knowledge=None, answer_process=True`` is the bot as `zhitong run` builds it: its own knowledge
    core and an answer worker process."""
    from cli.telegram_app import build_application

    app = build_application(settings, knowledge=knowledge, clock=clock, answer_process=answer_process)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    await app.start()
    try:
        yield RunningBot(api, settings, app)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


@pytest.fixture
async def api() -> AsyncIterator[BotApiServer]:
    server = BotApiServer()
    await server.start()
    server.supergroup(STAFF_GROUP, is_forum=True)
    yield server
    await server.stop()


@pytest.fixture
async def bot(api: BotApiServer, tmp_path: Path, knowledge: Any) -> AsyncIterator[RunningBot]:
    settings = bot_settings(api, tmp_path / "var")
    async with run_bot(api, settings, knowledge) as running:
        await add_default_staff(running)
        yield running


async def add_default_staff(running: RunningBot) -> None:
    desk = running.services.desk
    await desk.add_staff(COMMISSIONER_ID, "李专员", "commissioner", ["示范市市场监督管理局", "示范市生态环境局"])
    await desk.add_staff(OUTSIDER_COMMISSIONER_ID, "赵专员", "commissioner", ["示范市公安局"])
    await desk.add_staff(LEADER_ID, "王局长", "leader", [])


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
