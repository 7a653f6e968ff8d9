"""Engine and session factories. Nothing is created at import time.

The desk and the bot use async sessions; batch jobs (ingest, retrieval index rebuilds) may use the
sync engine from the same URL. Both point at the same database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.util import await_only
from sqlmodel import Session, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from core.schema import upgrade

if TYPE_CHECKING:
    from core.config import DatabaseSettings

log = logging.getLogger(__name__)

# SQLSTATEs that mean "the server is full right now", not "something is wrong": too_many_connections,
# cannot_connect_now (starting up or shutting down).
_BUSY_SQLSTATES = {"53300", "57P03"}
_BUSY_WORDS = ("too many clients", "too many connections", "remaining connection slots")

BUSY_MESSAGE = "系统繁忙，请稍后再试。"

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


def is_database_busy(error: BaseException | None) -> bool:
    """The database cannot take this request now (server full, or no pooled connection came free in
    time): the caller answers "系统繁忙" instead of showing a raw error."""
    while error is not None:
        if isinstance(error, sa_exc.TimeoutError):  # QueuePool: no connection came free in time
            return True
        if getattr(error, "sqlstate", None) in _BUSY_SQLSTATES or getattr(error, "pgcode", None) in _BUSY_SQLSTATES:
            return True
        if isinstance(error, sa_exc.DBAPIError | OSError) and any(w in str(error).lower() for w in _BUSY_WORDS):
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def _retry_when_busy(engine: Engine, attempts: int, in_greenlet: bool) -> None:
    """Open connections again, after growing pauses, while the server says it is full.

    Eight processes claiming tickets at once used to get raw "too many clients" errors. The pause is
    asyncio's when the engine is async (this runs inside SQLAlchemy's greenlet, so awaiting is allowed
    and the event loop keeps serving), time.sleep otherwise.
    """

    def pause(seconds: float) -> None:
        log.warning("database full; retrying the connection in %.2f s", seconds)
        if in_greenlet:
            await_only(asyncio.sleep(seconds))
        else:
            time.sleep(seconds)

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(initial=0.1, max=2.0),
            retry=retry_if_exception(is_database_busy),
            sleep=pause,
            reraise=True,
        )
        return retrying(dialect.connect, *cargs, **cparams)


def _engine_kwargs(url: str, database: DatabaseSettings | None) -> dict[str, Any]:
    if url.startswith("sqlite") and (":memory:" in url or url.rstrip("/").endswith("sqlite:")):
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    if url.startswith("sqlite"):
        return {"connect_args": {"check_same_thread": False}}
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if database is not None:
        kwargs.update(
            pool_size=database.pool_size, max_overflow=database.max_overflow, pool_timeout=database.pool_timeout_s
        )
    return kwargs


def make_async_engine(url: str, echo: bool = False, *, database: DatabaseSettings | None = None) -> AsyncEngine:
    """`database`: pool sizes and connect retries from config (defaults: SQLAlchemy's pool, 6 tries)."""
    url = async_url(url)
    engine = create_async_engine(url, echo=echo, **_engine_kwargs(url, database))
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        _retry_when_busy(engine.sync_engine, database.connect_attempts if database else 6, in_greenlet=True)
    return engine


def make_sync_engine(url: str, echo: bool = False, *, database: DatabaseSettings | None = None) -> Engine:
    url = sync_url(url)
    engine = create_engine(url, echo=echo, **_engine_kwargs(url, database))
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        _retry_when_busy(engine, database.connect_attempts if database else 6, in_greenlet=False)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def init_db(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (core.schema; idempotent, refuses an unknown revision)."""
    async with engine.connect() as conn:
        await conn.run_sync(upgrade)


def init_db_sync(engine: Engine) -> None:
    with engine.connect() as conn:
        upgrade(conn)


def sync_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def keep_utc_on_load(*models: type[SQLModel]) -> None:
    """Make the datetimes of these table models UTC-aware whenever a row is loaded or refreshed.

    SQLite hands back naive datetimes; every stored value is UTC, so say so before domain code compares.
    """
    for model in models:
        fields = tuple(
            c.key for c in model.__table__.columns if isinstance(c.type, DateTime)  # type: ignore[attr-defined]
        )

        def aware(target: SQLModel, *_args: object, _fields: tuple[str, ...] = fields) -> None:
            for name in _fields:
                value = target.__dict__.get(name)
                if isinstance(value, datetime) and value.tzinfo is None:
                    target.__dict__[name] = value.replace(tzinfo=UTC)

        event.listen(model, "load", aware)
        event.listen(model, "refresh", aware)
