"""locked-out help requests; e-mail verification of self-registered patients

* ``access_requests``: what a person who can't sign in gave on the public form (one
  row per ticket, with the placeholder requester made for it).
* ``tickets.identity_unverified``: such a request until an agent's identity check passes.
* ``users.email_verified_at``: accounts that exist when this runs were made before
  verification existed (by registration, staff, the CLI or the portal); they keep
  working: their address counts as verified from the day the account was created.

Revision ID: e1a2b3c4d5f6
Revises: d7a1b2c3d4e3
Create Date: 2026-12-06 20:09:11.726360

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = 'e1a2b3c4d5f6'
down_revision = 'd7a1b2c3d4e3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('access_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('placeholder_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('contact_phone', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('verified_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['placeholder_id'], ['users.id'], name=op.f('fk_access_requests_placeholder_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_access_requests_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_access_requests_verified_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['verified_user_id'], ['users.id'], name=op.f('fk_access_requests_verified_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_requests')),
    sa.UniqueConstraint('placeholder_id', name=op.f('uq_access_requests_placeholder_id')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_access_requests_ticket_id'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_unverified', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_users_role_verified_created', ['role', 'email_verified_at', 'created_at'], unique=False)

    # Existing accounts are not locked out of their requests by this release.
    op.execute(sa.text("UPDATE users SET email_verified_at = created_at WHERE email_verified_at IS NULL"))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_role_verified_created')
        batch_op.drop_column('email_verified_at')

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('identity_unverified')

    op.drop_table('access_requests')
