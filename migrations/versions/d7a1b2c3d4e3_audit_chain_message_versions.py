"""audit hash chain, chain head, search indexes; message versions

Revision ID: d7a1b2c3d4e3
Revises: d7a1b2c3d4e4
Create Date: 2026-12-04 14:30:00

Existing audit events are chained in id order here (prev_hash/hash back-filled in
batches), then the columns become NOT NULL.
"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil


# revision identifiers, used by Alembic.
revision = 'd7a1b2c3d4e3'
down_revision = 'd7a1b2c3d4e4'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade():
    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=True),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('anchor_id', sa.Integer(), nullable=True),
    sa.Column('anchor_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    op.create_table('message_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('editor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['editor_id'], ['users.id'], name=op.f('fk_message_versions_editor_id_users')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_versions_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_versions')),
    sa.UniqueConstraint('message_id', 'version', name='uq_message_versions_message_version')
    )
    with op.batch_alter_table('message_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_versions_message_id'), ['message_id'], unique=False)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))

    _chain_existing_events()

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index('ix_audit_events_action_id', ['action', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_actor_id_id', ['actor_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_object_id_id', ['object_type', 'object_id', 'id'], unique=False)


def _chain_existing_events():
    from helpdesk.audit import event_hash

    bind = op.get_bind()
    events = sa.table(
        'audit_events',
        sa.column('id', sa.Integer), sa.column('created_at', helpdesk.timeutil.UTCDateTime(timezone=True)),
        sa.column('actor_id', sa.Integer), sa.column('action', sa.String), sa.column('object_type', sa.String),
        sa.column('object_id', sa.String), sa.column('changes', sa.JSON), sa.column('ip', sa.String),
        sa.column('severity', sa.String), sa.column('prev_hash', sa.String), sa.column('hash', sa.String),
    )
    prev, after, last_id = GENESIS, 0, None
    while True:
        rows = bind.execute(sa.select(events).where(events.c.id > after).order_by(events.c.id).limit(1000)).all()
        if not rows:
            break
        for row in rows:
            h = event_hash(created_at=row.created_at, actor_id=row.actor_id, action=row.action,
                           object_type=row.object_type, object_id=row.object_id, changes=row.changes, ip=row.ip,
                           severity=row.severity or "info", prev_hash=prev)
            bind.execute(sa.update(events).where(events.c.id == row.id).values(prev_hash=prev, hash=h))
            prev, last_id = h, row.id
        after = rows[-1].id
    head = sa.table('audit_chain_head', sa.column('id', sa.Integer), sa.column('last_id', sa.Integer),
                    sa.column('last_hash', sa.String), sa.column('anchor_id', sa.Integer),
                    sa.column('anchor_hash', sa.String))
    bind.execute(sa.insert(head).values(id=1, last_id=last_id, last_hash=prev, anchor_id=None, anchor_hash=GENESIS))


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_object_id_id')
        batch_op.drop_index('ix_audit_events_actor_id_id')
        batch_op.drop_index('ix_audit_events_action_id')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')

    with op.batch_alter_table('message_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_versions_message_id'))

    op.drop_table('message_versions')
    op.drop_table('audit_chain_head')
