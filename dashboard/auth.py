"""Passwords (argon2id via argon2-cffi), sign-in with lockout, and the password-setting service.

Hashing is deliberately slow (tens of milliseconds), so every hash or verify runs in a worker thread
(sign-in checks on the bounded HashPool): the event loop keeps serving other staff meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import Clock, as_utc
from dashboard.models import ALL_ADDRESSES, SignInGuard, StaffCredential
from dashboard.throttle import HashPool

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
        cred.generation += 1
        cred.updated_at = now
    session.add(cred)
    # A new password lifts the account's sign-in locks (those of every address and the ceiling).
    await session.exec(
        delete(SignInGuard).where(col(SignInGuard.tg_user_id) == tg_user_id)  # type: ignore[call-overload]
        .execution_options(synchronize_session=False)
    )
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
            return f"登录失败次数过多，该账户已暂时锁定，请约 {minutes} 分钟后再试。"
        if self.outcome is SignInOutcome.BAD_CREDENTIALS:
            return "用户 ID 或密码错误。"
        return ""


@dataclass(frozen=True)
class LockoutPolicy:
    """`max_failures` wrong passwords from one address lock the account for that address;
    `ceiling` wrong passwords from all addresses together lock it for everyone. Both for `minutes`,
    and failures older than `minutes` are forgotten."""

    max_failures: int
    ceiling: int
    minutes: int


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tg_user_id: int | None,
    address: str,
    password: str,
    clock: Clock,
    policy: LockoutPolicy,
    hashes: HashPool,
) -> SignInResult:
    """Check a password, counting failures per (account, client address) under a ceiling per account.

    Five anonymous wrong passwords used to lock an account for everybody; now they lock it only for
    the address they came from, and only many addresses together (the ceiling) lock it for all.

    Each attempt first *reserves* a try with conditional UPDATEs (count below the limit, not locked)
    and commits them before the slow hash: parallel guesses cannot all pass a check that was read
    before any of them counted. At most `max_failures` passwords per address (and `ceiling` per
    account) are ever verified per window; a locked pair refuses even the right password.

    Every refusal costs one argon2 verification, the same as a wrong password: an unknown id, a
    locked account and a wrong password cannot be told apart by timing (a locked account used to
    answer in 4 ms and an unknown id in 150 ms). Raises SignInBusy when the hash pool is full.
    """
    now = clock.now()
    if tg_user_id is None:
        await hashes.run(verify_password, _DUMMY_HASH, password)
        return SignInResult(SignInOutcome.BAD_CREDENTIALS)
    address = address[:64] or "unknown"
    pair = (tg_user_id, address)
    overall = (tg_user_id, ALL_ADDRESSES)
    async with sessions() as session:
        await _forget_idle(session, now, policy)
        await _ensure_rows(session, [pair, overall])
        reserved = await _reserve(session, pair, policy.max_failures, now) and await _reserve(
            session, overall, policy.ceiling, now
        )
        cred = await session.get(StaffCredential, tg_user_id)
        password_hash = cred.password_hash if cred is not None else _DUMMY_HASH
        generation = cred.generation if cred is not None else 0
        if reserved:
            await session.commit()
        else:
            await session.rollback()  # neither count moves: the try was not made
    if not reserved:
        await hashes.run(verify_password, _DUMMY_HASH, password)
        return SignInResult(SignInOutcome.LOCKED, locked_until=await _lock(sessions, pair, overall, now, policy))
    ok = await hashes.run(verify_password, password_hash, password) and cred is not None
    if ok:
        async with sessions() as session, session.begin():
            await session.exec(_reset(pair))
        return SignInResult(SignInOutcome.OK, generation=generation)
    async with sessions() as session:
        mine = await session.get(SignInGuard, pair)
        everyone = await session.get(SignInGuard, overall)
        left = min(
            policy.max_failures - (mine.failed_count if mine else policy.max_failures),
            policy.ceiling - (everyone.failed_count if everyone else policy.ceiling),
        )
    if left <= 0:
        return SignInResult(SignInOutcome.LOCKED, locked_until=await _lock(sessions, pair, overall, now, policy))
    return SignInResult(SignInOutcome.BAD_CREDENTIALS, failures_left=left)


def _key(row: tuple[int, str]) -> Any:
    table = SignInGuard
    return (col(table.tg_user_id) == row[0]) & (col(table.address) == row[1])


def _reset(row: tuple[int, str]) -> Any:
    return (
        update(SignInGuard)
        .where(_key(row))
        .values(failed_count=0, first_failure_at=None, locked_until=None)
        .execution_options(synchronize_session=False)
    )


async def _forget_idle(session: AsyncSession, now: datetime, policy: LockoutPolicy) -> None:
    """Delete rows whose lock has run out and whose failures are older than the window.

    Deleting is the same as resetting (a missing row is a clean slate), and keeps the table as small as
    the recent failures: ids nobody has (which also get rows) do not pile up.
    """
    table = SignInGuard
    window_start = now - timedelta(minutes=policy.minutes)
    await session.exec(
        delete(table)  # type: ignore[call-overload]
        .where(
            or_(col(table.locked_until).is_(None), col(table.locked_until) <= now),
            or_(col(table.first_failure_at).is_(None), col(table.first_failure_at) <= window_start),
        )
        .execution_options(synchronize_session=False)
    )


async def _ensure_rows(session: AsyncSession, rows: list[tuple[int, str]]) -> None:
    """Insert the guard rows that do not exist yet (concurrent sign-ins may race to create them)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    values = [{"tg_user_id": uid, "address": addr, "failed_count": 0} for uid, addr in rows]
    await session.exec(insert(SignInGuard).values(values).on_conflict_do_nothing())  # type: ignore[call-overload]


async def _reserve(session: AsyncSession, row: tuple[int, str], limit: int, now: datetime) -> bool:
    """Count one try on `row` if it is unlocked and below `limit` (one conditional UPDATE)."""
    table = SignInGuard
    result = await session.exec(
        update(table)  # type: ignore[call-overload]
        .where(_key(row), col(table.locked_until).is_(None), col(table.failed_count) < limit)
        .values(
            failed_count=col(table.failed_count) + 1,
            first_failure_at=func.coalesce(col(table.first_failure_at), now),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


async def _lock(
    sessions: async_sessionmaker[AsyncSession],
    pair: tuple[int, str],
    overall: tuple[int, str],
    now: datetime,
    policy: LockoutPolicy,
) -> datetime | None:
    """Lock whichever of the two rows has used up its tries (once: concurrent callers share the first
    lock) and say until when the account stays closed to this address."""
    table = SignInGuard
    until = now + timedelta(minutes=policy.minutes)
    async with sessions() as session, session.begin():
        for row, limit in ((pair, policy.max_failures), (overall, policy.ceiling)):
            await session.exec(
                update(table)  # type: ignore[call-overload]
                .where(_key(row), col(table.locked_until).is_(None), col(table.failed_count) >= limit)
                .values(locked_until=until, failed_count=0, first_failure_at=None)
                .execution_options(synchronize_session=False)
            )
        locks = [
            as_utc(guard.locked_until)
            for row in (pair, overall)
            if (guard := await session.get(table, row, populate_existing=True)) is not None
            and guard.locked_until is not None
        ]
    return max((lock for lock in locks if lock is not None), default=None)


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
