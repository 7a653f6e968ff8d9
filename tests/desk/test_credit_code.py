from __future__ import annotations

import pytest

from desk.credit_code import is_valid_credit_code, normalize_credit_code
from desk.errors import InvalidCreditCode


def test_valid_code_is_normalised() -> None:
    assert normalize_credit_code(" 91110000600037341l ") == "91110000600037341L"
    assert is_valid_credit_code("91110000600037341L")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [("91110000600037341X", "应为 L"), ("9111000060003734", "18位"), ("91110000600O37341L", "不允许的字符")],
)
def test_invalid_codes_get_chinese_messages(code: str, fragment: str) -> None:
    with pytest.raises(InvalidCreditCode) as info:
        normalize_credit_code(code)
    assert fragment in str(info.value)
