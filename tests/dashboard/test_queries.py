"""The queue's fast working-time span agrees with the desk calendar, across holidays and 调休."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.config import Settings
from dashboard.queries import WorkingSpan, format_working_seconds
from desk.workcalendar import WorkCalendar


def test_span_matches_calendar_across_national_day(settings: Settings) -> None:
    cal = WorkCalendar.from_settings(settings)
    span = WorkingSpan(cal)
    # 2026 National Day holiday and its 调休 working weekend days are inside these ranges.
    start = datetime(2026, 9, 20, 3, 17, tzinfo=UTC)
    for hours in (0, 1, 5, 26, 49, 24 * 7 + 3, 24 * 20 + 11, 24 * 95):
        end = start + timedelta(hours=hours)
        assert span.between(start, end) == cal.working_seconds_between(start, end), hours
    assert span.between(start + timedelta(days=3), start) == 0.0


def test_format_working_seconds() -> None:
    day = 7.5 * 3600
    assert format_working_seconds(day * 2 + 3 * 3600, day) == "2 个工作日 3 小时"
    assert format_working_seconds(2 * 3600 + 15 * 60, day) == "2 小时 15 分"
    assert format_working_seconds(30, day) == "不足 1 分"
