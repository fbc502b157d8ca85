"""audit log: events hashed on their own, chained in sealed batches

Writers no longer lock the chain head: each event carries the hash of its own fields,
and the periodic ``audit.seal`` chains the events in batches (``audit_seals``; each
event gets the id of its batch in ``seal_id``). ``prev_hash`` stays for the events
written before (their hash covers it) and is NULL from now on. The chain head now
names the last batch: it starts again from the genesis, and the first seal takes in
every event already there.

Downgrade re-chains every event in id order with the old formula (their hashes are
recomputed from their fields as they are, so tampering before the downgrade is not
carried over) and drops the batches.

Revision ID: 208ee6a7d023
Revises: eb69136d13bf
Create Date: 2026-12-07 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.timeutil

# revision identifiers, used by Alembic.
revision = '208ee6a7d023'
down_revision = 'eb69136d13bf'
branch_labels = None
depends_on = None

GENESIS = "0" * 64

head = sa.table('audit_chain_head', sa.column('id', sa.Integer), sa.column('last_id', sa.Integer),
                sa.column('last_hash', sa.String), sa.column('anchor_id', sa.Integer),
                sa.column('anchor_hash', sa.String))


def upgrade():
    op.create_table('audit_seals',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('sealed_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('first_event_id', sa.Integer(), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=False),
    sa.Column('newest_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('root', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_seals'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal_id', sa.Integer(), nullable=True))
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.create_index(batch_op.f('ix_audit_events_seal_id'), ['seal_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_audit_events_seal_id_audit_seals'), 'audit_seals',
                                    ['seal_id'], ['id'])
    op.get_bind().execute(sa.update(head).where(head.c.id == 1).values(
        last_id=None, last_hash=GENESIS, anchor_id=None, anchor_hash=GENESIS))


def downgrade():
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
    bind.execute(sa.update(head).where(head.c.id == 1).values(
        last_id=last_id, last_hash=prev, anchor_id=None, anchor_hash=GENESIS))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_events_seal_id_audit_seals'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_audit_events_seal_id'))
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('seal_id')
    op.drop_table('audit_seals')
