"""The dashboard's own SQL (queue filters, JSON co-department match, overdue board, FAQ proposals) on
PostgreSQL: the same tests as on SQLite, with `settings` pointing at a fresh database on 127.0.0.1:5432."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from tests.auxil.postgres import throwaway_database
from tests.dashboard.test_auth import (  # noqa: F401  (the guard rows' upsert is dialect-specific)
    test_a_lock_holds_only_for_the_address_that_earned_it,
    test_parallel_wrong_guesses_verify_at_most_the_limit_then_lock,
    test_the_ceiling_locks_an_account_for_every_address,
)
from tests.dashboard.test_report_knowledge import (  # noqa: F401  (collected again, here on PostgreSQL)
    test_knowledge_page_questions_of_the_week,
    test_report_page_chart_and_xlsx,
    test_resolved_ticket_accepted_as_faq,
)
from tests.dashboard.test_tickets import (  # noqa: F401
    test_claim_reply_resolve_through_the_desk,
    test_commissioner_cannot_open_or_act_on_another_departments_ticket,
    test_leader_reassigns_commissioner_cannot,
    test_queue_filters_and_overdue_board,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with throwaway_database("zt_dash") as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, pg_url: str) -> Iterator[Settings]:
    """Overrides the shared fixture: same isolated data dir, but the database is PostgreSQL (emptied per test)."""
    import psycopg
    from sqlmodel import SQLModel

    from cli.db import all_models

    yield load_settings(data_dir=tmp_path / "var", database={"url": pg_url})
    all_models()
    sync = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with psycopg.connect(sync, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
