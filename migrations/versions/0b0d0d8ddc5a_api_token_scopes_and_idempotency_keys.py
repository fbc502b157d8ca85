"""API tokens get scopes, an expiry and a rotation link; idempotency keys for API creates

Existing tokens get all three scopes, ``read create manage``: a scope only narrows what
the token's account may do (the role's rules still apply), and before this revision every
token could do all its account could — the portal integration reads, creates and closes
requests on a patient's behalf — so nothing an integration does today breaks on upgrade.
Admins narrow a token by issuing a new one with fewer scopes and revoking the old one (or
rotating). None of them expires (``expires_at`` stays NULL).

Revision ID: 0b0d0d8ddc5a
Revises: 0212c363cdc7
Create Date: 2026-12-07 05:19:14.799263

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = '0b0d0d8ddc5a'
down_revision = '0212c363cdc7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('location', sa.String(length=400), nullable=True),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'key', name='uq_idempotency_keys_user_id_key')
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('expires_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('replaced_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_replaced_by_id_api_tokens'), 'api_tokens', ['replaced_by_id'], ['id'], ondelete='SET NULL')

    # the scopes of existing tokens (see the docstring), then the column is required
    op.execute(sa.text("UPDATE api_tokens SET scopes = 'read create manage'"))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=sa.String(length=40), nullable=False)


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_replaced_by_id_api_tokens'), type_='foreignkey')
        batch_op.drop_column('replaced_by_id')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')

    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))

    op.drop_table('idempotency_keys')
