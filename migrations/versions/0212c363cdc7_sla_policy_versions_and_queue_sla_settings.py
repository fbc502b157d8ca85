"""SLA policy versions (a ticket keeps the version it started under) and queue SLA settings

Every existing policy becomes its version 1 (same name, calendar, warning fraction and
targets), and every ticket's SLA row points at version 1 of the policy it has.

Revision ID: 0212c363cdc7
Revises: 208ee6a7d023
Create Date: 2026-12-07 05:19:16.071804

"""
import sqlalchemy as sa
from alembic import op

import helpdesk.timeutil

# revision identifiers, used by Alembic.
revision = '0212c363cdc7'
down_revision = '208ee6a7d023'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sla_policy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=True),
    sa.Column('warn_fraction', sa.Double(), server_default='0.75', nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['calendar_id'], ['sla_calendars.id'], name=op.f('fk_sla_policy_versions_calendar_id_sla_calendars'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sla_policy_versions_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policies.id'], name=op.f('fk_sla_policy_versions_policy_id_sla_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policy_versions')),
    sa.UniqueConstraint('policy_id', 'version', name='uq_sla_policy_versions_policy_version')
    )
    op.create_table('sla_queue_settings',
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=True),
    sa.Column('default_policy_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['sla_calendars.id'], name=op.f('fk_sla_queue_settings_calendar_id_sla_calendars'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['default_policy_id'], ['sla_policies.id'], name=op.f('fk_sla_queue_settings_default_policy_id_sla_policies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], name=op.f('fk_sla_queue_settings_queue_id_queues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('queue_id', name=op.f('pk_sla_queue_settings'))
    )
    with op.batch_alter_table('sla_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('ticket_sla', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('policy_version', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_ticket_sla_policy_version_id_sla_policy_versions'), 'sla_policy_versions', ['policy_version_id'], ['id'], ondelete='SET NULL')

    # the policies as they are today are their version 1; tickets point at it
    op.execute(
        "INSERT INTO sla_policy_versions (policy_id, version, name, calendar_id, warn_fraction, targets, created_at) "
        "SELECT id, 1, name, calendar_id, warn_fraction, targets, created_at FROM sla_policies"
    )
    op.execute(
        "UPDATE ticket_sla SET policy_version = 1, policy_version_id = "
        "(SELECT v.id FROM sla_policy_versions v WHERE v.policy_id = ticket_sla.policy_id AND v.version = 1) "
        "WHERE policy_id IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table('ticket_sla', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_ticket_sla_policy_version_id_sla_policy_versions'), type_='foreignkey')
        batch_op.drop_column('policy_version')
        batch_op.drop_column('policy_version_id')

    with op.batch_alter_table('sla_policies', schema=None) as batch_op:
        batch_op.drop_column('version')

    op.drop_table('sla_queue_settings')
    op.drop_table('sla_policy_versions')
