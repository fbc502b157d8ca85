"""sso identities and the sign-in method of a session

Staff single sign-on (helpdesk.auth.sso): ``sso_identities`` links a staff account to
its identity at the hospital's OpenID Connect provider (issuer + subject, unique), and
``auth_sessions.method`` says how a browser signed in. Existing sessions are
"password" sessions (the server default).

Revision ID: 8ada19042f27
Revises: 4314341278a4
Create Date: 2026-12-07 05:19:58.470756

"""
import sqlalchemy as sa
from alembic import op

import helpdesk.timeutil

# revision identifiers, used by Alembic.
revision = '8ada19042f27'
down_revision = '4314341278a4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sso_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sso_identities_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_identities')),
    sa.UniqueConstraint('issuer', 'subject', name=op.f('uq_sso_identities_issuer'))
    )
    with op.batch_alter_table('sso_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sso_identities_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method', sa.String(length=16), server_default='password', nullable=False))



def downgrade():
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_column('method')

    with op.batch_alter_table('sso_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sso_identities_user_id'))

    op.drop_table('sso_identities')
