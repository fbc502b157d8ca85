"""clinical alerts and the on-call roster of the clinical-escalation queue

Four new tables, nothing existing changes: the roster (members with a duty mode and
weekly shifts in the site's local time), alerts on flagged requests (one per ticket,
with the escalation round and when it is due) and the people alerted in each round.

Revision ID: e1c2a3b4d5f6
Revises: d7a1b2c3d4e3
Create Date: 2026-12-06 20:11:10.965360

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = 'e1c2a3b4d5f6'
down_revision = 'e1f2a3b4c5d6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('oncall_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.Enum('shifts', 'on', 'off', name='dutymode', native_enum=False, length=24), server_default='shifts', nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oncall_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oncall_members')),
    sa.UniqueConstraint('user_id', name=op.f('uq_oncall_members_user_id'))
    )
    op.create_table('clinical_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Enum('clinician', 'nobody_on_duty', name='alertlevel', native_enum=False, length=24), nullable=False),
    sa.Column('raised_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('round', sa.Integer(), server_default='0', nullable=False),
    sa.Column('due_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_clinical_alerts_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_clinical_alerts_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinical_alerts')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_clinical_alerts_ticket_id'))
    )
    with op.batch_alter_table('clinical_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_clinical_alerts_open_due', ['acknowledged_at', 'due_at'], unique=False)

    op.create_table('oncall_shifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('start', sa.Time(), nullable=False),
    sa.Column('end', sa.Time(), nullable=False),
    sa.CheckConstraint('weekday >= 0 AND weekday <= 6', name=op.f('ck_oncall_shifts_weekday_range')),
    sa.ForeignKeyConstraint(['member_id'], ['oncall_members.id'], name=op.f('fk_oncall_shifts_member_id_oncall_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oncall_shifts')),
    sa.UniqueConstraint('member_id', 'weekday', 'start', name='uq_oncall_shifts_member_day_start')
    )
    with op.batch_alter_table('oncall_shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oncall_shifts_member_id'), ['member_id'], unique=False)

    op.create_table('clinical_alert_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('on_duty', 'next_on_duty', 'supervisor', 'admin', name='recipientreason', native_enum=False, length=24), nullable=False),
    sa.Column('notified_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('email_queued_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('email_id', sa.Integer(), nullable=True),
    sa.Column('pager_status', sa.String(length=12), nullable=True),
    sa.Column('pager_sent_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['clinical_alerts.id'], name=op.f('fk_clinical_alert_recipients_alert_id_clinical_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_clinical_alert_recipients_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinical_alert_recipients')),
    sa.UniqueConstraint('alert_id', 'round', 'user_id', name='uq_clinical_alert_recipients_round_user')
    )
    with op.batch_alter_table('clinical_alert_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_clinical_alert_recipients_user', ['user_id', 'alert_id'], unique=False)



def downgrade():
    with op.batch_alter_table('clinical_alert_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_clinical_alert_recipients_user')

    op.drop_table('clinical_alert_recipients')
    with op.batch_alter_table('oncall_shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oncall_shifts_member_id'))

    op.drop_table('oncall_shifts')
    with op.batch_alter_table('clinical_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_clinical_alerts_open_due')

    op.drop_table('clinical_alerts')
    op.drop_table('oncall_members')
