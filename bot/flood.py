"""Flood control: a moving-window limit per user on messages to the bot, shared by every webhook worker.

Counted with the ``limits`` library (the dashboard's sign-in throttle uses it too). One bot keeps the
counters in memory; several webhook workers behind a round-robin proxy keep them in Redis (``redis.url``),
or a user flooding three workers would get three times the limit. The counters are the whole state, so a
worker that restarts forgets nothing the others still count.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)


@dataclass
class FloodDecision:
    allowed: bool
    notify: bool  # tell the user once per window, not on every dropped message
    retry_after_s: float


class FloodLimiter:
    """At most ``limit`` messages per user within ``window_s`` seconds (whole seconds, rounded up)."""

    def __init__(self, limit: int, window_s: float, *, redis_url: str = "", key_prefix: str = "zhitong") -> None:
        window = max(1, math.ceil(window_s))
        self._messages = RateLimitItemPerSecond(limit, window)
        self._notice = RateLimitItemPerSecond(1, window)  # the polite note: once per window, across workers
        self.storage: Storage = (
            RedisStorage(_async_uri(redis_url), implementation="redispy", key_prefix=key_prefix)
            if redis_url else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(self.storage)

    async def check(self, user_id: int) -> FloodDecision:
        key = str(user_id)
        try:
            if await self._limiter.hit(self._messages, "flood", key):
                return FloodDecision(True, False, 0.0)
            stats = await self._limiter.get_window_stats(self._messages, "flood", key)
            notify = await self._limiter.hit(self._notice, "flood-notice", key)
        except Exception:
            # Redis unreachable: an owner's question matters more than the flood gate.
            log.warning("flood counters unavailable; message let through", exc_info=True)
            return FloodDecision(True, False, 0.0)
        return FloodDecision(False, notify, max(stats.reset_time - time.time(), 0.0))


def _async_uri(url: str) -> str:
    """limits names its asyncio storages async+redis://…; the config takes Redis's own URL."""
    return url if url.startswith("async+") else f"async+{url}"
