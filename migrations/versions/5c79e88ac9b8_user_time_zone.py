"""users.timezone: the IANA time zone a person reads times in (NULL = the site's zone)

Revision ID: 5c79e88ac9b8
Revises: 6071f1b11906
Create Date: 2026-12-07 02:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c79e88ac9b8'
down_revision = '6071f1b11906'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('timezone')
