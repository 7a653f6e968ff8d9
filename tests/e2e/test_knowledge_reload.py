"""Knowledge-base changes reach a running bot: an ingest made by another process (the dashboard,
`zhitong ingest`, another webhook worker) is noticed through the knowledge generation and reloaded,
answer worker process included; the bot's own upload is reloaded once; a failed reload keeps the old index.

Each test has its own data dir: the session's shared knowledge base is read-only.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from core.config import Settings
from core.db import make_sync_engine, sync_session
from ingest.pipeline import ingest_paths
from knowledge.models import bump_generation
from tests.auxil.botapi_server import BotApiServer
from tests.conftest import SAMPLE_DIR
from tests.e2e.conftest import ADMIN_ID, RunningBot, bot_settings, run_bot

POLICY_NAME = "工业机器人购置补贴办法.md"
POLICY_TEXT = """---
title: 示范市工业机器人购置补贴办法
department: 示范市工业和信息化局
effective: 2025-01-01
---
# 示范市工业机器人购置补贴办法

一、补贴对象
本市制造业企业购置工业机器人用于自身生产线改造的，可以申请工业机器人购置补贴。

二、补贴标准
按工业机器人购置金额的百分之十五给予补贴，单个企业每年最高二百万元。
"""
QUESTION = "购置工业机器人有什么补贴"


def with_reload_check(settings: Settings, seconds: float) -> Settings:
    knowledge = settings.knowledge.model_copy(update={"reload_check_s": seconds})
    return settings.model_copy(update={"knowledge": knowledge})


async def wait_until_reloaded(bot: RunningBot, timeout: float = 120.0) -> None:  # noqa: ASYNC109
    """Until the bot's index is built from the stored generation and no reload is running."""
    knowledge = bot.services.knowledge
    deadline = time.monotonic() + timeout
    while True:
        stored = await asyncio.to_thread(knowledge.stored_generation)
        if knowledge.loaded_generation == stored and not bot.services.ingest.reloading:
            return
        assert time.monotonic() < deadline, f"not reloaded: loaded {knowledge.loaded_generation}, stored {stored}"
        await asyncio.sleep(0.2)


async def test_an_ingest_by_another_process_reaches_the_running_bot(api: BotApiServer, tmp_path: Path) -> None:
    settings = with_reload_check(bot_settings(api, tmp_path / "var"), 0.5)
    report = await asyncio.to_thread(ingest_paths, settings, [
        SAMPLE_DIR / "directory", SAMPLE_DIR / "policies" / "开办餐饮店指南.html",
        SAMPLE_DIR / "policies" / "示范市惠企稳岗十条措施.md"])
    assert not report.failed, report.summary_zh()

    async with run_bot(api, settings, None, answer_process=True) as bot:
        assert bot.app.job_queue.get_jobs_by_name("knowledge-reload")
        owner = bot.user(801, "机器人厂老板")
        owner.send("开饭店要办什么证")
        assert "食品经营许可" in (await owner.expect("来源", timeout=60)).text  # the worker answers
        owner.send(QUESTION)
        before = await owner.expect(timeout=60)
        assert POLICY_NAME not in before.text

        # The dashboard's upload page and `zhitong ingest` call the pipeline in their own process,
        # with their own vector store: nothing here tells the bot.
        policy = tmp_path / "elsewhere" / POLICY_NAME
        policy.parent.mkdir()
        policy.write_text(POLICY_TEXT, encoding="utf-8")
        report = await asyncio.to_thread(ingest_paths, settings, [policy])
        assert report.added == [POLICY_NAME], report.summary_zh()

        await wait_until_reloaded(bot)
        # The same question again: the cached answer is gone and the restarted worker knows the file.
        owner.send(QUESTION)
        after = await owner.expect(POLICY_NAME, timeout=60)
        assert "本市制造业企业购置工业机器人" in after.text  # the new file's fact, quoted


