"""patient read markers: how far a patient has read each of their requests

One table, ``request_reads`` (ticket, user → the newest public message seen, when): a
public staff message after it is shown as an unread reply on the patient's pages
(issue 22). Empty at first: until a patient opens a request, any public staff reply on
it counts as unread.

Revision ID: bf19e501850b
Revises: a7c3e91b5d20
Create Date: 2026-12-07 02:14:13.451986

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = 'bf19e501850b'
down_revision = 'a7c3e91b5d20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('request_reads',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('last_seen_message_id', sa.Integer(), nullable=False),
    sa.Column('seen_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_request_reads_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_request_reads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'user_id', name=op.f('pk_request_reads'))
    )
    with op.batch_alter_table('request_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_reads_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('request_reads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_reads_user_id'))
    op.drop_table('request_reads')
