"""Desk fixtures: a Desk on a real SQLite file and on a real PostgreSQL database (the `engine` fixture of
tests/conftest.py), with a FakeClock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.clock import FakeClock
from core.config import Settings
from core.db import make_sessionmaker
from desk.service import Desk

SH = ZoneInfo("Asia/Shanghai")


def sh(*args: int) -> datetime:
    """A Beijing-time instant."""
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


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
