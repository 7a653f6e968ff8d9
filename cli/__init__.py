"""`zhitong` command line. Each command group lives in its own module and registers itself here.

Commands import the domain they run inside their body: every module is loaded to build `--help`, and
the domain packages (SQLModel, the knowledge core, the dashboard, Telegram) together take seconds to
import, while `zhitong --help` or `zhitong db current` should answer in about one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from core.config import Settings, load_settings

app = typer.Typer(
    name="zhitong",
    help="政企直通车 Zhitong — 找谁办、怎么办；办不成事反映窗口。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="ZHITONG_DATA_DIR", help="数据目录（默认 ./var）"),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", envvar="ZHITONG_CONFIG", help="配置文件（默认 ./config.toml）")
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="日志级别 DEBUG/INFO/WARNING")] = None,
) -> None:
    ctx.obj = {"data_dir": data_dir, "config": config, "log_level": log_level}


def settings_from(ctx: typer.Context) -> Settings:
    """Settings for this invocation (root options win over env and config.toml)."""
    root = ctx.find_root()
    cached = root.meta.get("zhitong_settings")
    if isinstance(cached, Settings):
        return cached
    obj = root.obj or {}
    settings = load_settings(obj.get("config"), data_dir=obj.get("data_dir"), log_level=obj.get("log_level"))
    configure_logging(settings.log_level)
    root.meta["zhitong_settings"] = settings
    return settings


# Libraries whose INFO lines drown ours (apscheduler logs every "Running job", once per job per tick).
THIRD_PARTY_LOGGERS = ("apscheduler", "chromadb", "jieba", "urllib3", "bm25s", "asyncio", "uvicorn.access",
                       "telegram.ext", "multipart", "matplotlib", "sentence_transformers")


def configure_logging(level: str) -> None:
    """Our loggers at `level`; third-party ones at WARNING unless DEBUG was asked for."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    third_party = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(third_party)
    # httpx logs request URLs at INFO, and Bot API URLs contain the bot token: never below WARNING.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _register_all() -> None:
    # The command modules import this package (settings_from, app): registered after it is complete.
    from cli import dashboard, db, desk, ingest, kb, push, run

    for module in (ingest, kb, desk, push, run, dashboard, db):
        module.register(app)


def main() -> None:
    _register_all()
    try:
        app()
    except Exception as exc:
        # Imported here: core.db pulls in SQLAlchemy and Alembic, which `zhitong --help` and most
        # commands' argument errors never need.
        from core.db import BUSY_MESSAGE, is_database_busy
        from core.schema import SchemaError

        if isinstance(exc, SchemaError):
            typer.echo(str(exc), err=True)
            raise SystemExit(1) from None
        if not is_database_busy(exc):
            raise
        typer.echo(f"{BUSY_MESSAGE}（数据库连接已满）未做任何更改。", err=True)
        raise SystemExit(75) from None  # EX_TEMPFAIL: try again later
