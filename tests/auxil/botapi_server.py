"""A small Telegram Bot API server for tests and benchmarks (aiohttp, 127.0.0.1, random port).

The real python-telegram-bot stack talks to it over HTTP exactly as it would to api.telegram.org:
getUpdates with offset and long polling, getMe, sendMessage / editMessageText / editMessageReplyMarkup,
answerCallbackQuery, createForumTopic, sendDocument, copyMessage, getFile plus file download, setMyCommands,
sendChatAction, deleteWebhook / setWebhook. Unknown methods answer ``true`` so a new PTB call never
hangs a test, but they are recorded in :attr:`BotApiServer.unknown_methods` for inspection.

The test side is the "Telegram client": :class:`FakeUser` sends text, commands (with a bot_command
entity, or CommandHandler never fires), documents, stickers, photos and voice, presses inline buttons,
and waits for what the bot sent to its chat (or to a forum topic in a group).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_TOKEN = "123456789:TEST-token-for-local-bot-api"
BOT_ID = 123456789
BOT_USERNAME = "zhitong_test_bot"

# Parameters PTB sends JSON-encoded inside form fields.
_JSON_FIELDS = {"reply_markup", "entities", "reply_parameters", "commands", "scope", "link_preview_options"}


@dataclass
class BotEvent:
    """One thing the bot did in a chat: a sent message, an edit, a document, a topic."""

    seq: int
    method: str
    chat_id: int
    message_id: int
    text: str
    thread_id: int | None
    reply_markup: dict[str, Any] | None
    parse_mode: str | None
    sent_at: float
    document: dict[str, Any] | None = None
    client_keyboard: dict[str, Any] | None = None  # ReplyKeyboardMarkup / ReplyKeyboardRemove sent along

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str
    show_alert: bool


@dataclass
class ForumTopic:
    chat_id: int
    thread_id: int
    name: str


class BotApiServer:
    """In-process Bot API server. ``async with BotApiServer() as api: ...`` or start()/stop()."""

    def __init__(self, *, token: str = BOT_TOKEN, host: str = "127.0.0.1", port: int = 0,
                 first_update_id: int = 1) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.updates: list[dict[str, Any]] = []
        self.events: list[BotEvent] = []
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.topics: list[ForumTopic] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_name, content)
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []
        self.unknown_methods: list[str] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.get_updates_calls = 0
        # Failure injection: the next N sendMessage calls to a chat answer 502 Bad Gateway.
        self.fail_sends: dict[int, int] = {}
        # sendMessage to these chats hangs until the chat is removed, then fails (502) without sending:
        # a bot caught in the middle of handling an update.
        self.hang_sends: set[int] = set()
        # Users who blocked the bot: sendMessage to them answers 403 Forbidden, as Telegram does.
        self.blocked: set[int] = set()
        # Methods this server pretends not to know (answered like any unknown method), lower-case.
        self.disabled_methods: set[str] = set()
        self.failed_sends = 0
        # Webhook mode: after setWebhook, updates are POSTed to the bot instead of queued for getUpdates.
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_statuses: list[int] = []
        # Like Telegram: a delivery that fails (no answer, or not 2xx) is tried again until it succeeds,
        # at most ``webhook_max_connections`` at once (setWebhook's max_connections, default 40).
        self.webhook_retries = 0
        self.webhook_given_up: list[int] = []  # update ids still undelivered after webhook_give_up_s
        self.webhook_give_up_s = 300.0
        self.webhook_max_connections = 40
        self._webhook_slots: asyncio.Semaphore | None = None
        self._webhook_session: Any = None
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self.last_delivered_update_id = 0
        self._update_ids = itertools.count(first_update_id)  # Telegram's ids continue across restarts
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        # Per chat: its events, and an Event set when one arrives (hundreds of waiting users must not all
        # rescan every event on every send: the cluster bench has 500 chats waiting at once).
        self._by_chat: dict[int, list[BotEvent]] = {}
        self._chat_signal: dict[int, asyncio.Event] = {}
        self._new_update: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> BotApiServer:
        self._changed = asyncio.Condition()
        self._new_update = asyncio.Event()
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr,attr-defined]
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for task in list(self._webhook_tasks):
            task.cancel()
        if self._webhook_session is not None:
            await self._webhook_session.close()
            self._webhook_session = None
        if self._new_update is not None:
            self._new_update.set()  # wake long polls so the runner can shut down quickly
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    # ------------------------------------------------------------------ objects
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "政企直通车",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        chat = {"id": user["id"], "type": "private", "first_name": user.get("first_name", "")}
        self.chats[user["id"]] = chat
        return chat

    def supergroup(self, chat_id: int, title: str = "专员工作群", is_forum: bool = True) -> dict[str, Any]:
        chat = {"id": chat_id, "type": "supergroup", "title": title, "is_forum": is_forum}
        self.chats[chat_id] = chat
        return chat

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self.chats:
            return self.chats[chat_id]
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "user"}
        return {"id": chat_id, "type": "supergroup", "title": "group"}

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _record(self, method: str, message: dict[str, Any], parse_mode: str | None) -> BotEvent:
        event = BotEvent(
            seq=next(self._seq),
            method=method,
            chat_id=message["chat"]["id"],
            message_id=message["message_id"],
            text=message.get("text", message.get("caption", "")),
            thread_id=message.get("message_thread_id"),
            reply_markup=message.get("reply_markup"),
            parse_mode=parse_mode,
            sent_at=time.monotonic(),
            document=message.get("document"),
        )
        self.events.append(event)
        self._by_chat.setdefault(event.chat_id, []).append(event)
        signal = self._chat_signal.pop(event.chat_id, None)
        if signal is not None:
            signal.set()
        return event

    # ------------------------------------------------------------------ client side (tests)
    def push_update(self, payload: dict[str, Any]) -> int:
        """Queue an update (``payload`` without update_id) and wake the long poll."""
        update_id = next(self._update_ids)
        if self.webhook_url:
            task = asyncio.get_running_loop().create_task(self._post_webhook({"update_id": update_id, **payload}))
            self._webhook_tasks.add(task)
            task.add_done_callback(self._webhook_tasks.discard)
            return update_id
        self.updates.append({"update_id": update_id, **payload})
        assert self._new_update is not None
        self._new_update.set()
        return update_id

    def user_message(
        self,
        user: dict[str, Any],
        chat: dict[str, Any],
        *,
        text: str | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if reply_to is not None:
            original = self.messages.get((chat["id"], reply_to))
            if original is not None:
                message["reply_to_message"] = original
        if extra:
            message.update(extra)
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def add_file(self, file_name: str, content: bytes) -> dict[str, Any]:
        file_id = f"file-{next(self._file_ids)}"
        self.files[file_id] = (file_name, content)
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(content)}

    async def wait_for(  # noqa: ASYNC109
        self, predicate: Callable[[BotEvent], bool], *, after: int = 0, timeout: float = 10.0,  # noqa: ASYNC109
        chat_id: int | None = None,
    ) -> BotEvent:
        """The first event with seq > ``after`` matching ``predicate``; waits up to ``timeout`` s.
        With ``chat_id``, only that chat's events are looked at (and only its events wake the wait)."""
        assert self._changed is not None
        deadline = time.monotonic() + timeout
        if chat_id is not None:
            while True:
                for event in self._by_chat.get(chat_id, []):
                    if event.seq > after and predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = [(e.chat_id, e.thread_id, e.text[:80]) for e in self._by_chat.get(chat_id, [])
                              if e.seq > after]
                    raise TimeoutError(f"no matching bot event within {timeout}s; after={after}: {recent}")
                signal = self._chat_signal.setdefault(chat_id, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), remaining)
        async with self._changed:
            while True:
                for event in self.events:
                    if event.seq > after and predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = [(e.chat_id, e.thread_id, e.text[:80]) for e in self.events if e.seq > after]
                    raise TimeoutError(f"no matching bot event within {timeout}s; after={after}: {recent}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_callback_answer(self, callback_id: str, timeout: float = 10.0) -> CallbackAnswer:  # noqa: ASYNC109  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        assert self._changed is not None
        async with self._changed:
            while callback_id not in self.callback_answers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"callback {callback_id} was not answered")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
            return self.callback_answers[callback_id]

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0

    # ------------------------------------------------------------------ HTTP side (the bot)
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                body = await request.json()
                params.update(body or {})
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        params[key] = (value.filename, value.file.read())
                    else:
                        params[key] = value
        for key in list(params):
            if key in _JSON_FIELDS and isinstance(params[key], str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        handler = None if method.lower() in self.disabled_methods else getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            self.unknown_methods.append(method)
            return self._ok(True)
        try:
            result = await handler(params)
        except _ApiError as exc:
            return self._error(exc.code, exc.description)
        return self._ok(result)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        path = request.match_info["path"]
        file_id = path.split("/", 1)[-1].split("_", 1)[0]
        if file_id not in self.files:
            return self._error(404, "Not Found")
        return web.Response(body=self.files[file_id][1])

    # Bot API methods -------------------------------------------------------
    async def _m_getme(self, params: dict[str, Any]) -> Any:
        return self.bot_user()

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        self.webhook_url = ""
        return True

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        self.webhook_url = str(params.get("url", ""))
        self.webhook_secret = str(params.get("secret_token", ""))
        self.webhook_max_connections = int(params.get("max_connections") or 40)
        self._webhook_slots = None
        return True

    async def _post_webhook(self, update: dict[str, Any]) -> None:
        import aiohttp

        if self._webhook_session is None:
            self._webhook_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        if self._webhook_slots is None:
            self._webhook_slots = asyncio.Semaphore(self.webhook_max_connections)
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
        deadline = time.monotonic() + self.webhook_give_up_s
        pause = 0.2
        while True:
            status = 0
            try:
                async with self._webhook_slots, self._webhook_session.post(
                    self.webhook_url, json=update, headers=headers
                ) as response:
                    status = response.status
            except (TimeoutError, aiohttp.ClientError):
                status = 0  # no answer: the bot (or the proxy) is down
            self.webhook_statuses.append(status)
            if 200 <= status < 300:
                return
            if time.monotonic() > deadline:
                self.webhook_given_up.append(int(update["update_id"]))
                return
            self.webhook_retries += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        self.commands.append({"commands": params.get("commands"), "scope": params.get("scope")})
        return True

    async def _m_sendchataction(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        self.get_updates_calls += 1
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            # Telegram forgets every update below the offset: it was confirmed by the client.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        assert self._new_update is not None
        if not self.updates and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        batch = [u for u in self.updates if u["update_id"] >= offset][:limit]
        if batch:
            self.last_delivered_update_id = max(self.last_delivered_update_id, batch[-1]["update_id"])
        return batch

    def _outgoing(self, params: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self.bot_user(),
            **extra,
        }
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and reply.get("message_id"):
            original = self.messages.get((chat_id, int(reply["message_id"])))
            if original is not None:
                message["reply_to_message"] = original
        if isinstance(params.get("reply_markup"), dict) and "inline_keyboard" in params["reply_markup"]:
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        chat = int(params["chat_id"])
        if chat in self.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if chat in self.hang_sends:
            while chat in self.hang_sends:  # noqa: ASYNC110 (a test toggles it from outside)
                await asyncio.sleep(0.05)
            raise _ApiError(502, "Bad Gateway")
        if self.fail_sends.get(chat, 0) > 0:
            self.fail_sends[chat] -= 1
            self.failed_sends += 1
            raise _ApiError(502, "Bad Gateway")
        text = str(params.get("text", ""))
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        if params.get("parse_mode") == "HTML":
            _check_html(text)
        chat_id = int(params["chat_id"])
        thread = params.get("message_thread_id")
        if thread and chat_id < 0 and not any(
            t.chat_id == chat_id and t.thread_id == int(thread) for t in self.topics
        ):
            # Topics exist only in forum supergroups, and only once created.
            raise _ApiError(400, "Bad Request: message thread not found")
        message = self._outgoing(params, {"text": _strip_html(text) if params.get("parse_mode") else text})
        event = self._record("sendMessage", message, params.get("parse_mode"))
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" not in markup:
            event.client_keyboard = markup  # a reply keyboard or its removal: the client's state, not the message's
        await self._notify()
        return message

    async def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        text = str(params.get("text", ""))
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        if params.get("parse_mode") == "HTML":
            _check_html(text)
        new_text = _strip_html(text) if params.get("parse_mode") else text
        new_markup = params.get("reply_markup") if isinstance(params.get("reply_markup"), dict) else None
        if new_text == message.get("text") and new_markup == message.get("reply_markup"):
            raise _ApiError(400, "Bad Request: message is not modified")
        message["text"] = new_text
        if new_markup is not None:
            message["reply_markup"] = new_markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        self._record("editMessageText", message, params.get("parse_mode"))
        await self._notify()
        return message

    async def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        self._record("editMessageReplyMarkup", message, None)
        await self._notify()
        return message

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        callback_id = str(params["callback_query_id"])
        self.callback_answers[callback_id] = CallbackAnswer(
            callback_id, str(params.get("text", "")), str(params.get("show_alert", "")).lower() == "true"
        )
        await self._notify()
        return True

    async def _m_createforumtopic(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        chat = self._chat(chat_id)
        if not chat.get("is_forum"):
            raise _ApiError(400, "Bad Request: the chat is not a forum")
        # In Telegram the topic id is the id of its service message.
        thread_id = self._next_message_id(chat_id)
        topic = ForumTopic(chat_id, thread_id, str(params.get("name", "")))
        self.topics.append(topic)
        await self._notify()
        return {"message_thread_id": thread_id, "name": topic.name, "icon_color": 7322096}

    async def _m_senddocument(self, params: dict[str, Any]) -> Any:
        document = params.get("document")
        if isinstance(document, tuple):
            name, content = document
            meta = self.add_file(name or "file", content)
            meta["file_name"] = name
        elif isinstance(document, str) and document in self.files:
            meta = {"file_id": document, "file_unique_id": f"u{document}", "file_name": self.files[document][0]}
        else:
            raise _ApiError(400, "Bad Request: wrong file identifier")
        caption = str(params.get("caption", ""))
        message = self._outgoing(params, {"document": meta, "caption": caption})
        self._record("sendDocument", message, params.get("parse_mode"))
        await self._notify()
        return message

    _MEDIA_FIELDS = ("photo", "document", "video", "voice", "audio", "video_note", "sticker", "animation")

    async def _m_copymessage(self, params: dict[str, Any]) -> Any:
        source = self.messages.get((int(params["from_chat_id"]), int(params["message_id"])))
        if source is None:
            raise _ApiError(400, "Bad Request: message to copy not found")
        media = {k: source[k] for k in self._MEDIA_FIELDS if k in source}
        if not media and "text" not in source:
            raise _ApiError(400, "Bad Request: message can't be copied")
        extra: dict[str, Any] = dict(media) if media else {"text": source["text"]}
        caption = params.get("caption", source.get("caption"))
        if media and caption:
            extra["caption"] = str(caption)
        message = self._outgoing(params, extra)
        self._record("copyMessage", message, params.get("parse_mode"))
        await self._notify()
        return {"message_id": message["message_id"]}

    async def _m_getfile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        name, content = self.files[file_id]
        if len(content) > 20 * 1024 * 1024:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(content),
            "file_path": f"documents/{file_id}_{name}",
        }


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                 "blockquote", "tg-spoiler", "span"}


def _check_html(text: str) -> None:
    """Reject malformed HTML the way Telegram does ("can't parse entities"), tags balanced and known."""
    import re

    stack: list[str] = []
    for match in re.finditer(r"<(/?)([a-zA-Z-]+)[^>]*>", text):
        closing, tag = match.group(1), match.group(2).lower()
        if tag not in _ALLOWED_TAGS:
            raise _ApiError(400, f"Bad Request: can't parse entities: unsupported start tag \"{tag}\"")
        if closing:
            if not stack or stack.pop() != tag:
                raise _ApiError(400, "Bad Request: can't parse entities: unmatched end tag")
        else:
            stack.append(tag)
    if stack:
        raise _ApiError(400, "Bad Request: can't parse entities: unclosed tag")
    stripped = re.sub(r"<[^>]*>", "", text)
    if "<" in stripped or ">" in stripped:
        raise _ApiError(400, "Bad Request: can't parse entities: unescaped < or >")
    for entity in re.findall(r"&[^;\s]*;?", stripped):
        if entity not in ("&lt;", "&gt;", "&amp;", "&quot;") and not re.fullmatch(r"&#\d+;", entity):
            raise _ApiError(400, f"Bad Request: can't parse entities: bad entity {entity}")


def _strip_html(text: str) -> str:
    """What the user sees: tags removed, entities decoded (the server stores plain text)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]*>", "", text))


@dataclass
class FakeUser:
    """A Telegram user typing into a chat (private by default, or a forum topic of a group)."""

    api: BotApiServer
    user_id: int
    first_name: str = "用户"
    username: str | None = None
    cursor: dict[tuple[int, int | None], int] = field(default_factory=dict)

    @property
    def user(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name,
                                "language_code": "zh-hans"}
        if self.username:
            data["username"] = self.username
        return data

    def _chat(self, chat_id: int | None) -> dict[str, Any]:
        if chat_id is None or chat_id == self.user_id:
            return self.api.private_chat(self.user)
        return self.api.chats.get(chat_id) or self.api.supergroup(chat_id)

    def send(
        self, text: str, *, chat_id: int | None = None, thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        """Send text (a command when it starts with /); returns the update id."""
        message = self.api.user_message(self.user, self._chat(chat_id), text=text, thread_id=thread_id,
                                        reply_to=reply_to)
        return self.api.push_update({"message": message})

    def edit(self, message_id: int, text: str, *, chat_id: int | None = None) -> int:
        """Edit one of this user's earlier messages (an ``edited_message`` update); returns the update id."""
        chat = self._chat(chat_id)
        original = self.api.messages[(chat["id"], message_id)]
        edited = {**original, "text": text, "edit_date": int(time.time())}
        self.api.messages[(chat["id"], message_id)] = edited
        return self.api.push_update({"edited_message": edited})

    def share_contact(self, phone: str, first_name: str, last_name: str = "") -> int:
        """Press a request_contact button: the user's own contact card."""
        contact = {"phone_number": phone, "first_name": first_name, "user_id": self.user_id}
        if last_name:
            contact["last_name"] = last_name
        return self.send_extra({"contact": contact})

    def last_message_id(self, chat_id: int | None = None) -> int:
        """The id of the newest message this user sent to ``chat_id`` (default: the private chat)."""
        chat_key = self._chat(chat_id)["id"]
        return max(mid for (cid, mid), m in self.api.messages.items()
                   if cid == chat_key and m.get("from", {}).get("id") == self.user_id)

    def send_extra(self, extra: dict[str, Any], *, chat_id: int | None = None,
                   thread_id: int | None = None) -> int:
        """Send a non-text message (sticker, photo, voice...) given its Bot API fields."""
        message = self.api.user_message(self.user, self._chat(chat_id), thread_id=thread_id, extra=extra)
        return self.api.push_update({"message": message})

    def send_sticker(self, **kw: Any) -> int:
        sticker = {"file_id": "sticker-1", "file_unique_id": "us1", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False, "type": "regular", "emoji": "😀"}
        return self.send_extra({"sticker": sticker}, **kw)

    def send_photo(self, **kw: Any) -> int:
        photo = [{"file_id": "photo-1", "file_unique_id": "up1", "width": 90, "height": 90, "file_size": 1000}]
        return self.send_extra({"photo": photo}, **kw)

    def send_voice(self, **kw: Any) -> int:
        voice = {"file_id": "voice-1", "file_unique_id": "uv1", "duration": 3, "mime_type": "audio/ogg"}
        return self.send_extra({"voice": voice}, **kw)

    def send_document(
        self, file_name: str, content: bytes, *, chat_id: int | None = None, declared_size: int | None = None,
        mime_type: str = "application/octet-stream", caption: str | None = None,
    ) -> int:
        meta = self.api.add_file(file_name, content)
        meta.update({"file_name": file_name, "mime_type": mime_type})
        if declared_size is not None:
            meta["file_size"] = declared_size
        extra: dict[str, Any] = {"document": meta}
        if caption:
            extra["caption"] = caption
        return self.send_extra(extra, chat_id=chat_id)

    def press(self, event: BotEvent, label: str) -> str:
        """Press the inline button whose label contains ``label``; returns the callback query id."""
        for text, data in event.buttons():
            if label in text:
                return self.press_data(event, data)
        raise AssertionError(f"no button {label!r} in {event.buttons()}")

    def press_data(self, event: BotEvent, data: str) -> str:
        """Send a callback query with arbitrary (possibly tampered) data for ``event``'s message."""
        callback_id = f"cb{next(self.api._callback_ids)}"
        message = self.api.messages.get((event.chat_id, event.message_id))
        assert message is not None, "pressed a message the server does not know"
        self.api.push_update({"callback_query": {
            "id": callback_id, "from": self.user, "chat_instance": f"ci{event.chat_id}",
            "message": message, "data": data,
        }})
        return callback_id

    async def expect(
        self,
        contains: str | Callable[[BotEvent], bool] = "",
        *,
        chat_id: int | None = None,
        thread_id: int | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109  # noqa: ASYNC109
        methods: tuple[str, ...] = ("sendMessage", "editMessageText", "sendDocument"),
    ) -> BotEvent:
        """Wait for the next bot event in this chat (or topic) after what this user already saw."""
        chat = self.user_id if chat_id is None else chat_id
        key = (chat, thread_id)
        after = self.cursor.get(key, 0)

        def match(event: BotEvent) -> bool:
            if event.chat_id != chat or event.method not in methods:
                return False
            if thread_id is not None and event.thread_id != thread_id:
                return False
            if callable(contains):
                return contains(event)
            return contains in event.text

        event = await self.api.wait_for(match, after=after, timeout=timeout, chat_id=chat)
        self.cursor[key] = event.seq
        return event

    def skip_all(self, *, chat_id: int | None = None, thread_id: int | None = None) -> None:
        """Mark everything sent so far as seen."""
        chat = self.user_id if chat_id is None else chat_id
        self.cursor[(chat, thread_id)] = self.api.last_seq
