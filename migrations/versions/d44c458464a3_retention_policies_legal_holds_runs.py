"""retention: periods per kind, legal holds, runs, purged tickets

Four new tables, nothing existing changes (helpdesk.retention.services). No period is
set by this migration: retention is off until an admin sets one.

Revision ID: d44c458464a3
Revises: 8ada19042f27
Create Date: 2026-12-07 05:19:45.554532

"""
import sqlalchemy as sa
from alembic import op

import helpdesk.timeutil

# revision identifiers, used by Alembic.
revision = 'd44c458464a3'
down_revision = '8ada19042f27'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('retention_policies',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('days', sa.Integer(), nullable=True),
    sa.Column('updated_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_retention_policies_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_retention_policies'))
    )
    op.create_table('retention_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('started_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_retention_runs_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_runs'))
    )
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.create_index('ix_retention_runs_dry_run_id', ['dry_run', 'id'], unique=False)

    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('released_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('(ticket_id IS NULL) <> (patient_id IS NULL)', name=op.f('ck_legal_holds_one_target')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_legal_holds_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['users.id'], name=op.f('fk_legal_holds_patient_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['released_by_id'], ['users.id'], name=op.f('fk_legal_holds_released_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_legal_holds_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds'))
    )
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.create_index('ix_legal_holds_patient_active', ['patient_id', 'released_at'], unique=False)
        batch_op.create_index('ix_legal_holds_ticket_active', ['ticket_id', 'released_at'], unique=False)

    op.create_table('retention_purged_tickets',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('purged_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['retention_runs.id'], name=op.f('fk_retention_purged_tickets_run_id_retention_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_retention_purged_tickets_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_retention_purged_tickets'))
    )


def downgrade():
    op.drop_table('retention_purged_tickets')
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_legal_holds_ticket_active')
        batch_op.drop_index('ix_legal_holds_patient_active')

    op.drop_table('legal_holds')
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_runs_dry_run_id')

    op.drop_table('retention_runs')
    op.drop_table('retention_policies')