async def test_own_upload_reloads_once_and_a_failed_reload_keeps_the_old_index(
    api: BotApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    # The periodic check is off (0): the test calls it itself, so nothing races with the assertions.
    settings = with_reload_check(bot_settings(api, tmp_path / "var"), 0)
    async with run_bot(api, settings, None) as bot:
        assert not bot.app.job_queue.get_jobs_by_name("knowledge-reload")
        knowledge, ingest = bot.services.knowledge, bot.services.ingest
        admin = bot.user(ADMIN_ID, "管理员")
        admin.send_document(POLICY_NAME, POLICY_TEXT.encode("utf-8"), mime_type="text/markdown")
        report = await admin.expect("入库完成", timeout=60)
        assert POLICY_NAME in report.text
        # The upload's own reload already loaded the new generation: the check finds nothing to do.
        assert knowledge.loaded_generation == await asyncio.to_thread(knowledge.stored_generation)
        assert await ingest.reload_if_changed() is False

        owner = bot.user(802, "机器人厂老板")
        owner.send(QUESTION)
        assert POLICY_NAME in (await owner.expect(POLICY_NAME, timeout=30)).text

        # Another process changes the knowledge base, but the reload fails (the records table is
        # unreadable for a moment): logged, and the previous index keeps answering.
        loaded = knowledge.loaded_generation
        database = settings.data_dir / "zhitong.db"
        # In threads: the bot shares this event loop, and a write transaction of its own (journal,
        # outbox) can only finish while the loop runs; blocking it here would deadlock on the lock.
        await asyncio.to_thread(_rename_table, database, "kb_record", "kb_record_away")
        await asyncio.to_thread(_bump_generation, settings)
        assert await ingest.reload_if_changed() is False
        assert "reloading the knowledge base failed" in caplog.text
        assert knowledge.loaded_generation == loaded
        owner.send("工业机器人补贴标准是多少")  # not cached: answered by the old index
        assert POLICY_NAME in (await owner.expect(POLICY_NAME, timeout=30)).text

        # Readable again: the next check reloads.
        await asyncio.to_thread(_rename_table, database, "kb_record_away", "kb_record")
        assert await ingest.reload_if_changed() is True
        assert knowledge.loaded_generation == await asyncio.to_thread(knowledge.stored_generation) > loaded
        assert await ingest.reload_if_changed() is False


def _rename_table(database: Path, old: str, new: str) -> None:
    connection = sqlite3.connect(database, timeout=60)
    try:
        with connection:
            connection.execute(f"ALTER TABLE {old} RENAME TO {new}")
    finally:
        connection.close()


def _bump_generation(settings: Settings) -> None:
    engine = make_sync_engine(settings.database_url)
    try:
        with sync_session(engine) as session, session.begin():
            bump_generation(session)
    finally:
        engine.dispose()


async def test_an_upload_whose_reload_fails_stays_ingested_and_is_reloaded_later(
    api: BotApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = with_reload_check(bot_settings(api, tmp_path / "var"), 0)
    async with run_bot(api, settings, None) as bot:
        ingest, knowledge = bot.services.ingest, bot.services.knowledge
        rebuild = knowledge.reload

        def fails_once() -> None:  # fault injection: the index rebuild after the ingest fails
            monkeypatch.setattr(knowledge, "reload", rebuild)
            raise RuntimeError("index rebuild failed")

        monkeypatch.setattr(knowledge, "reload", fails_once)
        admin = bot.user(ADMIN_ID, "管理员")
        admin.send_document(POLICY_NAME, POLICY_TEXT.encode("utf-8"), mime_type="text/markdown")
        report = await admin.expect("入库完成", timeout=60)
        assert POLICY_NAME in report.text
        assert "reloading after an ingest failed" in caplog.text
        # The file stays where /reindex looks (it matches the knowledge base): not rolled back.
        assert (ingest.uploads_dir / POLICY_NAME).read_text("utf-8") == POLICY_TEXT
        assert knowledge.loaded_generation < await asyncio.to_thread(knowledge.stored_generation)
        assert await ingest.reload_if_changed() is True  # the check picks up what the failed reload missed
        owner = bot.user(803, "机器人厂老板")
        owner.send(QUESTION)
        assert POLICY_NAME in (await owner.expect(POLICY_NAME, timeout=30)).text
