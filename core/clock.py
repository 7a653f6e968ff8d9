"""Injected time source: domain code never calls datetime.now() itself, so tests can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (naive datetimes are rejected by ensure_utc)."""
        self._now = ensure_utc(when)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by `delta` or by timedelta(**kwargs); returns the new time."""
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


def ensure_utc(when: datetime) -> datetime:
    """Aware UTC datetime; naive values are refused because their zone is ambiguous."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware value")
    return when.astimezone(UTC)


def as_utc(when: datetime | None) -> datetime | None:
    """Normalise a value read from the database (SQLite drops tzinfo; stored values are UTC)."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
