"""Conversation state in the database and the per-chat leases webhook workers share (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col
from telegram import Chat, Message, Update, User

from bot.chat_order import ChatLease, ChatLeases
from bot.journal import UpdateJournal
from bot.persistence import SqlPersistence
from core.db import make_sessionmaker

pytestmark = pytest.mark.asyncio


async def test_user_chat_and_conversation_state_survive_a_new_process(engine) -> None:  # type: ignore[no-untyped-def]
    first = SqlPersistence(make_sessionmaker(engine))
    await first.update_user_data(42, {"intake": {"matter": "开饭店", "started": 1.5}, "history": [{"q": "问"}]})
    await first.update_chat_data(-100, {"pending": {"7:3": {"action": "need", "ticket_id": 9}}})
    await first.update_conversation("intake", (42, 42), 2)
    await first.update_conversation("register", (43, 43), 1)
    second_view: dict[object, object] = {}
    await SqlPersistence(make_sessionmaker(engine), shared=True).refresh_user_data(42, second_view)
    assert second_view == {}, "handed over, not yet written: flush writes"
    await first.flush()

    second = SqlPersistence(make_sessionmaker(engine), shared=True)  # another worker
    data: dict[object, object] = {"stale": True}
    await second.refresh_user_data(42, data)
    assert data == {"intake": {"matter": "开饭店", "started": 1.5}, "history": [{"q": "问"}]}
    chat: dict[object, object] = {}
    await second.refresh_chat_data(-100, chat)
    assert chat == {"pending": {"7:3": {"action": "need", "ticket_id": 9}}}
    assert await second.get_conversations("intake") == {(42, 42): 2}
    assert await second.conversations_of_chat(42, ["intake", "register"]) == {"intake": {(42, 42): 2}, "register": {}}

    await first.update_conversation("intake", (42, 42), None)  # the intake ended
    await first.flush()
    assert await second.conversations_of_chat(42, ["intake"]) == {"intake": {}}
    await first.drop_user_data(42)
    await first.flush()
    await second.refresh_user_data(42, data)
    assert data == {}


async def test_a_shared_worker_reads_again_a_single_one_trusts_its_memory(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = make_sessionmaker(engine)
    writer = SqlPersistence(sessions)
    shared, alone = SqlPersistence(sessions, shared=True), SqlPersistence(sessions, shared=False)
    await writer.update_user_data(5, {"step": 1})
    await writer.flush()
    shared_view: dict[object, object] = {}
    alone_view: dict[object, object] = {}
    await shared.refresh_user_data(5, shared_view)
    await alone.refresh_user_data(5, alone_view)
    assert shared_view == alone_view == {"step": 1}

    await writer.update_user_data(5, {"step": 2})  # another worker moved the chat on
    await writer.flush()
    alone_view["unsaved"] = True  # this process's own newer change, written at the next interval
    await shared.refresh_user_data(5, shared_view)
    await alone.refresh_user_data(5, alone_view)
    assert shared_view == {"step": 2}
    assert alone_view == {"step": 1, "unsaved": True}


async def test_an_old_pickle_file_is_imported_once_and_renamed(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old = tmp_path / "conversations.pickle"
    old.write_bytes(pickle.dumps({
        "user_data": {7: {"reg": {"name": "示范餐饮有限公司"}}, 8: {}},
        "chat_data": {7: {"x": 1}},
        "conversations": {"register": {(7, 7): 1, (9, 9): None}},
        "bot_data": {}, "callback_data": None,
    }))
    sessions = make_sessionmaker(engine)
    newer = SqlPersistence(sessions)
    await newer.update_user_data(7, {"reg": {"name": "已经更新"}})  # newer: kept
    await newer.flush()
    persistence = SqlPersistence(sessions, legacy_pickle=old)
    assert await persistence.get_user_data() == {}
    assert not old.exists() and old.with_name("conversations.pickle.imported").is_file()
    assert await persistence.get_conversations("register") == {(7, 7): 1}
    chat: dict[object, object] = {}
    await persistence.refresh_chat_data(7, chat)
    assert chat == {"x": 1}
    user: dict[object, object] = {}
    await persistence.refresh_user_data(7, user)
    assert user == {"reg": {"name": "已经更新"}}
    # a second start finds nothing to import
    again = SqlPersistence(sessions, legacy_pickle=old)
    assert await again.get_conversations("register") == {(7, 7): 1}


async def test_a_broken_pickle_file_is_left_alone_and_the_bot_starts(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old = tmp_path / "conversations.pickle"
    old.write_bytes(b"not a pickle")
    persistence = SqlPersistence(make_sessionmaker(engine), legacy_pickle=old)
    assert await persistence.get_conversations("intake") == {}
    assert old.read_bytes() == b"not a pickle"


async def test_only_one_worker_holds_a_chat_and_the_next_takes_it_when_released(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = make_sessionmaker(engine)
    one, two = ChatLeases(sessions, "w1:8443"), ChatLeases(sessions, "w2:8443")
    token = await one.acquire(1001)
    waiting = asyncio.create_task(two.acquire(1001))
    other_chat = await two.acquire(1002)  # different chats stay concurrent
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert await one.renew(1001, token)
    await one.release(1001, token)
    second = await asyncio.wait_for(waiting, 5)
    assert not await one.renew(1001, token)  # the old holder's token no longer counts
    await two.release(1001, second)
    await two.release(1002, other_chat)


async def test_a_dead_workers_lease_runs_out_or_is_freed_when_it_restarts(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = make_sessionmaker(engine)
    dead, alive = ChatLeases(sessions, "w1:8443", lease_s=60), ChatLeases(sessions, "w2:8443")
    await dead.acquire(1)
    await dead.acquire(2)
    async with sessions() as s, s.begin():  # chat 1's lease ran out
        await s.exec(update(ChatLease).where(col(ChatLease.chat_key) == 1)  # type: ignore[call-overload]
                     .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    await asyncio.wait_for(alive.acquire(1), 5)
    assert await ChatLeases(sessions, "w1:8443").release_all_of_worker() == 1  # restarted: chat 2 freed
    await asyncio.wait_for(alive.acquire(2), 5)


def _update(update_id: int, chat_id: int, text: str) -> Update:
    user = User(chat_id, "企业", False)
    message = Message(update_id, datetime.now(UTC), Chat(chat_id, "private"), from_user=user, text=text)
    return Update(update_id, message=message)


async def test_the_journal_hands_a_chat_its_unfinished_updates_in_order(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = make_sessionmaker(engine)
    journals = [UpdateJournal("w1:8443"), UpdateJournal("w2:8443")]
    for journal in journals:
        journal.attach(sessions)
    # chat 7's updates 10 and 12 reached worker 1, 11 worker 2; chat 8's update 13 worker 2
    for journal, (uid, chat) in [(journals[0], (10, 7)), (journals[1], (11, 7)), (journals[0], (12, 7)),
                                 (journals[1], (13, 8))]:
        assert await journal.received(_update(uid, chat, f"第{uid}条"))
        await journal.flush(done_marks=False)
    pending = await journals[1].pending_of_chat(7, before=12)
    assert [p["update_id"] for p in pending] == [10, 11]
    assert [p["message"]["text"] for p in pending] == ["第10条", "第11条"]
    await journals[1].mark_done_now(10)
    assert await journals[0].is_done(10) and not await journals[0].is_done(12)
    assert [p["update_id"] for p in await journals[1].pending_of_chat(7, before=99)] == [11, 12]
    assert await journals[0].stalled_chats(timedelta(0)) != []
    assert set(await journals[0].stalled_chats(timedelta(0))) == {7, 8}
    assert await journals[0].stalled_chats(timedelta(hours=1)) == []
    # an update that keeps killing whoever takes it is left after MAX_TAKES takes
    for _ in range(UpdateJournal.MAX_TAKES):
        await journals[0].pending_of_chat(8, before=99)
    assert await journals[0].pending_of_chat(8, before=99) == []


async def test_a_notification_another_worker_already_sent_is_not_claimed_again(engine) -> None:  # type: ignore[no-untyped-def]
    """Worker 1 read the row as pending; worker 2 claimed, sent and released it meanwhile."""
    from bot.outbox_claims import OutboxClaims
    from desk.models import Notification
    from desk.states import Audience

    sessions = make_sessionmaker(engine)
    async with sessions() as s, s.begin():
        row = Notification(audience=Audience.ENTERPRISE, recipient_tg_id=5, kind="created")
        s.add(row)
    assert row.id is not None
    one, two = OutboxClaims(sessions, "w1"), OutboxClaims(sessions, "w2")
    assert await two.claim(row.id)
    assert not await one.claim(row.id)  # held
    async with sessions() as s, s.begin():
        sent = await s.get(Notification, row.id)
        assert sent is not None
        sent.sent_at = datetime.now(UTC)
    await two.release(row.id)
    assert not await one.claim(row.id), "sent already: claiming it again would send it twice"


async def test_a_gap_in_update_numbers_is_an_update_still_on_its_way(engine) -> None:  # type: ignore[no-untyped-def]
    journal = UpdateJournal("w1:8443")
    journal.attach(make_sessionmaker(engine))
    assert await journal.missing_before(100, 40) == 0  # nothing journaled yet: nothing to wait for
    for uid in (100, 101, 103, 105):
        assert await journal.received(_update(uid, 7, "问"))
    await journal.flush(done_marks=False)
    assert await journal.missing_before(101, 40) == 0  # 100 is the first this bot ever got
    assert await journal.missing_before(105, 40) == 2  # 102 and 104 are still being posted
    assert await journal.missing_before(105, 1) == 1  # only 104 within a window of one
    assert await journal.missing_before(105, 40, floor=103) == 1  # 102 was given up on: only 104 counts
    assert await journal.received(_update(104, 8, "问"))
    assert await journal.received(_update(102, 9, "问"))
    await journal.flush(done_marks=False)
    assert await journal.missing_before(105, 40) == 0


async def test_the_state_and_the_done_mark_commit_together_or_not_at_all(engine) -> None:  # type: ignore[no-untyped-def]
    """A worker killed (here: failing) before the commit leaves neither: the update is handled again from
    the state before it. A flush that fails keeps what it had for the next one."""
    sessions = make_sessionmaker(engine)
    journal = UpdateJournal("w1:8443")
    journal.attach(sessions)
    assert await journal.received(_update(500, 42, "详细经过"))
    await journal.flush(done_marks=False)
    persistence = SqlPersistence(sessions, shared=True)
    state = {"intake": {(42, 42): 13}}

    async def mark_then_fail(session) -> None:  # type: ignore[no-untyped-def]
        await journal.mark_done_in(session, 500)
        raise RuntimeError("killed before the commit")

    with pytest.raises(RuntimeError):
        await persistence.save_chat(42, 42, {}, {}, state, also=mark_then_fail)
    assert not await journal.is_done(500)
    assert await persistence.conversations_of_chat(42, ["intake"]) == {"intake": {}}

    await persistence.save_chat(42, 42, {}, {}, state, also=lambda session: journal.mark_done_in(session, 500))
    assert await journal.is_done(500)
    assert await persistence.conversations_of_chat(42, ["intake"]) == {"intake": {(42, 42): 13}}


async def test_a_shared_worker_saves_only_the_chat_it_holds(engine) -> None:  # type: ignore[no-untyped-def]
    """PTB re-marks a chat for writing after its update, when another worker may already have moved it on:
    in shared mode PTB's own writes are ignored and the processor saves the chat it holds."""
    sessions = make_sessionmaker(engine)
    worker1, worker2 = SqlPersistence(sessions, shared=True), SqlPersistence(sessions, shared=True)
    await worker1.save_chat(42, 42, {"intake": {"reason": "超时"}}, {}, {"intake": {(42, 42): 12, (43, 43): 11}})
    # worker 2 moves chat 42 on (the intake ended); worker 1's late, stale write is dropped
    await worker2.save_chat(42, 42, {"last": 1}, {}, {"intake": {(43, 43): 11}})
    await worker1.update_user_data(42, {"intake": {"reason": "超时"}})
    await worker1.update_conversation("intake", (42, 42), 12)
    await worker1.flush()
    view: dict[object, object] = {}
    await worker1.refresh_user_data(42, view)
    assert view == {"last": 1}
    assert await worker1.conversations_of_chat(42, ["intake"]) == {"intake": {}}
    assert await worker1.get_conversations("intake") == {}, "chat 43's state is not chat 42's to write"
