"""policy push: enterprise profile and consent, policy push meta, push campaigns and deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 17:18:14.127132
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('push_campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_path', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('policy_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('benefit', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('apply_by', sa.Date(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('audience_origin', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('unknown_terms', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reviewer_tg_id', sa.BigInteger(), nullable=True),
    sa.Column('reviewer_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('queued_count', sa.Integer(), nullable=False),
    sa.Column('reminders_queued_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('policy_path', 'sha256', name='uq_push_campaign_version')
    )
    with op.batch_alter_table('push_campaign', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_campaign_policy_path'), ['policy_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_campaign_status'), ['status'], unique=False)

    op.create_table('push_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('tg_user_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('matched_on', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('response', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('response_reason', sa.Text(), nullable=False),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['push_campaign.id'], ),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'enterprise_id', 'kind', name='uq_push_delivery_once')
    )
    with op.batch_alter_table('push_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_delivery_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_delivery_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_delivery_not_before'), ['not_before'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_delivery_sent_at'), ['sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_delivery_status'), ['status'], unique=False)

    # Existing enterprises start with an empty profile and without consent (never asked).
    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.add_column(sa.Column('size', sqlmodel.sql.sqltypes.AutoString(length=8), server_default='', nullable=False))
        batch_op.add_column(sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('tags', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('push_consent', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('push_consent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('unreachable_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('kb_source', schema=None) as batch_op:
        batch_op.add_column(sa.Column('push_meta', sa.JSON(), server_default='{}', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('kb_source', schema=None) as batch_op:
        batch_op.drop_column('push_meta')

    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.drop_column('unreachable_at')
        batch_op.drop_column('push_consent_at')
        batch_op.drop_column('push_consent')
        batch_op.drop_column('tags')
        batch_op.drop_column('district')
        batch_op.drop_column('size')

    with op.batch_alter_table('push_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_delivery_status'))
        batch_op.drop_index(batch_op.f('ix_push_delivery_sent_at'))
        batch_op.drop_index(batch_op.f('ix_push_delivery_not_before'))
        batch_op.drop_index(batch_op.f('ix_push_delivery_enterprise_id'))
        batch_op.drop_index(batch_op.f('ix_push_delivery_campaign_id'))

    op.drop_table('push_delivery')
    with op.batch_alter_table('push_campaign', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_campaign_status'))
        batch_op.drop_index(batch_op.f('ix_push_campaign_policy_path'))

    op.drop_table('push_campaign')
