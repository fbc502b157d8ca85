"""names of queues and topics in other languages

Revision ID: eb69136d13bf
Revises: 5c79e88ac9b8
Create Date: 2026-12-07 02:20:46.941501

A new table only: the names of queues and help-centre topics in languages other than
English (helpdesk.i18n.names). Nothing existing changes; a downgrade drops the names.
"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = 'eb69136d13bf'
down_revision = '5c79e88ac9b8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('name_translations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('queue', 'kb_topic', name='namekind', native_enum=False, length=16), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('updated_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_name_translations')),
    sa.UniqueConstraint('kind', 'key', 'language', name='uq_name_translations_kind_key_language')
    )


def downgrade():
    op.drop_table('name_translations')
