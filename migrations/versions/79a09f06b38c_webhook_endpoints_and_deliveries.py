"""webhook endpoints and deliveries

Two new tables (issue 20, webhooks): the endpoints admins register (URL, events, the
signing secret, active, may receive PHI) and one row per event owed to an endpoint,
with where its attempts stand. Nothing existing changes.

Revision ID: 79a09f06b38c
Revises: d44c458464a3
Create Date: 2026-12-07 05:21:13.659266

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = '79a09f06b38c'
down_revision = 'd44c458464a3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('description', sa.String(length=200), server_default='', nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=80), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('allow_phi', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('secret_rotated_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_webhook_endpoints_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=32), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'delivered', 'failed', name='deliverystatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('response_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('delivered_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('uid', name=op.f('uq_webhook_deliveries_uid'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_endpoint_id', ['endpoint_id', 'id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_status_next', ['status', 'next_attempt_at'], unique=False)



def downgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_status_next')
        batch_op.drop_index('ix_webhook_deliveries_endpoint_id')

    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
