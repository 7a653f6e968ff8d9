"""A ticket carries the turns that led to it: the question it came from and the related ones just before."""

from __future__ import annotations

from desk.transcript import transcript_text, turns_for_ticket


def _turn(i: int, question: str, department: str, minute: int) -> dict[str, str]:
    return {"id": str(i), "q": question, "a": f"答复{i}", "department": department,
            "at": f"2026-11-17T10:{minute:02d}:00+08:00"}


HISTORY = [
    _turn(1, "开饭店要办什么证", "市场监管局", 0),
    _turn(2, "食品经营许可要多久", "市场监管局", 5),
    _turn(3, "增值税发票怎么领", "税务局", 8),
    _turn(4, "发票领用要带什么", "税务局", 10),
    _turn(5, "税控盘丢了怎么办", "税务局", 55),
]


def test_the_question_and_its_related_predecessors_are_kept() -> None:
    # 转人工 under question 4: the tax question just before comes along; the licence ones do not.
    assert [t["id"] for t in turns_for_ticket(HISTORY, 4)] == ["3", "4"]
    assert [t["id"] for t in turns_for_ticket(HISTORY, 2)] == ["1", "2"]


def test_a_later_visit_is_not_joined_to_an_earlier_one() -> None:
    # Question 5 came 45 minutes after question 4: a different visit, even about the same department.
    assert [t["id"] for t in turns_for_ticket(HISTORY, 5)] == ["5"]


def test_desk_without_a_question_id_anchors_on_the_last_question() -> None:
    assert [t["id"] for t in turns_for_ticket(HISTORY, None)] == ["5"]
    assert turns_for_ticket([], None) == []


def test_a_question_no_longer_in_the_history_attaches_nothing() -> None:
    assert turns_for_ticket(HISTORY, 99) == []


def test_turns_without_a_department_or_time_are_not_joined() -> None:
    history = [{"id": "1", "q": "你好", "a": ""}, _turn(2, "发票怎么领", "税务局", 0)]
    assert [t["id"] for t in turns_for_ticket(history, 2)] == ["2"]


def test_transcript_lines() -> None:
    assert transcript_text(turns_for_ticket(HISTORY, 4)) == (
        "企业：增值税发票怎么领\n机器人：答复3\n企业：发票领用要带什么\n机器人：答复4"
    )
