"""`zhitong run`: the Telegram bot (long polling by default, webhook when configured)."""

from __future__ import annotations

import typer

from cli import settings_from


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("run")
    def run_bot(ctx: typer.Context) -> None:
        """运行 Telegram 机器人（默认长轮询；telegram.mode = "webhook" 时用 webhook）。"""
        settings = settings_from(ctx)
        # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
        from cli.telegram_app import run

        try:
            run(settings)
        except ValueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
