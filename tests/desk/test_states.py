"""The transition table, and the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.clock import FakeClock, SystemClock, as_utc
from desk.errors import IllegalTransition
from desk.states import TRANSITIONS, TicketState, check_transition


@pytest.mark.parametrize("current", list(TicketState))
def test_only_listed_transitions_pass(current: TicketState) -> None:
    for target in TicketState:
        if target in TRANSITIONS[current]:
            check_transition(current, target)
        else:
            with pytest.raises(IllegalTransition, match=current.label):
                check_transition(current, target)


def test_closed_is_terminal_and_every_state_reaches_closed() -> None:
    assert TRANSITIONS[TicketState.CLOSED] == frozenset()
    for start in TicketState:
        seen, todo = {start}, [start]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert TicketState.CLOSED in seen


def test_clocks() -> None:
    start = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
    clock = FakeClock(start)
    assert clock.advance(hours=2) == start + timedelta(hours=2)
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 10, 1))  # noqa: DTZ001 - naive on purpose
    assert SystemClock().now().tzinfo is not None
    assert as_utc(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)  # noqa: DTZ001
