"""The bot's aiohttp Bot API client (bot/telegram_http.py) over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.telegram_http import AiohttpRequest
from tests.auxil.botapi_server import BOT_TOKEN, BotApiServer


@pytest.fixture
async def api() -> AsyncIterator[BotApiServer]:
    async with BotApiServer() as server:
        yield server


def _bot(api: BotApiServer, **request_kwargs: Any) -> Bot:
    return Bot(BOT_TOKEN, base_url=api.base_url, base_file_url=api.base_file_url,
               request=AiohttpRequest(**request_kwargs), get_updates_request=AiohttpRequest())


async def test_form_parameters_and_markup_arrive_intact(api: BotApiServer) -> None:
    async with _bot(api) as bot:
        me = await bot.get_me()
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("有用 👍", callback_data="fb:u:1")]])
        sent = await bot.send_message(4242, "<b>市场监督管理局</b> &amp; 税务局 — 办理时限：5 个工作日",
                                      parse_mode="HTML", reply_markup=markup)
    assert me.username == api.bot_user()["username"]
    event = api.events[-1]
    assert event.method == "sendMessage" and event.chat_id == 4242
    assert event.text == "市场监督管理局 & 税务局 — 办理时限：5 个工作日"  # entities parsed, as Telegram does
    assert event.buttons() == [("有用 👍", "fb:u:1")]
    assert sent.message_id == event.message_id


async def test_upload_and_download_keep_names_and_bytes(api: BotApiServer) -> None:
    content = "第一条 为优化营商环境……\n".encode() * 2000 + bytes(range(256))
    async with _bot(api) as bot:
        message = await bot.send_document(4242, content, filename="营商环境条例.txt", caption="附件")
        assert message.document is not None
        stored_name, stored = api.files[message.document.file_id]
        assert (stored_name, stored) == ("营商环境条例.txt", content)
        assert api.events[-1].method == "sendDocument"
        downloaded = await (await bot.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == content


async def test_api_errors_surface_as_telegram_errors(api: BotApiServer) -> None:
    async with _bot(api) as bot:
        with pytest.raises(BadRequest, match="(?i)invalid file_id"):
            await bot.get_file("no-such-file")


async def test_slow_server_times_out() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    request = AiohttpRequest(read_timeout=0.3)
    try:
        await request.initialize()
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimedOut):
            await request.post(f"http://127.0.0.1:{port}/bot{BOT_TOKEN}/getMe")
        assert asyncio.get_running_loop().time() - started < 3
    finally:
        await request.shutdown()
        await runner.cleanup()


async def test_refused_connection_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest(connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:{port}/bot{BOT_TOKEN}/getMe")
        assert not isinstance(caught.value, TimedOut)
    finally:
        await request.shutdown()


async def test_unusable_before_initialize_and_after_shutdown() -> None:
    request = AiohttpRequest()
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post("http://127.0.0.1:9/getMe")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post("http://127.0.0.1:9/getMe")
