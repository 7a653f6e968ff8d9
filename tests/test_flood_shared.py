"""Flood control per user: one process in memory; webhook workers share the counters in Redis."""

from __future__ import annotations

import uuid

import pytest

from bot.flood import FloodLimiter

pytestmark = pytest.mark.asyncio

REDIS_URL = "redis://127.0.0.1:6379/0"
  # runs on CI and the dev machines

async def test_one_process_counts_per_user_and_notifies_once() -> None:
    limiter = FloodLimiter(3, 10)
    decisions = [await limiter.check(1) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False, False]
    assert [d.notify for d in decisions[3:]] == [True, False, False]
    assert 0 < decisions[3].retry_after_s <= 10
    assert (await limiter.check(2)).allowed  # another owner is unaffected


async def test_three_workers_share_one_limit_and_one_notice() -> None:
    prefix = f"zt-test-{uuid.uuid4().hex[:8]}"
    workers = [FloodLimiter(4, 10, redis_url=REDIS_URL, key_prefix=prefix) for _ in range(3)]
    # round-robin: the same owner's messages land on worker 1, 2, 3, 1, …
    decisions = [await workers[i % 3].check(77) for i in range(9)]
    assert sum(d.allowed for d in decisions) == 4, "the limit holds across workers, not 4 per worker"
    assert sum(d.notify for d in decisions) == 1, "the polite note is sent once, not once per worker"
    assert (await workers[2].check(78)).allowed


async def test_an_unreachable_redis_lets_messages_through() -> None:
    limiter = FloodLimiter(1, 10, redis_url="redis://127.0.0.1:1/0")
    assert [(await limiter.check(5)).allowed for _ in range(3)] == [True, True, True]
