"""A throwaway PostgreSQL database per test session/module on the machine's server (127.0.0.1:5432).

A missing server is a test failure, locally as in CI: the scale-out path must not go untested silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_HOST = os.environ.get("ZHITONG_TEST_PG_HOST", "127.0.0.1")


def pg_admin_url() -> str | None:
    """A psycopg URL for a reachable server, trying the users the CI machine may have."""
    import psycopg

    for user in ("postgres", "root", os.environ.get("USER", "")):
        if not user:
            continue
        for db in ("test", "postgres"):
            url = f"postgresql://{user}@{PG_HOST}:5432/{db}"
            try:
                with psycopg.connect(url, connect_timeout=3):
                    return url
            except psycopg.OperationalError:
                continue
    return None


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """Create a fresh database, yield its asyncpg URL, drop it afterwards."""
    import psycopg

    admin = pg_admin_url()
    if admin is None:
        # Never a skip: the scale-out path must not go untested silently, here or in CI.
        pytest.fail(f"no PostgreSQL server reachable at {PG_HOST}:5432 (trust auth, users postgres/root); "
                    "start one, or point ZHITONG_TEST_PG_HOST at one")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
