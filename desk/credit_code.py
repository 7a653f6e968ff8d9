"""统一社会信用代码 (GB 32100-2015) validation, via python-stdnum's maintained implementation."""

from __future__ import annotations

from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from desk.errors import InvalidCreditCode


def normalize_credit_code(value: str) -> str:
    """Return the canonical 18-character code or raise InvalidCreditCode with a Chinese message."""
    raw = (value or "").strip()
    try:
        return str(uscc.validate(raw))
    except InvalidLength as exc:
        raise InvalidCreditCode(f"统一社会信用代码应为18位，收到 {len(uscc.compact(raw))} 位：{raw}") from exc
    except InvalidChecksum as exc:
        expected = uscc.calc_check_digit(uscc.compact(raw)[:17])
        raise InvalidCreditCode(f"统一社会信用代码 {raw} 校验位错误（按GB 32100-2015应为 {expected}）。") from exc
    except InvalidFormat as exc:
        raise InvalidCreditCode(f"统一社会信用代码 {raw} 含有不允许的字符（不使用 I、O、Z、S、V）。") from exc
    except ValidationError as exc:
        raise InvalidCreditCode(f"统一社会信用代码 {raw} 无效。") from exc


def is_valid_credit_code(value: str) -> bool:
    """True when `value` passes the GB 32100-2015 check."""
    return bool(uscc.is_valid((value or "").strip()))
