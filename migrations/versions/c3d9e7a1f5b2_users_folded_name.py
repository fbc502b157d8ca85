"""users: the folded name, stored, for the name search (PostgreSQL)

The name search takes its candidates from a trigram index, and PostgreSQL rechecks each
candidate against the indexed value. With the index on ``helpdesk_fold(display_name)``
that recheck folded every candidate's name again (``unaccent``: most of a name search's
time at a million tickets). ``users.name_folded`` is that value, computed once when the
name is written (a stored generated column: nothing in the application writes it), and
``ix_users_name_folded_trgm`` replaces ``ix_users_name_trgm``; a B-tree on it (with
the id and role) finds the patients of a matched name without reading the table. Not in the models (``helpdesk.extensions``:
``flask db check`` leaves it out). SQLite: nothing (the name check runs in Python).

Rewrites ``users`` once (a few seconds for 100,000 accounts).

Revision ID: c3d9e7a1f5b2
Revises: 79a09f06b38c
Create Date: 2026-12-07 06:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c3d9e7a1f5b2'
down_revision = '79a09f06b38c'
branch_labels = None
depends_on = None

PG_UP = [
    "ALTER TABLE users ADD COLUMN name_folded text GENERATED ALWAYS AS (helpdesk_fold(display_name)) STORED",
    "CREATE INDEX ix_users_name_folded_trgm ON users USING gin (name_folded gin_trgm_ops) WITH (fastupdate = off)",
    # the patients of a matched name without reading the table (index-only: id and role)
    "CREATE INDEX ix_users_name_folded ON users (name_folded) INCLUDE (id, role)",
    "DROP INDEX IF EXISTS ix_users_name_trgm",
    # the new column's statistics now (not at the next autovacuum): without them the planner
    # expects every patient to match a name, and reads every ticket to join them
    "ANALYZE users",
]

PG_DOWN = [
    "CREATE INDEX IF NOT EXISTS ix_users_name_trgm ON users USING gin (helpdesk_fold(display_name) gin_trgm_ops) "
    "WITH (fastupdate = off)",
    "DROP INDEX IF EXISTS ix_users_name_folded",
    "DROP INDEX IF EXISTS ix_users_name_folded_trgm",
    "ALTER TABLE users DROP COLUMN IF EXISTS name_folded",
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UP:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWN:
            op.execute(statement)
