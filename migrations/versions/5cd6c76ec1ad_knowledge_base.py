"""knowledge base

Articles and their versions, related queues, feedback, daily view counters, ticket
links ("resolved with"), deflections, the search index's generation row, and the
``users.kb_editor`` permission flag (false for everyone; supervisors are editors by role).

Reviewed: enums are stored as strings (native_enum=False, as everywhere else), every
list the UI sorts or filters has an index, boolean default renders per dialect.

Revision ID: 5cd6c76ec1ad
Revises: 9dd0f770bc00
Create Date: 2026-11-28 02:13:48.191630

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = '5cd6c76ec1ad'
down_revision = '9dd0f770bc00'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('kb_index_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.String(length=32), nullable=False),
    sa.Column('changed_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_index_state'))
    )
    op.create_table('kb_articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('body_md', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('audience', sa.Enum('public', 'internal', name='audience', native_enum=False, length=16), nullable=False),
    sa.Column('language', sa.Enum('en', 'es', name='language', native_enum=False, length=8), nullable=False),
    sa.Column('status', sa.Enum('draft', 'in_review', 'published', 'archived', name='articlestatus', native_enum=False, length=16), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('revision', sa.Integer(), server_default='1', nullable=False),
    sa.Column('review_interval_days', sa.Integer(), server_default='180', nullable=False),
    sa.Column('reviewed_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_due_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('archived_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('source_ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_kb_articles_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_ticket_id'], ['tickets.id'], name=op.f('fk_kb_articles_source_ticket_id_tickets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_kb_articles_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_articles')),
    sa.UniqueConstraint('slug', name=op.f('uq_kb_articles_slug'))
    )
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_articles_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_kb_articles_category_status', ['category', 'status'], unique=False)
        batch_op.create_index('ix_kb_articles_status_review_due', ['status', 'review_due_at'], unique=False)
        batch_op.create_index('ix_kb_articles_status_updated', ['status', 'updated_at', 'id'], unique=False)
        batch_op.create_index('ix_kb_articles_updated', ['updated_at', 'id'], unique=False)

    op.create_table('kb_article_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('helpful', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_article_feedback_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_kb_article_feedback_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_feedback'))
    )
    with op.batch_alter_table('kb_article_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_kb_article_feedback_article_created', ['article_id', 'created_at'], unique=False)

    op.create_table('kb_article_queues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_article_queues_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], name=op.f('fk_kb_article_queues_queue_id_queues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_queues')),
    sa.UniqueConstraint('article_id', 'queue_id', name='uq_kb_article_queues_article_queue')
    )
    with op.batch_alter_table('kb_article_queues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_article_queues_queue_id'), ['queue_id'], unique=False)

    op.create_table('kb_article_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('body_md', sa.Text(), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('note', sa.String(length=200), server_default='', nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_article_versions_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_kb_article_versions_author_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_versions')),
    sa.UniqueConstraint('article_id', 'number', name='uq_kb_article_versions_article_number')
    )
    op.create_table('kb_article_view_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_article_view_days_article_id_kb_articles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_view_days')),
    sa.UniqueConstraint('article_id', 'day', name='uq_kb_article_view_days_article_day')
    )
    with op.batch_alter_table('kb_article_view_days', schema=None) as batch_op:
        batch_op.create_index('ix_kb_article_view_days_day', ['day'], unique=False)

    op.create_table('kb_deflections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('query_length', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_deflections_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_kb_deflections_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_deflections'))
    )
    with op.batch_alter_table('kb_deflections', schema=None) as batch_op:
        batch_op.create_index('ix_kb_deflections_article_created', ['article_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_kb_deflections_created_at'), ['created_at'], unique=False)

    op.create_table('kb_ticket_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('linked_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_ticket_links_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['linked_by_id'], ['users.id'], name=op.f('fk_kb_ticket_links_linked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_kb_ticket_links_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_ticket_links')),
    sa.UniqueConstraint('ticket_id', 'article_id', name='uq_kb_ticket_links_ticket_article')
    )
    with op.batch_alter_table('kb_ticket_links', schema=None) as batch_op:
        batch_op.create_index('ix_kb_ticket_links_article_created', ['article_id', 'created_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kb_editor', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('kb_editor')

    with op.batch_alter_table('kb_ticket_links', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_ticket_links_article_created')

    op.drop_table('kb_ticket_links')
    with op.batch_alter_table('kb_deflections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_deflections_created_at'))
        batch_op.drop_index('ix_kb_deflections_article_created')

    op.drop_table('kb_deflections')
    with op.batch_alter_table('kb_article_view_days', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_article_view_days_day')

    op.drop_table('kb_article_view_days')
    op.drop_table('kb_article_versions')
    with op.batch_alter_table('kb_article_queues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_article_queues_queue_id'))

    op.drop_table('kb_article_queues')
    with op.batch_alter_table('kb_article_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_article_feedback_article_created')

    op.drop_table('kb_article_feedback')
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_articles_updated')
        batch_op.drop_index('ix_kb_articles_status_updated')
        batch_op.drop_index('ix_kb_articles_status_review_due')
        batch_op.drop_index('ix_kb_articles_category_status')
        batch_op.drop_index(batch_op.f('ix_kb_articles_author_id'))

    op.drop_table('kb_articles')
    op.drop_table('kb_index_state')
