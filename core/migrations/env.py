"""Alembic's environment for Zhitong: always run programmatically (core.schema), on a connection it is given.

`target_metadata` is only set when a new revision is being generated (scripts/new_migration.py), so
upgrading a database never imports the domain packages' models.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=config.attributes.get("target_metadata"),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
