"""Working-day arithmetic on the real Chinese calendar, the overrides file and the 2027 fallback."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from desk.workcalendar import WorkCalendar
from tests.desk.conftest import SH, sh


def test_national_day_2026_and_its_working_saturday() -> None:
    cal = WorkCalendar()
    assert cal.is_workday(date(2026, 9, 30))
    assert not any(cal.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert cal.is_workday(date(2026, 10, 10))  # Saturday, 调休 working day
    assert not cal.is_workday(date(2026, 10, 11))


def test_accept_hours_skip_the_holiday_and_resolve_days_count_the_saturday() -> None:
    cal = WorkCalendar()
    accept = cal.add_working_hours(sh(2026, 9, 30, 16, 0), 4)
    assert accept.astimezone(SH) == sh(2026, 10, 8, 11, 0)  # 2 h on 9-30, 2 h on 10-08
    resolve = cal.add_working_days(accept, 5)
    # 10-08, 10-09, 10-10 (Saturday 调休), 10-12, 10-13 → same clock time on 10-14.
    assert resolve.astimezone(SH) == sh(2026, 10, 14, 11, 0)
    assert cal.working_days_between(accept, resolve) == pytest.approx(5.0)


def test_lunch_break_and_evening_are_not_working_time() -> None:
    cal = WorkCalendar()
    assert cal.add_working_hours(sh(2026, 11, 23, 11, 0), 2).astimezone(SH) == sh(2026, 11, 23, 14, 30)
    assert cal.add_working_hours(sh(2026, 11, 23, 20, 0), 1).astimezone(SH) == sh(2026, 11, 24, 10, 0)
    assert cal.working_seconds_between(sh(2026, 11, 23, 12, 0), sh(2026, 11, 23, 13, 30)) == 0


def test_2027_falls_back_to_monday_friday_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar()
    assert not cal.knows_year(2027)
    with caplog.at_level(logging.WARNING, logger="desk.workcalendar"):
        due = cal.add_working_days(sh(2026, 12, 28, 10, 0), 5)
        cal.add_working_days(sh(2027, 3, 1, 10, 0), 5)
    # 12-29, 12-30, 12-31 then Friday 2027-01-01 counts (nobody told us it is a holiday), then Monday.
    assert due.astimezone(SH) == sh(2027, 1, 4, 10, 0)
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1


def test_overrides_file_wins_and_is_reloaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "holidays.yaml"
    cal = WorkCalendar(overrides_file=path)
    assert cal.is_workday(date(2027, 1, 1))
    path.write_text(
        "# 2027 schedule\nholidays:\n  - 2027-01-01\n  - 2027-02-06..2027-02-12\nworkdays:\n  - 2027-02-14\n  - 2026-10-11\n",
        encoding="utf-8",
    )
    due = cal.add_working_days(sh(2026, 12, 28, 10, 0), 5)
    assert due.astimezone(SH) == sh(2027, 1, 5, 10, 0)  # New Year's Day skipped
    assert not cal.is_workday(date(2027, 2, 8))
    assert cal.is_workday(date(2027, 2, 14))  # a Sunday made a working day
    assert cal.is_workday(date(2026, 10, 11))  # overrides beat chinese-calendar too


def test_broken_overrides_file_is_ignored_not_fatal(tmp_path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "holidays.yaml"
    path.write_text("holidays: [2027-13-45, 'not a date'\n", encoding="utf-8")
    cal = WorkCalendar(overrides_file=path)
    assert cal.is_workday(date(2026, 9, 30))
    path.write_text("holidays:\n  - 'soon'\n  - 2027-01-01\n", encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        assert not WorkCalendar(overrides_file=path).is_workday(date(2027, 1, 1))
    assert "soon" in caplog.text
