"""Desk fixtures: a Desk on a real SQLite file and on a real PostgreSQL database, with a FakeClock.

PostgreSQL: one throwaway database per test session on 127.0.0.1:5432 (trust auth), dropped at the
end; tables are emptied between tests. Skipped only when no server answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from core.clock import FakeClock
from core.config import Settings
from core.db import init_db, make_async_engine, make_sessionmaker
from desk.service import Desk
from tests.auxil.postgres import throwaway_database

SH = ZoneInfo("Asia/Shanghai")


def sh(*args: int) -> datetime:
    """A Beijing-time instant."""
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """An asyncpg URL to a fresh database for this test session (dropped afterwards)."""
    with throwaway_database("zt_desk") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    eng = make_async_engine(db_url)
    await init_db(eng)
    if eng.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        async with eng.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield eng
    await eng.dispose()


@pytest.fixture
def clock() -> FakeClock:
    # Wednesday 2026-09-30, 16:00 Beijing: the last working afternoon before National Day.
    return FakeClock(sh(2026, 9, 30, 16, 0))


@pytest.fixture
def desk(engine, settings: Settings, clock: FakeClock) -> Desk:  # type: ignore[no-untyped-def]
    return Desk(make_sessionmaker(engine), settings, clock)


COMMISSIONER_A = 1001
COMMISSIONER_B = 1002
COMMISSIONER_OTHER = 1003
LEADER = 2001
ADMIN = 3001
OWNER = 900001
STRANGER = 900002
VALID_CODE = "91110000600037341L"


@pytest.fixture
async def staffed(desk: Desk) -> Desk:
    """Two commissioners for 市场监管局, one for 税务局, a leader and an admin."""
    await desk.add_staff(ADMIN, "管理员", "admin")
    await desk.add_staff(COMMISSIONER_A, "张专员", "commissioner", ["市场监管局"], by_tg_id=ADMIN)
    await desk.add_staff(COMMISSIONER_B, "李专员", "commissioner", ["市场监管局"], by_tg_id=ADMIN)
    await desk.add_staff(COMMISSIONER_OTHER, "王专员", "commissioner", ["税务局"], by_tg_id=ADMIN)
    await desk.add_staff(LEADER, "赵局长", "leader", by_tg_id=ADMIN)
    return desk
