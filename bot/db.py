"""Engine and session factories. Nothing is created at import time.

The desk and the bot use async sessions; batch jobs (ingest, retrieval index rebuilds) may use the
sync engine from the same URL. Both point at the same database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

_ASYNC_TO_SYNC = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
}


def sync_url(url: str) -> str:
    """The sync-driver twin of an async URL (sqlite+aiosqlite → sqlite, asyncpg → psycopg)."""
    scheme, sep, rest = url.partition("://")
    return _ASYNC_TO_SYNC.get(scheme, scheme) + sep + rest


def async_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    reverse = {v: k for k, v in _ASYNC_TO_SYNC.items()}
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+psycopg"
    return reverse.get(scheme, scheme) + sep + rest


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the bot, the dashboard and the CLI read while one of them writes;
    # busy_timeout makes concurrent writers wait instead of failing at once.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite") and (":memory:" in url or url.rstrip("/").endswith("sqlite:")):
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    if url.startswith("sqlite"):
        return {"connect_args": {"check_same_thread": False}}
    return {"pool_pre_ping": True}


def make_async_engine(url: str, echo: bool = False) -> AsyncEngine:
    url = async_url(url)
    engine = create_async_engine(url, echo=echo, **_engine_kwargs(url))
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_sync_engine(url: str, echo: bool = False) -> Engine:
    url = sync_url(url)
    engine = create_engine(url, echo=echo, **_engine_kwargs(url))
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def import_all_models() -> None:
    """Import every module that declares tables so SQLModel.metadata knows them all."""
    import importlib

    for module in ("bot.models", "knowledge.models", "bot.analytics", "bot.staff_cards", "bot.journal", "bot.dashboard.models"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a package not written yet must not break the others
            if exc.name != module:
                raise


async def init_db(engine: AsyncEngine) -> None:
    """Create missing tables (idempotent)."""
    import_all_models()
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)


def init_db_sync(engine: Engine) -> None:
    import_all_models()
    SQLModel.metadata.create_all(engine)


def sync_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
