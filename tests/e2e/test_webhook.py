"""Webhook mode: the Bot API server POSTs updates to the bot's own web server (secret checked)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from cli.telegram_app import build_application, webhook_params
from tests.auxil.botapi_server import BotApiServer, FakeUser
from tests.e2e.conftest import bot_settings, free_port


async def test_webhook_mode_answers_and_checks_the_secret(api: BotApiServer, tmp_path: Path, knowledge: Any) -> None:
    port = free_port()
    settings = bot_settings(
        api, tmp_path / "var", mode="webhook", webhook_url=f"http://127.0.0.1:{port}/tg-hook",
        webhook_listen="127.0.0.1", webhook_port=port, webhook_secret="s3cret-value",
    )
    params = webhook_params(settings)
    assert params["url_path"] == "tg-hook" and params["secret_token"] == "s3cret-value"
    app = build_application(settings, knowledge=knowledge)
    await app.initialize()
    assert app.post_init is not None and app.updater is not None
    await app.post_init(app)
    await app.updater.start_webhook(**params)
    await app.start()
    try:
        assert api.webhook_url == settings.telegram.webhook_url and api.webhook_secret == "s3cret-value"
        owner = FakeUser(api, 901)
        owner.send("开饭店要办什么证")
        card = await owner.expect("食品经营许可", timeout=15)
        assert card.buttons()
        assert api.get_updates_calls == 0  # nothing polled: the update came by webhook
        # Journaled before the 200 (durable put), under this worker's name, and marked done once handled.
        from sqlmodel import select

        from bot.context import SERVICES_KEY
        from bot.journal import InboundUpdate

        services = app.bot_data[SERVICES_KEY]
        for _ in range(150):  # done marks follow the conversation state, saved every 3 s
            async with services.sessions() as session:
                rows = (await session.exec(select(InboundUpdate))).all()
            if rows and all(r.done_at is not None for r in rows):
                break
            await asyncio.sleep(0.1)
        assert [(r.worker.endswith(f":{port}"), r.done_at is not None) for r in rows] == [(True, True)]
        # A forged update without the secret is refused by the bot's web server.
        async with aiohttp.ClientSession() as session, session.post(
            settings.telegram.webhook_url, json={"update_id": 999, "message": {}}
        ) as response:
            assert response.status == 403
        assert set(api.webhook_statuses) == {200}
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


async def test_token_never_reaches_the_logs(api: BotApiServer, tmp_path: Path, knowledge: Any, caplog: Any) -> None:
    import logging

    from tests.auxil.botapi_server import BOT_TOKEN
    from tests.e2e.conftest import run_bot

    caplog.set_level(logging.DEBUG)
    async with run_bot(api, bot_settings(api, tmp_path / "var"), knowledge) as bot:
        owner = bot.user(902)
        owner.send("开饭店要办什么证")
        await owner.expect("食品经营许可")
    assert caplog.records, "logging was captured"
    assert BOT_TOKEN not in caplog.text and BOT_TOKEN.split(":")[1] not in caplog.text


def test_zhitong_run_without_token_explains(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHITONG_TELEGRAM")}
    env.update({"ZHITONG_DATA_DIR": str(tmp_path / "var"), "ZHITONG_CONFIG": str(tmp_path / "none.toml")})
    done = subprocess.run([sys.executable, "-m", "cli", "run"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "ZHITONG_TELEGRAM_TOKEN" in done.stderr
