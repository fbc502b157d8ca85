"""ticket search: the ticket's queue and status on its search document (PostgreSQL)

So that a search applies the agent's queues and the status filter inside the text
query, and takes the newest matches from the search table alone (``ticket_id``
order) before ranking them: ``ticket_search.queue_id`` and ``ticket_search.status``,
copies of the ticket's, written by ``helpdesk.tickets.search.reindex`` and kept in step
by a trigger on ``tickets`` (every path that moves a ticket or changes its status,
bulk actions and merges included; a HOT update: neither column is indexed).
SQLite: nothing (the FTS5 table is unchanged).

Revision ID: 581e25c87265
Revises: 1df631b89552
Create Date: 2026-12-07 02:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '581e25c87265'
down_revision = '1df631b89552'
branch_labels = None
depends_on = None

PG_UP = [
    "ALTER TABLE ticket_search ADD COLUMN queue_id integer, ADD COLUMN status varchar(24)",
    "UPDATE ticket_search s SET queue_id = t.queue_id, status = t.status FROM tickets t WHERE t.id = s.ticket_id",
    "ALTER TABLE ticket_search ALTER COLUMN queue_id SET NOT NULL, ALTER COLUMN status SET NOT NULL",
    """CREATE OR REPLACE FUNCTION helpdesk_ticket_search_scope() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE ticket_search SET queue_id = NEW.queue_id, status = NEW.status WHERE ticket_id = NEW.id;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER tr_tickets_search_scope AFTER UPDATE OF queue_id, status ON tickets
       FOR EACH ROW WHEN (OLD.queue_id IS DISTINCT FROM NEW.queue_id OR OLD.status IS DISTINCT FROM NEW.status)
       EXECUTE FUNCTION helpdesk_ticket_search_scope()""",
]

PG_DOWN = [
    "DROP TRIGGER IF EXISTS tr_tickets_search_scope ON tickets",
    "DROP FUNCTION IF EXISTS helpdesk_ticket_search_scope()",
    "ALTER TABLE ticket_search DROP COLUMN IF EXISTS status, DROP COLUMN IF EXISTS queue_id",
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UP:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWN:
            op.execute(statement)
