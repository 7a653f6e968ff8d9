"""The inbound update journal (bot/journal.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select
from telegram import Chat, Message, Update, User

from bot.journal import InboundUpdate, JournalQueue, UpdateJournal
from core.db import init_db, make_async_engine, make_sessionmaker
from tests.auxil.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    else:
        with throwaway_database("zt_journal") as url:
            yield url


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[object]:
    engine = make_async_engine(db_url)
    await init_db(engine)
    yield make_sessionmaker(engine)
    await engine.dispose()


# A fixed date: the journal tells a re-delivery (same id, same content) from a new update by content, and
# two builds of one update straddling a second boundary used to differ (the CI flake of the worker test).
SENT_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _update(update_id: int, text: str = "开饭店要办什么证？") -> Update:
    user = User(id=500 + update_id, first_name="老板", is_bot=False)
    message = Message(message_id=update_id, date=SENT_AT, chat=Chat(id=user.id, type="private"),
                      from_user=user, text=text)
    return Update(update_id=update_id, message=message)


async def _rows(sessions: object) -> dict[int, InboundUpdate]:
    async with sessions() as session:  # type: ignore[operator]
        return {r.update_id: r for r in (await session.exec(select(InboundUpdate))).all()}


async def test_arrivals_and_done_marks_reach_the_disk_together(sessions: object) -> None:
    journal = UpdateJournal("polling")
    journal.attach(sessions)  # type: ignore[arg-type]
    for uid in (1, 2, 3):
        assert await journal.received(_update(uid))
    journal.done(1)  # handled before the next getUpdates
    assert await _rows(sessions) == {}  # buffered: nothing written until the flush
    await journal.flush()
    rows = await _rows(sessions)
    assert sorted(rows) == [1, 2, 3]
    assert rows[1].done_at is not None and rows[2].done_at is None and rows[3].done_at is None
    assert '"开饭店要办什么证？"' in rows[2].payload  # the update itself, readable
    journal.done(2)
    await journal.received(_update(4))
    await journal.flush(done_marks=False)  # before a getUpdates: arrivals only, marks wait for the state
    rows = await _rows(sessions)
    assert 4 in rows and rows[2].done_at is None
    await journal.flush()
    assert (await _rows(sessions))[2].done_at is not None


async def test_restart_replays_the_unfinished_once_and_drops_redeliveries(sessions: object) -> None:
    before = UpdateJournal("polling")
    before.attach(sessions)  # type: ignore[arg-type]
    originals = {uid: _update(uid) for uid in (10, 11, 12)}
    for original in originals.values():
        await before.received(original)
    redelivered_10, redelivered_12 = originals[10], originals[12]
    before.done(10)
    await before.flush()  # …then the process dies

    after = UpdateJournal("polling")
    after.attach(sessions)  # type: ignore[arg-type]
    replay = await after.unfinished()
    assert [Update.de_json(p, None).update_id for p in replay] == [11, 12]
    replayed = Update.de_json(replay[0], None).message
    assert replayed is not None and replayed.text == "开饭店要办什么证？"
    # Telegram re-delivers what was fetched but not confirmed: known ones are dropped, new ones kept.
    assert not await after.received(redelivered_10)
    assert not await after.received(redelivered_12)
    assert await after.received(_update(13))
    # Telegram restarts ids after a week of silence: an old id with new content is a new update.
    assert await after.received(_update(10, "个体户怎么注册？"))
    await after.flush()
    row = (await _rows(sessions))[10]
    assert "个体户怎么注册" in row.payload and row.done_at is None and row.replays == 0

    # An update that keeps crashing the bot is replayed MAX_REPLAYS times, then left for a person.
    for _ in range(UpdateJournal.MAX_REPLAYS - 1):
        assert [Update.de_json(p, None).update_id for p in await _fresh(sessions).unfinished()] == [10, 11, 12, 13]
    # 11 and 12 have been handed back twice; 10 (new content) and 13 once.
    assert [Update.de_json(p, None).update_id for p in await _fresh(sessions).unfinished()] == [10, 13]
    rows = await _rows(sessions)
    assert rows[11].replays == UpdateJournal.MAX_REPLAYS and rows[11].done_at is None


def _fresh(sessions: object, worker: str = "polling") -> UpdateJournal:
    journal = UpdateJournal(worker)
    journal.attach(sessions)  # type: ignore[arg-type]
    return journal


async def test_each_webhook_worker_replays_only_its_own(sessions: object) -> None:
    a, b = _fresh(sessions, "host-a:8443"), _fresh(sessions, "host-b:8443")
    await a.received(_update(20))
    await b.received(_update(21))
    await a.flush()
    await b.flush()
    assert [Update.de_json(p, None).update_id for p in await _fresh(sessions, "host-a:8443").unfinished()] == [20]
    # A webhook retry that reached the other worker too: the first row stands, no error.
    await b.received(_update(20))
    await b.flush()
    assert (await _rows(sessions))[20].worker == "host-a:8443"


async def test_durable_queue_writes_before_put_returns(sessions: object) -> None:
    journal = _fresh(sessions, "host-a:8443")
    queue = JournalQueue(journal, durable_put=True)
    await asyncio.gather(*(queue.put(_update(uid)) for uid in (30, 31, 32)))  # concurrent webhook posts
    assert sorted(await _rows(sessions)) == [30, 31, 32]
    assert queue.qsize() == 3
    polling = JournalQueue(_fresh(sessions), durable_put=False)
    await polling.put(_update(33))  # polling: written by the flush before the next getUpdates
    assert 33 not in await _rows(sessions) and polling.qsize() == 1
    await polling.put("not an update")  # PTB lets anything through the queue; only updates are journaled
    assert polling.qsize() == 2


async def test_failed_flush_keeps_everything_for_the_next(sessions: object, tmp_path: Path) -> None:
    journal = UpdateJournal("polling")
    broken = make_sessionmaker(make_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}"))
    journal.attach(broken)
    await journal.received(_update(40))
    journal.done(40)
    with pytest.raises(Exception):  # noqa: B017,PT011 (the driver's own error: the directory does not exist)
        await journal.flush()
    journal.attach(sessions)  # type: ignore[arg-type]
    await journal.flush()
    row = (await _rows(sessions))[40]
    assert row.done_at is not None


async def test_old_done_rows_are_pruned(sessions: object) -> None:
    journal = _fresh(sessions)
    await journal.received(_update(50))
    await journal.received(_update(51))
    journal.done(50)
    await journal.flush()
    async with sessions() as session, session.begin():  # type: ignore[operator]
        long_ago = datetime.now(UTC) - UpdateJournal.KEEP_DONE - timedelta(hours=1)
        await session.exec(update(InboundUpdate).where(col(InboundUpdate.update_id) == 50)  # type: ignore[call-overload]
                           .values(done_at=long_ago))
    pruner = _fresh(sessions)  # a new process prunes on its first flush
    await pruner.received(_update(52))
    await pruner.flush()
    assert sorted(await _rows(sessions)) == [51, 52]  # the old done row went; the unfinished one stays
