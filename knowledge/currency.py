"""Whether a source may be cited as current — one rule, in its Python and its SQL form side by side.

A policy is current from its `effective` date through its `expires` date, unless a newer policy
supersedes it; directory files are always current. The knowledge core answers only from current
sources (the SQL form selects their records when the index is built), the ingest's change report, the
dashboard's knowledge page and `zhitong kb` say which files are not current (the Python form).
tests/knowledge/test_currency.py checks the two forms agree.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from knowledge.models import KbSource


def is_current(source: KbSource, today: date) -> bool:
    """Python form."""
    if source.kind != "policy":
        return True
    if source.superseded_by:
        return False
    if source.expires is not None and source.expires < today:
        return False
    return not (source.effective is not None and source.effective > today)


def current_clause(today: date) -> ColumnElement[bool]:
    """SQL form: a WHERE clause over KbSource selecting exactly the sources `is_current` accepts."""
    return or_(
        col(KbSource.kind) != "policy",
        and_(
            or_(col(KbSource.superseded_by).is_(None), col(KbSource.superseded_by) == ""),
            or_(col(KbSource.expires).is_(None), col(KbSource.expires) >= today),
            or_(col(KbSource.effective).is_(None), col(KbSource.effective) <= today),
        ),
    )
