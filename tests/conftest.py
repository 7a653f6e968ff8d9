"""Shared fixtures: isolated settings per test (own data dir, no config.toml from the cwd), and a real
database engine on SQLite and on PostgreSQL for the domain services (desk, push).

PostgreSQL: one throwaway database per test session on 127.0.0.1:5432 (trust auth), dropped at the
end; tables are emptied between tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from core.config import Settings, load_settings
from core.db import init_db, make_async_engine
from tests.auxil.postgres import throwaway_database

REPO_ROOT = Path(__file__).resolve().parent.parent
GUANGDONG_DIR = REPO_ROOT / "data" / "guangdong"  # real directory, MIT (see its LICENSE-source.txt)
SAMPLE_DIR = REPO_ROOT / "data" / "sample"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep developer environment variables and the repo's config.toml out of tests."""
    import os

    for key in list(os.environ):
        if key.startswith("ZHITONG_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ZHITONG_CONFIG", str(tmp_path / "absent-config.toml"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "var")


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
