"""`zhitong run` answers new questions in a worker process (AnswerCache(process_settings=...)).

The process must give exactly the in-thread answer, re-read the knowledge base after an ingest
(clear() starts a fresh worker), and a dead worker must not lose the question.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.answers import AnswerCache
from tests.e2e.conftest import _isolated_settings


def _same(got: Any, want: Any) -> None:
    assert got.text == want.text
    assert got.route_to_desk == want.route_to_desk
    assert [h.record.id for h in got.hits] == [h.record.id for h in want.hits]


async def test_worker_process_answers_like_the_thread(kb_dir: Path, knowledge: Any) -> None:
    cache = AnswerCache(knowledge, process_settings=_isolated_settings(kb_dir))
    try:
        for question in ("开饭店要办什么证", "市场监督管理局电话是多少", "我的环评拖了三个月没人管"):
            _same(await cache.ask(question), knowledge.ask(question))
        first = cache._procs
        cache.clear()  # what an ingest does: the worker's own index must be rebuilt
        assert cache._procs is not None and cache._procs is not first
        _same(await cache.ask("开饭店要办什么证"), knowledge.ask("开饭店要办什么证"))
    finally:
        cache.close()


def _wait_ready(cache: AnswerCache) -> None:
    assert cache._warmup is not None
    cache._warmup.result(timeout=120)


async def test_threads_answer_while_a_new_worker_loads(kb_dir: Path, knowledge: Any) -> None:
    cache = AnswerCache(knowledge, process_settings=_isolated_settings(kb_dir))
    try:
        await asyncio.to_thread(_wait_ready, cache)
        cache.clear()  # an ingest: the new worker needs seconds to load its knowledge core
        assert not cache._worker_ready()
        _same(await cache.ask("开饭店要办什么证"), knowledge.ask("开饭店要办什么证"))
        assert not cache._worker_ready()  # answered without waiting for it
        await asyncio.to_thread(_wait_ready, cache)
        _same(await cache.ask("个体工商户怎么注册"), knowledge.ask("个体工商户怎么注册"))  # by the worker now
    finally:
        cache.close()


async def test_a_burst_of_new_questions_goes_to_the_worker_in_batches(kb_dir: Path, knowledge: Any) -> None:
    import json

    from tests.conftest import SAMPLE_DIR

    rows = (SAMPLE_DIR / "questions.jsonl").read_text("utf-8").splitlines()
    questions = list(dict.fromkeys(json.loads(r)["q"] for r in rows if r.strip()))[:40]
    cache = AnswerCache(knowledge, process_settings=_isolated_settings(kb_dir))
    try:
        await asyncio.to_thread(_wait_ready, cache)
        answers = await asyncio.gather(*(cache.ask(q) for q in questions))  # 40 owners at once
        for question, got in zip(questions, answers, strict=True):
            _same(got, knowledge.ask(question))
        assert cache.misses == 40
        assert 2 <= cache.batches < 40  # the first alone, the rest together as the worker frees up
    finally:
        cache.close()


async def test_dead_worker_falls_back_to_a_thread(
    kb_dir: Path,
    knowledge: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = AnswerCache(knowledge, process_settings=_isolated_settings(kb_dir))
    try:
        await asyncio.to_thread(_wait_ready, cache)  # the worker is up
        assert cache._procs is not None
        for process in list(cache._procs._processes.values()):  # type: ignore[attr-defined]
            process.kill()
            process.join(10)
        question = "食品经营许可证需要什么材料"
        _same(await cache.ask(question), knowledge.ask(question))
        assert "answer worker process died" in caplog.text
        # … and a new worker serves the next question.
        _same(await cache.ask("个体工商户怎么注册"), knowledge.ask("个体工商户怎么注册"))
    finally:
        cache.close()
