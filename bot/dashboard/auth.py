"""Passwords (argon2id via argon2-cffi), sign-in with lockout, and the password-setting service.

Hashing is deliberately slow (tens of milliseconds), so every hash or verify runs in a worker thread:
the event loop keeps serving other staff meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock, as_utc
from bot.dashboard.models import StaffCredential

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user id is unknown, so a wrong id costs as long as a wrong password
# (nobody can probe which ids have accounts by timing the answer).
_DUMMY_HASH = _hasher.hash("zhitong-dummy-password")


class PasswordRejected(ValueError):
    """The new password does not meet the rules; the message is Chinese, for the person setting it."""


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordRejected(f"密码至少需要 {MIN_PASSWORD_CHARS} 个字符。")
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordRejected(f"密码不能超过 {MAX_PASSWORD_CHARS} 个字符。")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def set_password(
    session: AsyncSession, *, tg_user_id: int, password: str, now: datetime
) -> StaffCredential:
    """Create or replace a staff member's password; clears any lockout and invalidates old cookies.

    The caller checks that `tg_user_id` is a registered staff member and commits.
    """
    check_password_rules(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    cred = await session.get(StaffCredential, tg_user_id)
    if cred is None:
        cred = StaffCredential(tg_user_id=tg_user_id, password_hash=password_hash, updated_at=now)
    else:
        cred.password_hash = password_hash
        cred.failed_count = 0
        cred.locked_until = None
        cred.generation += 1
        cred.updated_at = now
    session.add(cred)
    return cred


class SignInOutcome(Enum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    generation: int = 0
    locked_until: datetime | None = None
    failures_left: int = 0

    def message_zh(self, now: datetime) -> str:
        if self.outcome is SignInOutcome.LOCKED and self.locked_until is not None:
            minutes = max(1, int((self.locked_until - now).total_seconds() // 60) + 1)
            return f"连续登录失败次数过多，账户已锁定，请约 {minutes} 分钟后再试。"
        if self.outcome is SignInOutcome.BAD_CREDENTIALS:
            return "用户 ID 或密码错误。"
        return ""


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tg_user_id: int | None,
    password: str,
    clock: Clock,
    max_failures: int,
    lockout_minutes: int,
) -> SignInResult:
    """Check a password, counting failures; `max_failures` in a row lock the account for a while.

    Each attempt first *reserves* a try with one conditional UPDATE (count below the limit, not locked)
    and commits it before the slow hash: parallel guesses cannot all pass a check that was read before
    any of them counted (40 at once used to leave the count at 4 and no lock). At most `max_failures`
    passwords are ever verified per lockout window. A locked account refuses even the right password
    until the lock expires, so guessing cannot continue in the background.
    """
    now = clock.now()
    if tg_user_id is None:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        return SignInResult(SignInOutcome.BAD_CREDENTIALS)
    table = StaffCredential
    async with sessions() as session, session.begin():
        cred = await session.get(table, tg_user_id)
        if cred is None:
            reserved = None
        else:
            # An expired lock starts a fresh count.
            await session.exec(
                update(table)  # type: ignore[call-overload]
                .where(col(table.tg_user_id) == tg_user_id, col(table.locked_until).is_not(None),
                       col(table.locked_until) <= now)
                .values(failed_count=0, locked_until=None)
                .execution_options(synchronize_session=False)
            )
            result = await session.exec(
                update(table)  # type: ignore[call-overload]
                .where(col(table.tg_user_id) == tg_user_id, col(table.locked_until).is_(None),
                       col(table.failed_count) < max_failures)
                .values(failed_count=col(table.failed_count) + 1)
                .execution_options(synchronize_session=False)
            )
            reserved = result.rowcount == 1
            password_hash, generation = cred.password_hash, cred.generation
    if cred is None:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        return SignInResult(SignInOutcome.BAD_CREDENTIALS)
    if not reserved:
        return SignInResult(SignInOutcome.LOCKED, locked_until=await _lock(sessions, tg_user_id, now, lockout_minutes))
    ok = await asyncio.to_thread(verify_password, password_hash, password)
    async with sessions() as session, session.begin():
        if ok:
            await session.exec(
                update(table).where(col(table.tg_user_id) == tg_user_id)  # type: ignore[call-overload]
                .values(failed_count=0, locked_until=None)
                .execution_options(synchronize_session=False)
            )
            return SignInResult(SignInOutcome.OK, generation=generation)
        count = (await session.get(table, tg_user_id, populate_existing=True))
        failures = count.failed_count if count is not None else max_failures
    if failures >= max_failures:
        return SignInResult(SignInOutcome.LOCKED, locked_until=await _lock(sessions, tg_user_id, now, lockout_minutes))
    return SignInResult(SignInOutcome.BAD_CREDENTIALS, failures_left=max_failures - failures)


async def _lock(
    sessions: async_sessionmaker[AsyncSession], tg_user_id: int, now: datetime, lockout_minutes: int
) -> datetime | None:
    """Lock an account whose tries are used up (once: concurrent callers share the first lock)."""
    table = StaffCredential
    async with sessions() as session, session.begin():
        await session.exec(
            update(table)  # type: ignore[call-overload]
            .where(col(table.tg_user_id) == tg_user_id, col(table.locked_until).is_(None))
            .values(locked_until=now + timedelta(minutes=lockout_minutes), failed_count=0)
            .execution_options(synchronize_session=False)
        )
        cred = await session.get(table, tg_user_id, populate_existing=True)
        return as_utc(cred.locked_until) if cred is not None else None


async def end_sessions(sessions: async_sessionmaker[AsyncSession], tg_user_id: int) -> None:
    """Sign-out: bump the credential's generation, so every cookie issued before stops working
    (a copied cookie cannot outlive the sign-out)."""
    table = StaffCredential
    async with sessions() as session, session.begin():
        await session.exec(
            update(table).where(col(table.tg_user_id) == tg_user_id)  # type: ignore[call-overload]
            .values(generation=col(table.generation) + 1)
            .execution_options(synchronize_session=False)
        )
