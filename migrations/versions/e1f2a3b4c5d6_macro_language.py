"""macros: the language of the text

Revision ID: e1f2a3b4c5d6
Revises: d7a1b2c3d4e3
Create Date: 2026-12-10 10:00:00

Nullable: existing macros keep NULL ("any language"); the seeded day-one macros are
written in English and Spanish and say so.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1f2a3b4c5d6'
down_revision = 'e1a2b3c4d5f6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('macros', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('macros', schema=None) as batch_op:
        batch_op.drop_column('language')
