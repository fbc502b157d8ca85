"""tickets: an index of each patient's tickets by queue (index-only on PostgreSQL)

The name search finds patients, then their tickets in the searcher's queues:
``ix_tickets_requester_queue`` (requester_id, queue_id), with the ticket's id and status
included on PostgreSQL so that it never reads the table.

Revision ID: 6071f1b11906
Revises: 581e25c87265
Create Date: 2026-12-07 02:50:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '6071f1b11906'
down_revision = '581e25c87265'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_requester_queue', ['requester_id', 'queue_id'], unique=False,
                              postgresql_include=['id', 'status'])


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_requester_queue')
