"""ticket search: the distinct folded names of patients, for the name search (PostgreSQL)

The name search's candidates come from a trigram index, which PostgreSQL must recheck
against each candidate's row. On ``users`` (wide rows, one per patient) that recheck
read thousands of rows for a common surname, most of them sharing a handful of names.
``ticket_search_names`` holds each distinct folded name of a patient once
(``name_folded``), with how many patients bear it (``patients``), in narrow rows with
their own trigram index: the candidates are read there, and the patients of the matched
names are then found through ``ix_users_name_folded`` as before. Kept exact by triggers
on ``users`` (a patient created, renamed, deleted or given another role: the count moves
under the name's row lock, and a name no patient bears any more is deleted, so no
name outlives its patients). Not in the models (the ``ticket_search*`` tables are left
out of ``flask db check``, ``helpdesk.extensions``). SQLite: nothing (the name check
runs in Python).

Revision ID: a4d2e6f8b1c3
Revises: 9b1f3c5d7e20
Create Date: 2026-12-07 08:25:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a4d2e6f8b1c3'
down_revision = '9b1f3c5d7e20'
branch_labels = None
depends_on = None

PG_UP = [
    """CREATE TABLE ticket_search_names (
         name_folded text NOT NULL,
         patients integer NOT NULL,
         CONSTRAINT pk_ticket_search_names PRIMARY KEY (name_folded)
       )""",
    """INSERT INTO ticket_search_names (name_folded, patients)
       SELECT name_folded, count(*) FROM users WHERE role = 'patient' AND name_folded IS NOT NULL
       GROUP BY name_folded""",
    "CREATE INDEX ix_ticket_search_names_trgm ON ticket_search_names USING gin (name_folded gin_trgm_ops) "
    "WITH (fastupdate = off)",
    """CREATE OR REPLACE FUNCTION helpdesk_ticket_search_names() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.role = 'patient' AND OLD.name_folded IS NOT NULL THEN
           UPDATE ticket_search_names SET patients = patients - 1 WHERE name_folded = OLD.name_folded;
           DELETE FROM ticket_search_names WHERE name_folded = OLD.name_folded AND patients <= 0;
         END IF;
         IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.role = 'patient' AND NEW.name_folded IS NOT NULL THEN
           INSERT INTO ticket_search_names (name_folded, patients) VALUES (NEW.name_folded, 1)
           ON CONFLICT (name_folded) DO UPDATE SET patients = ticket_search_names.patients + 1;
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER tr_users_search_names AFTER INSERT OR DELETE ON users
       FOR EACH ROW EXECUTE FUNCTION helpdesk_ticket_search_names()""",
    """CREATE TRIGGER tr_users_search_names_update AFTER UPDATE OF display_name, role ON users
       FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.role IS DISTINCT FROM NEW.role)
       EXECUTE FUNCTION helpdesk_ticket_search_names()""",
]

PG_DOWN = [
    "DROP TRIGGER IF EXISTS tr_users_search_names_update ON users",
    "DROP TRIGGER IF EXISTS tr_users_search_names ON users",
    "DROP FUNCTION IF EXISTS helpdesk_ticket_search_names()",
    "DROP TABLE IF EXISTS ticket_search_names",
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UP:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWN:
            op.execute(statement)
