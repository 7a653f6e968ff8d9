"""A full PostgreSQL ("too many clients") or an exhausted pool is waited for, then answered "系统繁忙":
never a raw driver error. Real PostgreSQL on 127.0.0.1, a role whose connection limit is tiny."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from core.config import DatabaseSettings, load_settings
from core.db import init_db, is_database_busy, make_async_engine, make_sync_engine
from tests.auxil.postgres import pg_admin_url, throwaway_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def limited() -> Iterator[tuple[str, str, str]]:
    """(asyncpg URL, psycopg URL) for a role allowed 2 connections, and the admin URL."""
    admin = pg_admin_url()
    assert admin is not None
    role = f"zt_busy_{uuid.uuid4().hex[:8]}"
    with throwaway_database("zt_busy") as url, psycopg.connect(admin, autocommit=True) as conn:
        database = url.rsplit("/", 1)[1]
        conn.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 2')
        conn.execute(f'GRANT ALL ON DATABASE "{database}" TO "{role}"')
        with psycopg.connect(admin.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as db:
            db.execute(f'GRANT ALL ON SCHEMA public TO "{role}"')
        host = admin.split("@", 1)[1].rsplit("/", 1)[0]
        try:
            yield f"postgresql+asyncpg://{role}@{host}/{database}", f"postgresql://{role}@{host}/{database}", admin
        finally:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
            )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def _occupy(psycopg_url: str, n: int) -> list[psycopg.Connection]:
    return [psycopg.connect(psycopg_url) for _ in range(n)]


def test_a_full_server_is_waited_for_until_a_connection_frees(limited: tuple[str, str, str]) -> None:
    url, sync_url, _ = limited
    held = _occupy(sync_url, 2)  # every slot the role has
    threading.Timer(0.6, held[0].close).start()  # one frees up a moment later
    engine = make_async_engine(url, database=DatabaseSettings(connect_attempts=10))

    async def query() -> int:
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT 41 + 1"))).scalar_one()
        await engine.dispose()
        return int(value)

    try:
        assert asyncio.run(query()) == 42
    finally:
        for conn in held:
            conn.close()


def test_a_server_that_stays_full_is_reported_busy_not_raw(limited: tuple[str, str, str]) -> None:
    url, sync_url, _ = limited
    held = _occupy(sync_url, 2)
    try:
        engine = make_sync_engine(url, database=DatabaseSettings(connect_attempts=2))
        with pytest.raises(Exception) as failure, engine.connect():
            pass
        assert is_database_busy(failure.value)
        engine.dispose()
    finally:
        for conn in held:
            conn.close()


def test_an_exhausted_pool_is_reported_busy(limited: tuple[str, str, str]) -> None:
    url, _, _ = limited
    engine = make_sync_engine(url, database=DatabaseSettings(pool_size=1, max_overflow=0, pool_timeout_s=0.2))
    with engine.connect(), pytest.raises(Exception) as failure, engine.connect():
        pass
    assert is_database_busy(failure.value)
    assert not is_database_busy(ValueError("something else"))
    engine.dispose()


def test_the_dashboard_answers_503_in_chinese_when_the_database_is_full(
    limited: tuple[str, str, str], tmp_path: Path
) -> None:
    url, sync_url, admin = limited
    settings = load_settings(
        tmp_path / "absent.toml",
        data_dir=tmp_path / "var",
        database={"url": url, "pool_size": 1, "max_overflow": 0, "connect_attempts": 2},
    )
    engine = make_async_engine(url)
    asyncio.run(init_db(engine))
    asyncio.run(engine.dispose())
    from dashboard.main import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        page = client.get("/login")
        assert page.status_code == 200
        # Someone else takes every connection the role may open; the app's pooled one is cut off.
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                         (url.split("//", 1)[1].split("@", 1)[0],))
        held = _occupy(sync_url, 2)
        try:
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            r = client.post("/login", data={"tg_user_id": "1001", "password": "whatever-1", "csrf_token": token})
            assert r.status_code == 503
            assert "系统繁忙" in r.text and "Error" not in r.text and "too many" not in r.text
            assert r.headers["retry-after"] == "5"
        finally:
            for conn in held:
                conn.close()
        # Free again: the same app answers normally.
        r = client.post("/login", data={"tg_user_id": "1001", "password": "whatever-1", "csrf_token": token})
        assert r.status_code == 401


def test_the_cli_says_busy_in_chinese_and_exits_75(limited: tuple[str, str, str], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    url, sync_url, _ = limited
    engine = make_async_engine(url)
    asyncio.run(init_db(engine))
    asyncio.run(engine.dispose())
    env = dict(os.environ, ZHITONG_CONFIG=str(tmp_path / "absent.toml"), ZHITONG_DATA_DIR=str(tmp_path / "var"),
               ZHITONG_DATABASE_URL=url)
    held = _occupy(sync_url, 2)
    try:
        done = subprocess.run([sys.executable, "-m", "cli", "staff", "list"], env=env, capture_output=True,
                              text=True, timeout=120)
    finally:
        for conn in held:
            conn.close()
    assert done.returncode == 75, done.stderr[-2000:]
    assert "系统繁忙" in done.stderr and "Traceback" not in done.stderr
