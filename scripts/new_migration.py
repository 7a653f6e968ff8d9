"""Write a new Alembic revision from the difference between the models and the newest migration.

    .venv/bin/python scripts/new_migration.py "add ticket tags"

Builds a throw-away SQLite database at the current head, compares it with every table model
(cli.db.all_models) and writes core/migrations/versions/<rev>_<slug>.py. Read and edit the result
before committing: autogenerate cannot see renames, and data migrations are written by hand.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from cli.db import all_models  # noqa: E402
from core.schema import alembic_config  # noqa: E402


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/head.db")
        with engine.connect() as conn:
            config = alembic_config(conn, all_models())
            if ScriptDirectory.from_config(config).get_current_head() is not None:
                command.upgrade(config, "head")
                conn.commit()
            command.revision(config, message=sys.argv[1], autogenerate=True)
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
