"""initial schema: the tables as they were when migrations were introduced (issue 11)

Revision ID: 0001
Revises: 
Create Date: 2026-12-02 15:33:20.836822
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every table and index only if missing: a database created before migrations (create_all) is
    # adopted as it is, and gets the tables it did not have yet.
    op.create_table('dashboard_credential',
    sa.Column('tg_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('failed_count', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tg_user_id'),
    if_not_exists=True,
    )
    op.create_table('dashboard_faq_decision',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('decided_by', sa.BigInteger(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.PrimaryKeyConstraint('ticket_id'),
    if_not_exists=True,
    )
    op.create_table('dashboard_signin_guard',
    sa.Column('tg_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('failed_count', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tg_user_id', 'address'),
    if_not_exists=True,
    )
    op.create_table('inbound_update',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replays', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('update_id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_inbound_update_done_at'), 'inbound_update', ['done_at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_inbound_update_worker'), 'inbound_update', ['worker'], unique=False, if_not_exists=True)
    op.create_table('kb_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_table('kb_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('effective', sa.Date(), nullable=True),
    sa.Column('expires', sa.Date(), nullable=True),
    sa.Column('supersedes', sa.JSON(), nullable=True),
    sa.Column('superseded_by', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=True),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_kb_source_path'), 'kb_source', ['path'], unique=True, if_not_exists=True)
    op.create_table('outbox_claim',
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('notification_id'),
    if_not_exists=True,
    )
    op.create_table('question_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('tg_user_id', sa.BigInteger(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('routed', sa.Boolean(), nullable=False),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.Column('top_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('top_title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('top_department', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('feedback', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_question_log_created_at'), 'question_log', ['created_at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_question_log_tg_user_id'), 'question_log', ['tg_user_id'], unique=False, if_not_exists=True)
    op.create_table('staff',
    sa.Column('tg_user_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_staff_tg_user_id'), 'staff', ['tg_user_id'], unique=True, if_not_exists=True)
    op.create_table('staff_card',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_ids', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('rendered', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('ticket_id'),
    if_not_exists=True,
    )
    op.create_table('enterprise',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('credit_code', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('industry', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('contact_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('contact_phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('tg_user_id', sa.BigInteger(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commissioner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['commissioner_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_enterprise_credit_code'), 'enterprise', ['credit_code'], unique=True, if_not_exists=True)
    op.create_index(op.f('ix_enterprise_tg_user_id'), 'enterprise', ['tg_user_id'], unique=True, if_not_exists=True)
    op.create_table('kb_department',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=True),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['kb_source.id'], ),
    sa.PrimaryKeyConstraint('name'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_kb_department_source_id'), 'kb_department', ['source_id'], unique=False, if_not_exists=True)
    op.create_table('kb_record',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('section', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('citation', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('span_start', sa.Integer(), nullable=False),
    sa.Column('span_end', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['kb_source.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_kb_record_department'), 'kb_record', ['department'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_kb_record_kind'), 'kb_record', ['kind'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_kb_record_source_id'), 'kb_record', ['source_id'], unique=False, if_not_exists=True)
    op.create_table('ticket',
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('service_item', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('transcript', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('enterprise_id', sa.Integer(), nullable=True),
    sa.Column('requester_tg_id', sa.BigInteger(), nullable=True),
    sa.Column('requester_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('co_departments', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accept_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accept_warn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accept_warned', sa.Boolean(), nullable=False),
    sa.Column('accept_overdue', sa.Boolean(), nullable=False),
    sa.Column('resolve_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_warn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_warned', sa.Boolean(), nullable=False),
    sa.Column('resolve_overdue', sa.Boolean(), nullable=False),
    sa.Column('resolve_escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_remaining_s', sa.Float(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalation_count', sa.Integer(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=False),
    sa.Column('resolution_round', sa.Integer(), nullable=False),
    sa.Column('rating_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rating_remind_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rating_reminded', sa.Boolean(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('close_note', sa.Text(), nullable=False),
    sa.Column('staff_chat_id', sa.BigInteger(), nullable=True),
    sa.Column('staff_thread_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_ticket_accept_due_at'), 'ticket', ['accept_due_at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_ticket_assignee_id'), 'ticket', ['assignee_id'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_ticket_created_at'), 'ticket', ['created_at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_ticket_department'), 'ticket', ['department'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_ticket_enterprise_id'), 'ticket', ['enterprise_id'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_ticket_number'), 'ticket', ['number'], unique=True, if_not_exists=True)
    op.create_index(op.f('ix_ticket_rating_due_at'), 'ticket', ['rating_due_at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_ticket_requester_tg_id'), 'ticket', ['requester_tg_id'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_ticket_resolve_due_at'), 'ticket', ['resolve_due_at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_ticket_state'), 'ticket', ['state'], unique=False, if_not_exists=True)
    op.create_table('auditentry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('actor_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor_tg_id', sa.BigInteger(), nullable=True),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_auditentry_created_at'), 'auditentry', ['created_at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_auditentry_ticket_id'), 'auditentry', ['ticket_id'], unique=False, if_not_exists=True)
    op.create_table('followup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('warn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('warned', sa.Boolean(), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_followup_ticket_id'), 'followup', ['ticket_id'], unique=False, if_not_exists=True)
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('audience', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('recipient_tg_id', sa.BigInteger(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_notification_sent_at'), 'notification', ['sent_at'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_notification_ticket_id'), 'notification', ['ticket_id'], unique=False, if_not_exists=True)
    op.create_table('rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('score', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('rater_tg_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'round'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_rating_ticket_id'), 'rating', ['ticket_id'], unique=False, if_not_exists=True)
    op.create_table('ticketmessage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('author_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('author_tg_id', sa.BigInteger(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    if_not_exists=True,
    )
    op.create_index(op.f('ix_ticketmessage_ticket_id'), 'ticketmessage', ['ticket_id'], unique=False, if_not_exists=True)
    # ### end Alembic commands ###


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('ticketmessage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketmessage_ticket_id'))

    op.drop_table('ticketmessage')
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_ticket_id'))

    op.drop_table('rating')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_notification_sent_at'))

    op.drop_table('notification')
    with op.batch_alter_table('followup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followup_ticket_id'))

    op.drop_table('followup')
    with op.batch_alter_table('auditentry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auditentry_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_auditentry_created_at'))

    op.drop_table('auditentry')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_state'))
        batch_op.drop_index(batch_op.f('ix_ticket_resolve_due_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_requester_tg_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_rating_due_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_number'))
        batch_op.drop_index(batch_op.f('ix_ticket_enterprise_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_department'))
        batch_op.drop_index(batch_op.f('ix_ticket_created_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_assignee_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_accept_due_at'))

    op.drop_table('ticket')
    with op.batch_alter_table('kb_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_record_source_id'))
        batch_op.drop_index(batch_op.f('ix_kb_record_kind'))
        batch_op.drop_index(batch_op.f('ix_kb_record_department'))

    op.drop_table('kb_record')
    with op.batch_alter_table('kb_department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_department_source_id'))

    op.drop_table('kb_department')
    with op.batch_alter_table('enterprise', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enterprise_tg_user_id'))
        batch_op.drop_index(batch_op.f('ix_enterprise_credit_code'))

    op.drop_table('enterprise')
    op.drop_table('staff_card')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_tg_user_id'))

    op.drop_table('staff')
    with op.batch_alter_table('question_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_question_log_tg_user_id'))
        batch_op.drop_index(batch_op.f('ix_question_log_created_at'))

    op.drop_table('question_log')
    op.drop_table('outbox_claim')
    with op.batch_alter_table('kb_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_source_path'))

    op.drop_table('kb_source')
    op.drop_table('kb_generation')
    with op.batch_alter_table('inbound_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_update_worker'))
        batch_op.drop_index(batch_op.f('ix_inbound_update_done_at'))

    op.drop_table('inbound_update')
    op.drop_table('dashboard_signin_guard')
    op.drop_table('dashboard_faq_decision')
    op.drop_table('dashboard_credential')
    # ### end Alembic commands ###
