"""`zhitong db upgrade | current`: the schema's Alembic revision, and every table model in one list."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy import Connection, MetaData
from sqlmodel import SQLModel

from cli import settings_from
from core.db import make_sync_engine
from core.schema import SchemaError, current_revision, head_revision, upgrade

db_app = typer.Typer(help="数据库结构（迁移）。", no_args_is_help=True)


def all_models() -> MetaData:
    """SQLModel's metadata with every table of every package registered (for migrations and tests)."""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    import bot.chat_order
    import bot.journal
    import bot.persistence
    import bot.staff_cards
    import dashboard.models
    import desk.analytics
    import desk.models
    import knowledge.models
    import push.models

    del bot, dashboard, desk, knowledge, push  # imported for their table definitions
    return SQLModel.metadata


@contextmanager
def _connection(ctx: typer.Context) -> Iterator[Connection]:
    settings = settings_from(ctx)
    engine = make_sync_engine(settings.database_url, database=settings.database)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """把数据库结构升级到本程序的最新版本（启动时也会自动执行；部署前可先单独运行）。"""
    try:
        with _connection(ctx) as conn:
            before = current_revision(conn)
            head = upgrade(conn)
    except SchemaError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    if before == head:
        typer.echo(f"数据库结构已是最新版本（{head}），无需升级。")
    else:
        typer.echo(f"数据库结构已从 {before or '（空库）'} 升级到 {head}。")


@db_app.command("current")
def current_command(ctx: typer.Context) -> None:
    """显示数据库结构的当前版本和本程序的最新版本。"""
    with _connection(ctx) as conn:
        current = current_revision(conn)
    typer.echo(f"当前版本：{current or '（未初始化）'}；本程序最新版本：{head_revision()}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
