"""What stands in front of the password hash: request rates and a bounded pool of hashing threads.

argon2id is slow on purpose (~50 ms of CPU per check), so a flood of anonymous sign-ins would
otherwise take every core from the signed-in staff (40 threads posting to /login pushed a leader's
queue from 14 ms to 8 s). Two gates run before any hash:

1. `SignInThrottle`: a moving-window rate per client address and one for all addresses together
   (the `limits` library, the one slowapi uses). Over either, `SignInThrottleMiddleware` answers 429
   before the body, the cookie or the CSRF token is even read: a refusal costs microseconds, so a
   flood's refusals do not crowd out the staff's pages either.
2. `HashPool`: checks run on a small dedicated thread pool (not the event loop's default pool, which
   the database and file work share), and at most `max_waiting` checks may queue behind it; the next
   one is refused instead of waiting. CPU spent on sign-ins is therefore bounded whatever arrives.

Counters live in this process (a few dashboard processes each hold their own); the lockout counts
that guard each account live in the database and are shared (see auth.authenticate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from dashboard.fixed_pages import page, send_page

T = TypeVar("T")


class SignInBusy(Exception):
    """Too many sign-in attempts right now (from this address or overall): answer 429."""


class SignInThrottle:
    """Moving-window limits on sign-in attempts, per client address and overall."""

    def __init__(self, per_address: str, overall: str) -> None:
        self._per_address: RateLimitItem = parse(per_address)
        self._overall: RateLimitItem = parse(overall)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def admit(self, address: str) -> None:
        """Count one attempt from `address`; raise SignInBusy when a limit is already used up.

        The address is checked first so that one noisy client spends its own allowance, not the
        overall one everybody shares.
        """
        if not self._limiter.hit(self._per_address, "signin-address", address):
            raise SignInBusy(address)
        if not self._limiter.hit(self._overall, "signin-overall"):
            raise SignInBusy("*")

    def reset(self) -> None:
        self._limiter.storage.reset()


class HashPool:
    """A few threads for password hashing, with a bounded queue in front of them."""

    def __init__(self, workers: int, max_waiting: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._capacity = workers + max_waiting
        self._admitted = 0  # checks running or queued; only touched on the event loop's thread

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` on the pool, or raise SignInBusy if the pool and its queue are full."""
        if self._admitted >= self._capacity:
            raise SignInBusy("hash-pool")
        self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._admitted -= 1

    @property
    def admitted(self) -> int:
        return self._admitted

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


BUSY_MESSAGE = "登录尝试过于频繁，请稍后再试。"
RETRY_AFTER_S = 60
_BUSY_PAGE = page("请稍后再试", "请稍后再试", BUSY_MESSAGE, "/login", "返回登录页")


async def send_busy(send: Send) -> None:
    await send_page(send, 429, _BUSY_PAGE, ((b"retry-after", str(RETRY_AFTER_S).encode()),))


class SignInThrottleMiddleware:
    """Count every sign-in POST against the throttle; answer those over it with a fixed 429 page."""

    def __init__(self, app: ASGIApp, throttle: SignInThrottle, path: str = "/login") -> None:
        self.app, self.throttle, self.path = app, throttle, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            # Behind nginx, uvicorn's proxy_headers has already put the forwarded address here.
            client = scope.get("client")
            try:
                self.throttle.admit(str(client[0]) if client else "unknown")
            except SignInBusy:
                await send_busy(send)
                return
        await self.app(scope, receive, send)
