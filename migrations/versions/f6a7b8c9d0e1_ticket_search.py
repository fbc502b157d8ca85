"""ticket search: a search document per ticket, name/e-mail/MRN indexes

PostgreSQL: the extensions unaccent, pg_trgm and fuzzystrmatch (trusted extensions: the
database owner may create them); ``helpdesk_fold`` (lower + unaccent, IMMUTABLE so that
indexes can use it), ``helpdesk_search_text`` (folded words only) and ``helpdesk_name_match`` (a typo-tolerant name word test); the
table ``ticket_search`` (ticket_id, doc tsvector) with a GIN index; trigram GIN indexes
on the folded display name and the lower-cased e-mail of users, a btree on upper(mrn).
SQLite: ``ticket_search`` is an FTS5 virtual table (subject, public, notes) of Snowball
stems computed in Python. Both backfill every existing ticket.

These objects are not in the models' metadata (a tsvector table / an FTS5 table and
expression indexes): ``helpdesk.extensions.include_object`` leaves them out of
``flask db check``.

Revision ID: f6a7b8c9d0e1
Revises: f4a1b2c3d4e5
Create Date: 2026-12-08 10:00:00

"""
from alembic import op
import sqlalchemy as sa

from helpdesk.tickets import search_text


# revision identifiers, used by Alembic.
revision = 'f6a7b8c9d0e1'
down_revision = 'f4a1b2c3d4e5'
branch_labels = None
depends_on = None

PG_UP = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS fuzzystrmatch",
    """CREATE OR REPLACE FUNCTION helpdesk_fold(text) RETURNS text
       LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
       AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$""",
    # the words only, as helpdesk.tickets.search_text.words sees them: PostgreSQL's parser would
    # otherwise read tags (and skip what is inside <script>), e-mails, URLs and paths as tokens
    """CREATE OR REPLACE FUNCTION helpdesk_search_text(text) RETURNS text
       LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
       AS $$ SELECT regexp_replace(helpdesk_fold($1), '\\W+', ' ', 'g') $$""",
    # the same rule as helpdesk.tickets.search_text.name_match (after the trigram candidate test)
    """CREATE OR REPLACE FUNCTION helpdesk_name_match(word text, name text) RETURNS boolean
       LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
       AS $$
         SELECT EXISTS (
           SELECT 1 FROM regexp_split_to_table(name, '\\W+') AS part
           WHERE part <> '' AND (
             starts_with(part, word)
             OR (length(word) > 3
                 AND abs(length(part) - length(word)) <= CASE WHEN length(word) <= 6 THEN 1 ELSE 2 END
                 AND public.levenshtein(part, word) <= CASE WHEN length(word) <= 6 THEN 1 ELSE 2 END)))
       $$""",
    """CREATE TABLE ticket_search (
         ticket_id integer NOT NULL,
         doc tsvector NOT NULL,
         CONSTRAINT pk_ticket_search PRIMARY KEY (ticket_id),
         CONSTRAINT fk_ticket_search_ticket_id_tickets FOREIGN KEY (ticket_id)
           REFERENCES tickets (id) ON DELETE CASCADE)""",
    # the same statement as helpdesk.tickets.search._PG_REINDEX, for every ticket
    """INSERT INTO ticket_search (ticket_id, doc)
       SELECT t.id,
              setweight(to_tsvector('english', helpdesk_search_text(t.subject)), 'A')
           || setweight(to_tsvector('spanish', helpdesk_search_text(t.subject)), 'A')
           || setweight(to_tsvector('english', helpdesk_search_text(coalesce(m.pub, ''))), 'B')
           || setweight(to_tsvector('spanish', helpdesk_search_text(coalesce(m.pub, ''))), 'B')
           || setweight(to_tsvector('english', helpdesk_search_text(coalesce(m.notes, ''))), 'D')
           || setweight(to_tsvector('spanish', helpdesk_search_text(coalesce(m.notes, ''))), 'D')
       FROM tickets t
       LEFT JOIN LATERAL (
           SELECT string_agg(CASE WHEN m.public THEN coalesce(v.body, m.body) END, E'\\n') AS pub,
                  string_agg(CASE WHEN NOT m.public THEN coalesce(v.body, m.body) END, E'\\n') AS notes
           FROM messages m
           LEFT JOIN LATERAL (SELECT mv.body FROM message_versions mv WHERE mv.message_id = m.id
                              ORDER BY mv.version DESC LIMIT 1) v ON true
           WHERE m.ticket_id = t.id
       ) m ON true""",
    # fastupdate off: a search never scans a GIN pending list (up to 4 MB, ~10 ms a query at
    # 100,000 tickets until a vacuum merges it); each write updates the index at once instead
    "CREATE INDEX ix_ticket_search_doc ON ticket_search USING gin (doc) WITH (fastupdate = off)",
    "CREATE INDEX ix_users_name_trgm ON users USING gin (helpdesk_fold(display_name) gin_trgm_ops) "
    "WITH (fastupdate = off)",
    "CREATE INDEX ix_users_email_trgm ON users USING gin (lower(email) gin_trgm_ops) WITH (fastupdate = off)",
    "CREATE INDEX ix_users_mrn_upper ON users (upper(mrn))",
]

PG_DOWN = [
    "DROP INDEX IF EXISTS ix_users_mrn_upper",
    "DROP INDEX IF EXISTS ix_users_email_trgm",
    "DROP INDEX IF EXISTS ix_users_name_trgm",
    "DROP TABLE IF EXISTS ticket_search",
    "DROP FUNCTION IF EXISTS helpdesk_name_match(text, text)",
    "DROP FUNCTION IF EXISTS helpdesk_search_text(text)",
    "DROP FUNCTION IF EXISTS helpdesk_fold(text)",
]

SQLITE_DOCUMENTS = """
SELECT t.id, t.subject, m.public,
       coalesce((SELECT mv.body FROM message_versions mv WHERE mv.message_id = m.id
                 ORDER BY mv.version DESC LIMIT 1), m.body)
FROM tickets t LEFT JOIN messages m ON m.ticket_id = t.id
ORDER BY t.id, m.created_at, m.id
"""


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for statement in PG_UP:
            op.execute(statement)
        return
    op.execute("CREATE VIRTUAL TABLE ticket_search USING fts5("
               "subject, public, notes, tokenize = 'unicode61 remove_diacritics 2')")
    docs: dict[int, list] = {}
    for ticket_id, subject, public, body in bind.execute(sa.text(SQLITE_DOCUMENTS)):
        doc = docs.setdefault(ticket_id, [subject, [], []])
        if body is not None:
            doc[1 if public else 2].append(body)
    insert = sa.text("INSERT INTO ticket_search (rowid, subject, public, notes) VALUES (:id, :s, :p, :n)")
    for ticket_id, (subject, public, notes) in docs.items():
        bind.execute(insert, {"id": ticket_id, "s": search_text.index_text(subject),
                              "p": search_text.index_text("\n".join(public)),
                              "n": search_text.index_text("\n".join(notes))})


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWN:
            op.execute(statement)
        return
    op.execute("DROP TABLE IF EXISTS ticket_search")
