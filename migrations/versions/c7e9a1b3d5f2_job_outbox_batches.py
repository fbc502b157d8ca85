"""job outbox: leases for jobs run in batches

With Redis, the follow-up of a new request and the sending of mail run in batches: a
worker claims up to a hundred due rows of one job function at a time
(``helpdesk.jobs.drain_outbox``) and marks them with ``claimed_until``, a short lease,
so that two workers never take the same rows and the rows of a worker that died are
taken again once the lease has run out. ``ix_job_outbox_func`` finds one function's
rows in id order. Rows already waiting keep NULL (not claimed).

Revision ID: c7e9a1b3d5f2
Revises: a4d2e6f8b1c3
Create Date: 2026-12-07 11:00:00

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = 'c7e9a1b3d5f2'
down_revision = 'a4d2e6f8b1c3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_until', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_job_outbox_func', ['func', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_job_outbox_func')
        batch_op.drop_column('claimed_until')
