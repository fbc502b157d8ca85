"""patient identifiers and portal sign-in links

``patient_identifiers``: a patient account's identifiers in other systems (the portal's id,
an MRN), one account per (system, value). ``patient_links``: the portal's one-use sign-in
links (a random id per link, whom it signs in, expiry, when used). ``tickets.patient_identifier_id``:
the identifier a request was sent under through the API (nullable: older and other requests).

Revision ID: 4314341278a4
Revises: 0b0d0d8ddc5a
Create Date: 2026-12-07 05:19:29.847927

"""
import sqlalchemy as sa
from alembic import op

import helpdesk.timeutil

# revision identifiers, used by Alembic.
revision = '4314341278a4'
down_revision = '0b0d0d8ddc5a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('patient_identifiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_patient_identifiers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_identifiers')),
    sa.UniqueConstraint('system', 'value', name='uq_patient_identifiers_system_value')
    )
    with op.batch_alter_table('patient_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_identifiers_user_id'), ['user_id'], unique=False)

    op.create_table('patient_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.String(length=43), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('identifier_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_patient_links_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['identifier_id'], ['patient_identifiers.id'], name=op.f('fk_patient_links_identifier_id_patient_identifiers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_patient_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_links')),
    sa.UniqueConstraint('link_id', name=op.f('uq_patient_links_link_id'))
    )
    with op.batch_alter_table('patient_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_links_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_patient_links_user_created', ['user_id', 'created_at'], unique=False)

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_identifier_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tickets_patient_identifier_id'), ['patient_identifier_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_tickets_patient_identifier_id_patient_identifiers'), 'patient_identifiers', ['patient_identifier_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tickets_patient_identifier_id_patient_identifiers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_tickets_patient_identifier_id'))
        batch_op.drop_column('patient_identifier_id')

    with op.batch_alter_table('patient_links', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_links_user_created')
        batch_op.drop_index(batch_op.f('ix_patient_links_expires_at'))

    op.drop_table('patient_links')
    with op.batch_alter_table('patient_identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_identifiers_user_id'))

    op.drop_table('patient_identifiers')
