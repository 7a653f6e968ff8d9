"""The schema is the migrations': models and migrations agree (SQLite and PostgreSQL), a database made by
create_all before migrations is adopted, and one at an unknown revision is refused with a clear message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from cli import _register_all, app
from cli.db import all_models
from core.db import init_db, make_async_engine, sync_url
from core.schema import SchemaError, current_revision, head_revision, upgrade
from tests.auxil.postgres import throwaway_database


def _differences(url: str) -> list[object]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            upgrade(conn)
            assert current_revision(conn) == head_revision()
            return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), all_models()))
    finally:
        engine.dispose()


def test_models_and_migrations_agree_on_sqlite(tmp_path: Path) -> None:
    assert _differences(f"sqlite:///{tmp_path}/m.db") == []


@pytest.mark.postgres
def test_models_and_migrations_agree_on_postgresql() -> None:
    with throwaway_database("zt_migr") as url:
        assert _differences(url) == []


@pytest.fixture
def old_database(tmp_path: Path) -> Iterator[str]:
    """A database as create_all made it before migrations existed (the schema of revision 0001, which
    recorded that moment, without Alembic's version table), missing a table added late."""
    from alembic import command

    from core.schema import alembic_config

    url = f"sqlite:///{tmp_path}/old.db"
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("DROP TABLE dashboard_signin_guard"))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO staff (tg_user_id, name, role, departments, active, created_at) "
                          "VALUES (42, '老专员', 'commissioner', '[]', 1, '2026-01-01 00:00:00')"))
    engine.dispose()
    yield url


def test_a_database_made_before_migrations_is_adopted_with_its_rows(old_database: str) -> None:
    engine = make_async_engine(old_database.replace("sqlite://", "sqlite+aiosqlite://"))
    asyncio.run(init_db(engine))
    asyncio.run(engine.dispose())
    sync = create_engine(old_database)
    with sync.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert "dashboard_signin_guard" in inspect(conn).get_table_names()  # the missing table was added
        assert conn.execute(text("SELECT name FROM staff WHERE tg_user_id = 42")).scalar_one() == "老专员"
    sync.dispose()


def _future_database(tmp_path: Path) -> str:
    """A database a newer Zhitong wrote: its revision is one this code does not know."""
    url = f"sqlite:///{tmp_path}/new.db"
    engine = create_engine(url)
    with engine.connect() as conn:
        upgrade(conn)
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        conn.commit()
    engine.dispose()
    return url


def test_a_database_at_an_unknown_revision_is_refused(tmp_path: Path) -> None:
    url = _future_database(tmp_path)
    engine = create_engine(url)
    with engine.connect() as conn:
        with pytest.raises(SchemaError, match="9999_from_the_future.*does not know.*数据库结构版本"):
            upgrade(conn)
        assert current_revision(conn) == "9999_from_the_future"  # nothing was changed
    engine.dispose()
    # The CLI says so in one line (no traceback), at start-up of any command and for `db upgrade`.
    _register_all()
    runner = CliRunner()
    data_dir = tmp_path / "var"
    result = runner.invoke(app, ["--data-dir", str(data_dir), "db", "upgrade"],
                           env={"ZHITONG_DATABASE_URL": url, "ZHITONG_CONFIG": str(tmp_path / "none.toml")})
    assert result.exit_code == 1 and "比本程序新" in result.output and "Traceback" not in result.output


def test_db_commands(tmp_path: Path) -> None:
    _register_all()
    runner = CliRunner()
    env = {"ZHITONG_CONFIG": str(tmp_path / "none.toml")}
    args = ["--data-dir", str(tmp_path / "var")]
    first = runner.invoke(app, [*args, "db", "upgrade"], env=env)
    assert first.exit_code == 0 and f"升级到 {head_revision()}" in first.output
    again = runner.invoke(app, [*args, "db", "upgrade"], env=env)
    assert again.exit_code == 0 and "无需升级" in again.output
    current = runner.invoke(app, [*args, "db", "current"], env=env)
    assert f"当前版本：{head_revision()}" in current.output


def test_any_command_refuses_to_start_on_an_unknown_revision(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    url = _future_database(tmp_path)
    env = dict(os.environ, ZHITONG_CONFIG=str(tmp_path / "none.toml"), ZHITONG_DATA_DIR=str(tmp_path / "var"),
               ZHITONG_DATABASE_URL=url)
    done = subprocess.run([sys.executable, "-m", "cli", "staff", "list"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "9999_from_the_future" in done.stderr and "Traceback" not in done.stderr


def test_every_table_of_every_package_is_in_the_migrated_schema() -> None:
    """A table defined anywhere (the outbox claim once lived in bot/services.py, unlisted) is in
    all_models and therefore in the migrations: importing every module adds no table."""
    import importlib
    import pkgutil

    from sqlmodel import SQLModel

    listed = set(all_models().tables)
    for package in ("core", "knowledge", "ingest", "desk", "bot", "handlers", "dashboard", "cli"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    assert set(SQLModel.metadata.tables) == listed


def test_revision_0002_drops_the_old_lockout_columns_and_keeps_the_passwords(tmp_path: Path) -> None:
    from alembic import command

    from core.schema import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path}/step.db")
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0001")  # a database as the first migrated release left it
        conn.commit()
        conn.execute(text("INSERT INTO dashboard_credential (tg_user_id, password_hash, failed_count, generation, "
                          "updated_at) VALUES (1001, '$argon2id$x', 3, 2, '2026-11-01 00:00:00')"))
        conn.commit()
        assert upgrade(conn) == head_revision()
        columns = {c["name"] for c in inspect(conn).get_columns("dashboard_credential")}
        assert "failed_count" not in columns and "locked_until" not in columns
        row = conn.execute(text("SELECT password_hash, generation FROM dashboard_credential")).one()
        assert tuple(row) == ("$argon2id$x", 2)
    engine.dispose()
