"""job outbox: the request id of the web request (or job) that enqueued each job

One nullable column on ``job_outbox``: the job's log lines carry the id of the request
that caused it (issue 16, observability). Rows already waiting keep NULL (no id).

Revision ID: f4a1b2c3d4e5
Revises: f3b4c5d6e7a8
Create Date: 2026-12-08 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f4a1b2c3d4e5'
down_revision = 'f3b4c5d6e7a8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.drop_column('request_id')
