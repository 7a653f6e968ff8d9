"""Flood control: a sliding-window limit per user on messages to the bot."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass
class FloodDecision:
    allowed: bool
    notify: bool  # tell the user once per window, not on every dropped message
    retry_after_s: float


@dataclass
class FloodLimiter:
    """Sliding-window limit per user: at most ``limit`` messages within ``window_s`` seconds."""

    limit: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[int, deque[float]] = field(default_factory=dict)
    _notified_until: dict[int, float] = field(default_factory=dict)

    def check(self, user_id: int) -> FloodDecision:
        now = self.clock()
        stamps = self._seen.setdefault(user_id, deque())
        while stamps and now - stamps[0] >= self.window_s:
            stamps.popleft()
        if len(stamps) < self.limit:
            stamps.append(now)
            return FloodDecision(True, False, 0.0)
        retry = self.window_s - (now - stamps[0])
        notify = self._notified_until.get(user_id, 0.0) <= now
        if notify:
            self._notified_until[user_id] = now + retry
        if len(self._seen) > 10_000:  # forget idle users so memory stays bounded
            self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < self.window_s}
        return FloodDecision(False, notify, max(retry, 0.0))
