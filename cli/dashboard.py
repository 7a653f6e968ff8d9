"""`zhitong dashboard` (serve the staff web dashboard) and `zhitong staff passwd` (set a web password)."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from cli import settings_from


def _serve(ctx: typer.Context, host: str | None, port: int | None) -> None:
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    import uvicorn

    from dashboard.main import create_app

    settings = settings_from(ctx)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.dashboard.host,
        port=port or settings.dashboard.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        server_header=False,
    )


async def _set_password(ctx: typer.Context, tg_user_id: int, password: str) -> str:
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from dashboard.auth import set_password
    from desk.service import Desk

    desk = await Desk.open(settings_from(ctx))  # creates missing tables, the dashboard's included
    try:
        staff = await desk.get_staff(tg_user_id)
        if staff is None:
            raise typer.BadParameter(
                f"Telegram 用户 {tg_user_id} 不是在职工作人员：请先用 zhitong staff add 登记。"
            )
        async with desk.sessions() as session, session.begin():
            await set_password(session, tg_user_id=tg_user_id, password=password, now=desk.now())
        return staff.name
    finally:
        await desk.aclose()


def passwd(
    ctx: typer.Context,
    tg_user_id: Annotated[int, typer.Argument(help="工作人员的 Telegram 用户 ID")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="从标准输入读取密码（脚本用）")
    ] = False,
) -> None:
    """设置工作人员登录网页工作台的密码（argon2id 哈希保存；旧的登录会话随即失效）。"""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from dashboard.auth import PasswordRejected, check_password_rules

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("新密码", hide_input=True, confirmation_prompt=True)
    try:
        check_password_rules(password)
        name = asyncio.run(_set_password(ctx, tg_user_id, password))
    except PasswordRejected as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"已为 {name}（{tg_user_id}）设置工作台密码。")


def register(app: typer.Typer) -> None:
    """Add `dashboard`, and `passwd` under the desk's `staff` group (or `staff-passwd` if there is none)."""

    @app.command("dashboard")
    def dashboard(
        ctx: typer.Context,
        host: Annotated[
            str | None, typer.Option("--host", help="监听地址（默认见 config.toml [dashboard]）")
        ] = None,
        port: Annotated[int | None, typer.Option("--port", help="端口")] = None,
    ) -> None:
        """启动工作人员网页工作台（工单队列、督办、月度通报、知识库）。"""
        _serve(ctx, host, port)

    for group in app.registered_groups:
        if group.name == "staff" and group.typer_instance is not None:
            group.typer_instance.command("passwd")(passwd)
            return
    app.command("staff-passwd")(passwd)
