"""Whether a source is current has one Python and one SQL form; on generated sources they agree
(SQLite and PostgreSQL), and the index is built from exactly the current sources' records."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from core.db import init_db_sync, sync_url
from knowledge.currency import current_clause, is_current
from knowledge.models import KbSource
from tests.auxil.postgres import throwaway_database

TODAY = date(2026, 12, 2)


def _agree(url: str) -> None:
    engine = create_engine(sync_url(url))
    init_db_sync(engine)
    rng = random.Random(3)
    day = timedelta(days=1)
    with Session(engine) as session:
        for i in range(200):
            session.add(KbSource(
                path=f"/p/{i}", name=f"{i}.md", kind=rng.choice(["policy", "policy", "directory"]), sha256="x",
                effective=rng.choice([None, TODAY - day, TODAY, TODAY + day]),
                expires=rng.choice([None, TODAY - day, TODAY, TODAY + day]),
                superseded_by=rng.choice(["", "", "", "新办法.md"]),
            ))
        session.commit()
        sources = list(session.exec(select(KbSource)).all())
        by_python = {s.id for s in sources if is_current(s, TODAY)}
        by_sql = set(session.exec(select(KbSource.id).where(current_clause(TODAY))).all())
    engine.dispose()
    assert by_python == by_sql
    assert 0 < len(by_sql) < len(sources)


def test_python_and_sql_forms_agree_on_sqlite(tmp_path: Path) -> None:
    _agree(f"sqlite:///{tmp_path}/kb.db")


@pytest.mark.postgres
def test_python_and_sql_forms_agree_on_postgresql() -> None:
    with throwaway_database("zt_currency") as url:
        _agree(url)


def test_the_named_cases() -> None:
    def policy(**kw: object) -> KbSource:
        return KbSource(path="p", name="p.md", kind="policy", sha256="x", **kw)  # type: ignore[arg-type]

    assert is_current(policy(effective=TODAY, expires=TODAY), TODAY)  # both ends count
    assert not is_current(policy(expires=TODAY - timedelta(days=1)), TODAY)
    assert not is_current(policy(effective=TODAY + timedelta(days=1)), TODAY)
    assert not is_current(policy(superseded_by="新办法.md"), TODAY)
    assert is_current(KbSource(path="d", name="d.csv", kind="directory", sha256="x",
                               superseded_by="x", expires=TODAY - timedelta(days=9)), TODAY)
