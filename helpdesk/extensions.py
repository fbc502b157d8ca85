"""Flask extensions, created unbound; ``create_app`` initialises them."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from helpdesk.proxy import rate_limit_key

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay loaded after a commit: a service commits once and the view then renders
# what it just wrote, without a reload query per attribute. Each request has its own
# session, so nothing stale outlives the request.
# Search objects the models cannot describe, made by the migration f6a7b8c9d0e1 (see
# helpdesk.tickets.search): the table ``ticket_search`` (a tsvector table on PostgreSQL,
# an FTS5 virtual table with its shadow tables ``ticket_search_*`` on SQLite), on
# PostgreSQL ``ticket_search_names`` (migration a4d2e6f8b1c3) and the indexes on ``users`` below. ``flask db check`` / autogenerate leave these out.
SEARCH_TABLE = "ticket_search"
SEARCH_INDEXES = frozenset({"ix_users_name_trgm", "ix_users_email_trgm", "ix_users_mrn_upper",
                            "ix_users_name_folded_trgm", "ix_users_name_folded"})
# ... and a column the migration c3d9e7a1f5b2 adds on PostgreSQL: the folded name the name
# search's indexes hold (a stored generated column; nothing in the application writes it)
SEARCH_COLUMNS = frozenset({("users", "name_folded")})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's filter: everything but the search objects above (only as found in the
    database: nothing in the metadata is skipped)."""
    if not reflected:
        return True
    if type_ == "table" and name is not None and (name == SEARCH_TABLE or name.startswith(SEARCH_TABLE + "_")):
        return False
    if type_ == "column" and (getattr(getattr(obj, "table", None), "name", None), name) in SEARCH_COLUMNS:
        return False
    return not (type_ == "index" and name in SEARCH_INDEXES)


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate(compare_type=True, render_as_batch=True, include_object=include_object)
login_manager = LoginManager()
csrf = CSRFProtect()
# keyed by the client's address as resolved behind TRUSTED_PROXIES (helpdesk.proxy)
limiter = Limiter(key_func=rate_limit_key, default_limits=[])
