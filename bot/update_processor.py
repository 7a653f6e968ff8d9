"""How updates are scheduled: chats concurrently, each chat's updates one at a time and in order.

Owners ask at the same time (each answer is a thread hop), but one owner's intake steps must not overtake
each other. In one process a lock per active chat is enough (polling: Telegram has one getUpdates consumer).
Webhook workers behind a round-robin proxy share chats, so there the processor also

1. holds the chat's lease in the database (bot/chat_order.py) while it handles the chat's updates;
2. waits (at most GAP_WAIT_S, once per gap) while an update numbered just before its own has not reached any worker
   yet — Telegram posts updates concurrently, so a chat's previous update may still be in flight;
3. handles, first, every earlier update of the chat that is journaled but unfinished (another worker's,
   or one a killed worker left), oldest first, and skips its own if someone else already handled it;
4. reads the chat's conversation states from the database before each update (another worker may have
   moved the intake on) and writes the new state and the update's done mark in one transaction before
   giving the lease back.

So whichever worker handles an update sees exactly the state the previous update of that chat left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.chat_order import ChatLeases
from bot.journal import UpdateJournal, chat_key
from bot.persistence import SqlPersistence

if TYPE_CHECKING:
    from telegram.ext import Application

log = logging.getLogger(__name__)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; one chat's run in order (see the module docstring)."""

    def __init__(self, max_concurrent_updates: int, journal: UpdateJournal | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self._journal = journal
        self._leases: ChatLeases | None = None
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._after_update: Callable[[], Awaitable[None]] | None = None
        self._gap_floor = 0  # update numbers up to this one are not waited for any more

    def share_chats(self, app: Application[Any, Any, Any, Any, Any, Any], leases: ChatLeases, *,
                    after_update: Callable[[], Awaitable[None]] | None = None) -> None:
        """Webhook workers: order chats across processes through the journal and the leases.
        ``after_update`` writes what a handler left buffered in this process (the question log) before
        the chat's next update may run on another worker."""
        self._app = app
        self._leases = leases
        self._after_update = after_update

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await self._finish(update, coroutine)
            return
        async with self._chat_lock(key):
            if self._leases is None:
                await self._finish(update, coroutine)
            else:
                await self._under_lease(key, update, coroutine)

    async def drain_chat(self, key: int) -> None:
        """Handle what is left unfinished of chat ``key`` (a dead worker's updates nobody took since)."""
        async with self._chat_lock(key):
            await self._under_lease(key, None, None)

    async def _finish(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await coroutine
        finally:
            # Handled (an exception was the error handler's to report): not replayed after a restart.
            if self._journal is not None and isinstance(update, Update):
                self._journal.done(update.update_id)

    @contextlib.asynccontextmanager
    async def _chat_lock(self, key: int):  # type: ignore[no-untyped-def]
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _under_lease(self, key: int, update: object | None, coroutine: Awaitable[Any] | None) -> None:
        assert self._leases is not None and self._journal is not None and self._app is not None
        app, journal = self._app, self._journal
        try:
            token = await self._leases.acquire(key)
        except BaseException:
            _close(coroutine)
            raise
        renewer = asyncio.create_task(self._leases.keep_alive(key, token))
        try:
            own_id = update.update_id if isinstance(update, Update) else None
            if own_id is not None:
                await self._wait_for_earlier(own_id)
            for payload in await journal.pending_of_chat(key, before=own_id if own_id is not None else 2**62):
                earlier = Update.de_json(payload, app.bot)
                log.info("chat %s: handling update %s first (left unfinished elsewhere)", key, earlier.update_id)
                await self._handle_shared(key, earlier, app.process_update(earlier))
            if isinstance(update, Update) and coroutine is not None:
                if await journal.is_done(update.update_id):
                    _close(coroutine)  # another worker took it with an earlier update of this chat
                else:
                    await self._handle_shared(key, update, coroutine)
        finally:
            _close(coroutine)
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await self._leases.release(key, token)
            except Exception:  # it runs out by itself after lease_s
                log.warning("could not give back the lease on chat %s", key, exc_info=True)

    async def _wait_for_earlier(self, update_id: int) -> None:
        assert self._journal is not None
        deadline = asyncio.get_running_loop().time() + GAP_WAIT_S
        pause = 0.01
        while await self._journal.missing_before(update_id, GAP_WINDOW, floor=self._gap_floor):
            if asyncio.get_running_loop().time() > deadline:
                # Lost in transit for longer (Telegram gave up, or never sends that number): go on, and do
                # not wait for these numbers again.
                self._gap_floor = max(self._gap_floor, update_id - 1)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def _handle_shared(self, key: int, update: Update, coroutine: Awaitable[Any]) -> None:
        assert self._app is not None and self._journal is not None
        app = self._app
        persistence = app.persistence
        if isinstance(persistence, SqlPersistence):
            await _load_conversations(app, persistence, key)
        await coroutine
        if self._after_update is not None:
            await self._after_update()
        # The state and the done mark in one transaction: a worker killed before it commits leaves the update
        # to be handled again from the state before it (its replies repeat); after it, nothing repeats.
        journal, update_id = self._journal, update.update_id
        if isinstance(persistence, SqlPersistence):
            user = update.effective_user
            conversations: dict[str, Any] = app._conversation_handler_conversations  # noqa: SLF001 (see above)
            await persistence.save_chat(
                key, user.id if user else None, app.user_data[user.id] if user else None, app.chat_data[key],
                {name: dict(states.data) for name, states in conversations.items()},
                also=lambda session: journal.mark_done_in(session, update_id),
            )
        else:
            await app.update_persistence()
            await journal.mark_done_now(update_id)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _close(coroutine: Awaitable[Any] | None) -> None:
    """A coroutine that will not run is closed, so Python does not warn that it was never awaited."""
    close = getattr(coroutine, "close", None)
    if close is not None and getattr(coroutine, "cr_frame", None) is not None:
        close()


async def _load_conversations(app: Application[Any, Any, Any, Any, Any, Any], persistence: SqlPersistence,
                              key: int) -> None:
    """Replace what this process remembers of the chat's conversations by what the database holds.

    PTB reads conversation states from persistence only at start (ConversationHandler has no refresh
    hook), so the processor does it: the states live in the Application's per-conversation tracking
    dicts, set here without marking them changed."""
    conversations: dict[str, Any] = app._conversation_handler_conversations  # noqa: SLF001 (no public hook)
    if not conversations:
        return
    stored = await persistence.conversations_of_chat(key, conversations.keys())
    for name, states in conversations.items():
        for conv_key in [k for k in states.data if k and k[0] == key]:
            if conv_key not in stored[name]:
                states.data.pop(conv_key, None)
        states.update_no_track(stored[name])


STALLED_AFTER = timedelta(seconds=30)
# Telegram keeps at most 40 webhook posts in flight (setWebhook max_connections): an update more than that
# many numbers back has arrived or is being retried. How long to wait for one that has not arrived: longer
# than nginx takes to give a post a stopping worker holds to the next worker (proxy_read_timeout 5 s, up to
# 3 tries: deploy/nginx/zhitong-locations.conf); the fault runs saw 3 s and 10 s not suffice. A number that
# never comes stalls this worker's updates once, this long.
GAP_WINDOW = 40
GAP_WAIT_S = 20.0


async def drain_stalled_chats(processor: PerChatUpdateProcessor, journal: UpdateJournal) -> int:
    """Take over the chats whose updates a dead worker left and that have been quiet since."""
    keys = await journal.stalled_chats(STALLED_AFTER)
    if keys:
        log.warning("taking over %d chat(s) with updates left unfinished by a stopped worker", len(keys))
        await asyncio.gather(*(processor.drain_chat(k) for k in keys))
    return len(keys)
