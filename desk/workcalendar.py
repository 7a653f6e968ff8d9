"""The Chinese working-day calendar, in working hours, for desk deadlines.

Which days are working days, in order of precedence:
1. the admin's overrides file (YAML, see README "Desk"): `holidays` and `workdays` lists of dates or
   `YYYY-MM-DD..YYYY-MM-DD` ranges — this is how next year's State Council schedule gets in before
   the library knows it;
2. `chinese-calendar` (holidays and 调休 working weekends, 2004 up to its newest year);
3. for a year neither knows: Monday–Friday, with a warning logged once per year — never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)

# A deadline further away than this many calendar days means the calendar has no working time at all.
_MAX_SCAN_DAYS = 3660


def _parse_hhmm(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


def _expand(items: Iterable[Any], source: str) -> set[date]:
    """Dates from YAML items: date objects, 'YYYY-MM-DD' strings or 'YYYY-MM-DD..YYYY-MM-DD' ranges."""
    days: set[date] = set()
    for item in items or []:
        if isinstance(item, datetime):
            days.add(item.date())
        elif isinstance(item, date):
            days.add(item)
        else:
            text = str(item).strip()
            first, sep, last = text.partition("..")
            try:
                start = date.fromisoformat(first.strip())
                end = date.fromisoformat(last.strip()) if sep else start
            except ValueError:
                log.error("%s: ignoring unreadable date %r (expected YYYY-MM-DD or A..B)", source, text)
                continue
            while start <= end:
                days.add(start)
                start += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Overrides:
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


def load_overrides(path: Path | None) -> Overrides:
    """Read the admin's holidays file; a missing file is empty, a broken one is logged and ignored."""
    if path is None or not path.exists():
        return Overrides()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError("top level must be a mapping with `holidays` / `workdays`")
    except (OSError, ValueError, yaml.YAMLError) as exc:
        log.error("holidays file %s is unreadable, ignoring it: %s", path, exc)
        return Overrides()
    holidays = _expand(data.get("holidays") or [], str(path))
    workdays = _expand(data.get("workdays") or [], str(path))
    return Overrides(frozenset(holidays - workdays), frozenset(workdays))


class WorkCalendar:
    """Working days and working hours in one timezone; all inputs/outputs are aware datetimes."""

    def __init__(
        self,
        timezone: str = "Asia/Shanghai",
        workday_start: str = "09:00",
        workday_end: str = "18:00",
        lunch_start: str | None = "12:00",
        lunch_end: str | None = "13:30",
        overrides_file: Path | None = None,
    ) -> None:
        self.tz = ZoneInfo(timezone)
        start, end = _parse_hhmm(workday_start), _parse_hhmm(workday_end)
        if end <= start:
            raise ValueError("workday_end must be after workday_start")
        if lunch_start and lunch_end and _parse_hhmm(lunch_start) < _parse_hhmm(lunch_end):
            ls, le = _parse_hhmm(lunch_start), _parse_hhmm(lunch_end)
            self.periods: list[tuple[time, time]] = [(start, ls), (le, end)]
        else:
            self.periods = [(start, end)]
        self.day_seconds = sum(
            (datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds() for a, b in self.periods
        )
        self.overrides_file = overrides_file
        self._overrides = Overrides()
        self._overrides_mtime: float | None = None
        self._warned_years: set[int] = set()
        self.reload()

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkCalendar:
        d = settings.desk
        return cls(
            d.timezone,
            d.workday_start,
            d.workday_end,
            d.lunch_start,
            d.lunch_end,
            overrides_file=settings.resolve_in_data_dir(d.holidays_file) if d.holidays_file else None,
        )

    # ------------------------------------------------------------ days
    def reload(self) -> None:
        """Re-read the overrides file if it changed since the last read (cheap: one stat)."""
        path = self.overrides_file
        mtime = path.stat().st_mtime if path is not None and path.exists() else None
        if mtime != self._overrides_mtime:
            self._overrides = load_overrides(path)
            self._overrides_mtime = mtime

    def is_workday(self, day: date) -> bool:
        """Overrides first, then chinese-calendar, then Monday–Friday for years nobody knows."""
        if day in self._overrides.workdays:
            return True
        if day in self._overrides.holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                log.warning(
                    "chinese-calendar has no data for %s: counting Monday–Friday as working days. "
                    "Add the official holiday schedule to the desk holidays file (%s).",
                    day.year,
                    self.overrides_file,
                )
            return day.weekday() < 5

    def knows_year(self, year: int) -> bool:
        """True when chinese-calendar has the official schedule for `year`."""
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
            return True
        except NotImplementedError:
            return False

    # ------------------------------------------------------------ working time
    def _local(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("naive datetime")
        return when.astimezone(self.tz)

    def _day_periods(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_workday(day):
            return []
        return [
            (datetime.combine(day, a, tzinfo=self.tz), datetime.combine(day, b, tzinfo=self.tz)) for a, b in self.periods
        ]

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant when `seconds` of working time have passed after `start` (UTC)."""
        self.reload()
        cursor = self._local(start)
        remaining = max(0.0, float(seconds))
        day = cursor.date()
        for _ in range(_MAX_SCAN_DAYS):
            for begin, end in self._day_periods(day):
                if end <= cursor:
                    continue
                begin = max(begin, cursor)
                available = (end - begin).total_seconds()
                if remaining <= available:
                    return (begin + timedelta(seconds=remaining)).astimezone(UTC)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError("no working time found within ten years: check the holidays file")

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """`start` plus N working hours."""
        return self.add_working_seconds(start, hours * 3600)

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """`start` plus N working days (a working day = one full day of working hours, same clock time)."""
        return self.add_working_seconds(start, days * self.day_seconds)

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end); 0 when end is not after start."""
        self.reload()
        a, b = self._local(start), self._local(end)
        if b <= a:
            return 0.0
        total = 0.0
        day = a.date()
        while day <= b.date():
            for begin, finish in self._day_periods(day):
                lo, hi = max(begin, a), min(finish, b)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def working_days_between(self, start: datetime, end: datetime) -> float:
        """Working time between two instants, in working days."""
        return self.working_seconds_between(start, end) / self.day_seconds
