"""The database schema is versioned by Alembic migrations (core/migrations/versions), not create_all.

`upgrade(connection)` brings a database to the newest revision this code knows. Every process calls it
at start (the bot, the dashboard, the CLI, the ingest), so the embedded default needs no extra step;
`zhitong db upgrade` does the same on purpose before a deployment. A database at a revision this code
does not know (written by a newer Zhitong) is refused with a clear message instead of being used.

The first revision equals the schema as it was when migrations were introduced and creates each table
and index only if missing: a database made earlier by create_all is brought under version control
without losing rows. On PostgreSQL an advisory lock keeps workers that start together from migrating
at once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, MetaData

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number: the key of the PostgreSQL advisory lock held while migrating.
_LOCK_KEY = 7_310_521_418


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this code; the message says why and what to do."""


def alembic_config(connection: Connection | None = None, target_metadata: MetaData | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = target_metadata
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def check_known(connection: Connection) -> str | None:
    """The database's revision; SchemaError when it is one this code does not know."""
    current = current_revision(connection)
    if current is None:
        return None
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError:
        raise SchemaError(
            f"database schema is at revision {current!r}, which this version of Zhitong does not know "
            f"(newest known: {head_revision()!r}): it was written by a newer Zhitong. Run that version, or "
            "restore a backup made before it; nothing was changed. "
            f"数据库结构版本 {current} 比本程序新（或未知），已拒绝启动，未做任何更改。"
        ) from None
    return current


def upgrade(connection: Connection) -> str:
    """Migrate to the newest revision (a no-op when already there); returns the revision."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({_LOCK_KEY})")
    try:
        current = check_known(connection)
        head = head_revision()
        if current != head:
            command.upgrade(alembic_config(connection), "head")
        if connection.in_transaction():
            connection.commit()
        return head
    finally:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
            if connection.in_transaction():
                connection.commit()
