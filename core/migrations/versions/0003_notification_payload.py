"""notification payload: notifications store their facts (kind + payload); desk.notices words them per channel

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:08:56.367070
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before keep their text (and an empty payload); they are shown as they were.
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.JSON(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('payload')
