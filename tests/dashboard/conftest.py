"""Dashboard fixtures: a real SQLite file, the real desk, a controllable clock, a signed-in client."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import FakeClock
from core.config import Settings
from core.db import init_db, make_async_engine, make_sessionmaker
from dashboard.auth import set_password
from dashboard.main import create_app
from desk.models import Staff, TicketCreate, TicketPublic
from desk.service import Desk

PASSWORD = "correct-horse-电池"
# Tuesday 2026-11-17 10:00 in Shanghai: a working day, inside working hours.
START = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion on a fresh loop in a worker thread.

    A thread of its own because Playwright's sync API keeps an event loop running in the test's thread.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Db:
    """Synchronous helpers over the async database, for arranging tests outside the app's loop."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        clock: FakeClock,
        settings: Settings,
    ) -> None:
        self.engine, self.sessions, self.clock = engine, sessions, clock
        # A desk of its own over the same database file, to arrange tickets as the bot would.
        self.desk = Desk(sessions, settings, clock)

    def ticket(
        self, title: str = "餐饮许可证迟迟办不下来", department: str = "市场监管局", **kw: Any
    ) -> TicketPublic:
        data = TicketCreate(
            title=title,
            department=department,
            description=kw.pop("description", "材料已交齐，窗口说还要等。"),
            reason=kw.pop("reason", "超时"),
            transcript=kw.pop("transcript", "企业：开饭店要办什么证？\n机器人：食品经营许可证，市场监管局。"),
            requester_tg_id=kw.pop("requester_tg_id", 555),
            requester_name=kw.pop("requester_name", "老王餐馆"),
            **kw,
        )
        return self.run(self.desk.create_ticket(data))

    def run(self, coro: Any) -> Any:
        async def go() -> Any:
            try:
                return await coro
            finally:
                # aiosqlite connections belong to the loop that opened them: close them with it.
                await self.engine.dispose()

        return run_sync(go())

    def add(self, *rows: Any) -> list[Any]:
        async def go() -> list[Any]:
            async with self.sessions() as s, s.begin():
                s.add_all(rows)
                await s.flush()
            return list(rows)

        return self.run(go())

    def staff(
        self,
        tg_user_id: int,
        name: str,
        role: str = "commissioner",
        departments: list[str] | None = None,
        password: str | None = PASSWORD,
    ) -> Staff:
        row = self.add(Staff(tg_user_id=tg_user_id, name=name, role=role, departments=departments or []))[0]
        if password is not None:
            self.set_password(tg_user_id, password)
        return row

    def desk_staff_id(self, tg_user_id: int) -> int:
        staff = self.run(self.desk.get_staff(tg_user_id))
        assert staff is not None
        return int(staff.id)

    def set_password(self, tg_user_id: int, password: str) -> None:
        async def go() -> None:
            async with self.sessions() as s, s.begin():
                await set_password(s, tg_user_id=tg_user_id, password=password, now=self.clock.now())

        self.run(go())

    def get(self, model: Any, key: Any) -> Any:
        async def go() -> Any:
            async with self.sessions() as s:
                return await s.get(model, key)

        return self.run(go())

    def all(self, stmt: Any) -> list[Any]:
        async def go() -> list[Any]:
            async with self.sessions() as s:
                return list((await s.exec(stmt)).all())

        return self.run(go())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def db(settings: Settings, clock: FakeClock) -> Iterator[Db]:
    engine = make_async_engine(settings.database_url)
    run_sync(init_db(engine))
    run_sync(engine.dispose())
    helper = Db(engine, make_sessionmaker(engine), clock, settings)
    yield helper
    run_sync(engine.dispose())


@pytest.fixture
def app_client(settings: Settings, clock: FakeClock, db: Db) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def sign_in(client: TestClient, tg_user_id: int, password: str = PASSWORD) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"tg_user_id": str(tg_user_id), "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
