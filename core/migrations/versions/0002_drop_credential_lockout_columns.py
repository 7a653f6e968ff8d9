"""drop the unused lockout columns of dashboard_credential

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 16:06:01.588258
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Failures are counted per (account, client address) in dashboard_signin_guard since issue 10; these
    # two columns have not been read or written since. Dropped only where present (a database adopted
    # by 0001 may never have had them).
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("dashboard_credential")}
    gone = [name for name in ("failed_count", "locked_until") if name in present]
    if gone:
        with op.batch_alter_table("dashboard_credential", schema=None) as batch_op:
            for name in gone:
                batch_op.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_credential", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_count", sa.Integer(), nullable=False, server_default="0"))
