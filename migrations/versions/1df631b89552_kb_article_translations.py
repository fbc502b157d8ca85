"""knowledge base: an article may name the article it translates

Revision ID: 1df631b89552
Revises: bf19e501850b
Create Date: 2026-12-07 02:30:00

Nullable: existing articles are originals until an editor (or the seed loader, from the
``translation_of`` front-matter key) says otherwise. "Insert" on the agent ticket page
uses it to pick the version in the patient's language.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1df631b89552'
down_revision = 'bf19e501850b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('translation_of_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_kb_articles_translation_of_id'), ['translation_of_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_kb_articles_translation_of_id_kb_articles'), 'kb_articles',
                                    ['translation_of_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_kb_articles_translation_of_id_kb_articles'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_kb_articles_translation_of_id'))
        batch_op.drop_column('translation_of_id')
