"""Conversation state in the relational store, so any webhook worker can take any update of any chat.

python-telegram-bot keeps user_data, chat_data and ConversationHandler states in memory and hands them to a
``BasePersistence``. PicklePersistence wrote them to one file per process, so behind a round-robin proxy a
chat whose next update reached another worker lost its place (an intake started on worker 1 was unknown to
worker 2). Here every value is a row in the shared database — SQLite for the embedded default, PostgreSQL for
the scale-out — written as JSON (what the handlers keep is plain dicts, lists, strings and numbers), and read
back whenever an update of that user or chat is about to be handled:

- user_data and chat_data through PTB's own ``refresh_user_data`` / ``refresh_chat_data`` hooks, which PTB
  calls before every update;
- conversation states through :meth:`SqlPersistence.conversations_of_chat`, which the update processor
  (cli/telegram_app.py) applies under the chat's cross-worker lease, since PTB reads them only at start.

PTB hands over the entries that changed; they are written by ``flush`` in one transaction — right after each
update for webhook workers (with the update's done mark), every few seconds for a single polling bot.
An existing ``conversations.pickle`` from an older version is imported once and renamed.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, String, Text, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

log = logging.getLogger(__name__)


class TgUserData(SQLModel, table=True):
    __tablename__ = "tg_user_data"

    user_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    data: str = Field(sa_type=Text)  # JSON object
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class TgChatData(SQLModel, table=True):
    __tablename__ = "tg_chat_data"

    chat_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    data: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class TgConversation(SQLModel, table=True):
    __tablename__ = "tg_conversation"

    name: str = Field(sa_type=String(64), primary_key=True)
    key: str = Field(sa_type=String(200), primary_key=True)  # JSON list: [chat_id, user_id] for ours
    # The key's first element when it is a chat id (per_chat conversations): what a chat's refresh reads.
    chat_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    state: str = Field(sa_type=Text)  # JSON
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _key_text(key: ConversationKey) -> str:
    return _dumps(list(key))


def _key_from_text(text: str) -> ConversationKey:
    return tuple(json.loads(text))


class SqlPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """user_data, chat_data and conversation states as rows; bot_data and callback_data are not kept
    (nothing of ours lives there: tickets and everything else durable are in the desk's tables)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, legacy_pickle: Path | None = None,
        update_interval: float = 2.0, prepare: Callable[[], Awaitable[None]] | None = None,
        shared: bool = False,
    ) -> None:
        """``prepare`` runs before the first read: PTB loads persistence before the bot's post_init, so the
        schema must be brought up to date here (core.db.init_db).

        ``shared``: other processes change the same chats (webhook workers), so a user's or chat's data is
        read again before each of its updates. Alone (polling), this process's memory is the newest
        state: it is read once per user or chat, and written every ``update_interval`` seconds."""
        super().__init__(
            store_data=PersistenceInput(bot_data=False, chat_data=True, user_data=True, callback_data=False),
            update_interval=update_interval,
        )
        self.sessions = sessions
        self._legacy_pickle = legacy_pickle
        self._imported = False
        self._prepare = prepare
        self.shared = shared
        self._loaded_users: set[int] = set()
        self._loaded_chats: set[int] = set()
        # handed over by PTB, written by flush (None: delete)
        self._users: dict[int, str | None] = {}
        self._chats: dict[int, str | None] = {}
        self._conversations: dict[tuple[str, str], tuple[int | None, str | None]] = {}

    @classmethod
    def for_engine(cls, engine: AsyncEngine, **kwargs: Any) -> SqlPersistence:
        return cls(async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False), **kwargs)

    async def _ready(self) -> None:
        if self._prepare is not None:
            prepare, self._prepare = self._prepare, None
            await prepare()
        await self._import_legacy_pickle()

    # ------------------------------------------------------------------ reading
    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        # Read lazily per user (refresh_user_data): a city's bot has tens of thousands of users.
        await self._ready()
        return {}

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        await self._ready()
        return {}

    async def get_bot_data(self) -> dict[Any, Any]:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        await self._ready()
        async with self.sessions() as session:
            rows = (await session.exec(select(TgConversation).where(TgConversation.name == name))).all()
        return {_key_from_text(r.key): json.loads(r.state) for r in rows}

    async def conversations_of_chat(self, chat_id: int, names: Iterable[str]) -> dict[str, ConversationDict]:
        """Every stored state of ``chat_id`` in the named conversations (missing: the conversation ended)."""
        wanted = list(names)
        found: dict[str, ConversationDict] = {name: {} for name in wanted}
        async with self.sessions() as session:
            rows = (await session.exec(
                select(TgConversation).where(TgConversation.chat_id == chat_id, col(TgConversation.name).in_(wanted))
            )).all()
        for row in rows:
            found[row.name][_key_from_text(row.key)] = json.loads(row.state)
        return found

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        await self._refresh(TgUserData, user_id, user_data, self._loaded_users)

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        await self._refresh(TgChatData, chat_id, chat_data, self._loaded_chats)

    async def _refresh(self, model: type[TgUserData] | type[TgChatData], ident: int, target: dict[Any, Any],
                       loaded: set[int]) -> None:
        """Replace ``target`` by the stored value: every time when shared, once per id when alone."""
        if not self.shared and ident in loaded:
            return
        stored = await self._load(model, ident)
        loaded.add(ident)
        target.clear()
        target.update(stored)

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        return None

    async def _load(self, model: type[TgUserData] | type[TgChatData], ident: int) -> dict[Any, Any]:
        async with self.sessions() as session:
            row: TgUserData | TgChatData | None = await session.get(model, ident)
        if row is None:
            return {}
        value = json.loads(row.data)
        return value if isinstance(value, dict) else {}

    # ------------------------------------------------------------------ writing
    # PTB hands over the changed entries one call each; they are buffered and written by ``flush`` in one
    # transaction, together with what the caller adds (the update's done mark: state and mark commit
    # together, so a replayed update always starts from the state before it).
    #
    # Shared (webhook workers): PTB's own calls are ignored. PTB re-marks a chat for writing after its update
    # is finished — after the lease is given back — and would write this worker's copy over what another
    # worker wrote since. The update processor saves the chat it holds instead (save_chat).
    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        if not self.shared:
            self._users[user_id] = _dumps(data)

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        if not self.shared:
            self._chats[chat_id] = _dumps(data)

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        if not self.shared:
            self._hand_over_conversation(name, key, new_state)

    def _hand_over_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        # None: the conversation ended, and no row means "not in a conversation"
        self._conversations[(name, _key_text(key))] = (
            key[0] if key and isinstance(key[0], int) else None,
            None if new_state is None else _dumps(new_state),
        )

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_user_data(self, user_id: int) -> None:
        self._users[user_id] = None

    async def drop_chat_data(self, chat_id: int) -> None:
        self._chats[chat_id] = None

    async def save_chat(
        self, chat_id: int, user_id: int | None, user_data: dict[Any, Any] | None, chat_data: dict[Any, Any],
        conversations: dict[str, dict[ConversationKey, object]],
        also: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> None:
        """Shared mode, under the chat's lease: write this chat's (and its user's) data and every
        conversation state keyed by this chat — ``conversations`` is what this process holds per
        conversation name; a key of this chat it no longer holds has ended — with ``also``, in one transaction."""
        if user_id is not None and user_data is not None:
            self._users[user_id] = _dumps(user_data)
        self._chats[chat_id] = _dumps(chat_data)
        stored = await self.conversations_of_chat(chat_id, conversations.keys())
        for name, states in conversations.items():
            mine = {k: v for k, v in states.items() if k and k[0] == chat_id}
            for key, state in mine.items():
                if stored[name].get(key) != state:
                    self._hand_over_conversation(name, key, state)
            for key in stored[name].keys() - mine.keys():
                self._hand_over_conversation(name, key, None)
        await self.flush(also=also)

    async def flush(self, also: Callable[[AsyncSession], Awaitable[None]] | None = None) -> None:
        """Write what PTB handed over since the last flush, and run ``also`` in the same transaction."""
        users, self._users = self._users, {}
        chats, self._chats = self._chats, {}
        conversations, self._conversations = self._conversations, {}
        if not (users or chats or conversations or also):
            return
        now = datetime.now(UTC)
        try:
            async with self.sessions() as session, session.begin():
                for user_id, data in users.items():
                    if data is None:
                        await session.exec(delete(TgUserData).where(col(TgUserData.user_id) == user_id))  # type: ignore[call-overload]
                    else:
                        await _upsert(session, TgUserData, {"user_id": user_id, "data": data, "updated_at": now},
                                      ["user_id"])
                for chat_id, data in chats.items():
                    if data is None:
                        await session.exec(delete(TgChatData).where(col(TgChatData.chat_id) == chat_id))  # type: ignore[call-overload]
                    else:
                        await _upsert(session, TgChatData, {"chat_id": chat_id, "data": data, "updated_at": now},
                                      ["chat_id"])
                for (name, key), (key_chat, state) in conversations.items():
                    if state is None:
                        await session.exec(delete(TgConversation).where(  # type: ignore[call-overload]
                            col(TgConversation.name) == name, col(TgConversation.key) == key))
                    else:
                        await _upsert(session, TgConversation, {"name": name, "key": key, "chat_id": key_chat,
                                                                "state": state, "updated_at": now}, ["name", "key"])
                if also is not None:
                    await also(session)
        except BaseException:
            # Not written: keep them for the next flush (newer values handed over meanwhile win).
            self._users = {**users, **self._users}
            self._chats = {**chats, **self._chats}
            self._conversations = {**conversations, **self._conversations}
            raise


    # ------------------------------------------------------------------ the old pickle file
    async def _import_legacy_pickle(self) -> None:
        """Bring an older version's ``conversations.pickle`` into the tables once; the file is then renamed
        ``.imported`` (kept for a person to delete). Rows already in the tables win: they are newer."""
        if self._imported or self._legacy_pickle is None or not self._legacy_pickle.is_file():
            self._imported = True
            return
        self._imported = True
        path = self._legacy_pickle
        try:
            with path.open("rb") as fh:
                data = pickle.load(fh)  # noqa: S301 (our own file, written by PicklePersistence)
        except Exception:
            log.warning("could not read the old conversation file %s; it is left in place", path, exc_info=True)
            return
        imported = 0
        for user_id, value in (data.get("user_data") or {}).items():
            if value and await self._load(TgUserData, user_id) == {}:
                await self._write_imported(self.update_user_data, user_id, value)
                imported += 1
        for chat_id, value in (data.get("chat_data") or {}).items():
            if value and await self._load(TgChatData, chat_id) == {}:
                await self._write_imported(self.update_chat_data, chat_id, value)
                imported += 1
        for name, states in (data.get("conversations") or {}).items():
            stored = await self.get_conversations(name)
            for key, state in states.items():
                if state is not None and tuple(key) not in stored:
                    await self.update_conversation(name, tuple(key), state)
                    imported += 1
        await self.flush()
        path.rename(path.with_name(path.name + ".imported"))
        log.info("imported %d conversation entries from %s", imported, path)

    @staticmethod
    async def _write_imported(write: Any, ident: int, value: dict[Any, Any]) -> None:
        try:
            await write(ident, value)
        except TypeError:  # a value JSON cannot hold (never written by our handlers): skip, say so
            log.warning("skipped an old conversation entry %s that is not plain data", ident)


async def _upsert(session: AsyncSession, model: type[SQLModel], values: dict[str, Any], keys: list[str]) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(model).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={k: getattr(stmt.excluded, k) for k in values if k not in keys})
    await session.exec(stmt)  # type: ignore[call-overload]
