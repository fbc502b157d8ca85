"""What the admin commands share: who acts (the system, or an admin named by ``--as``) and
how a service's refusal reads on the command line.

A command calls the same service as the admin page and the API; without ``--as`` the
actor is the system (``None``, as every ``flask`` command), so the audit rows it writes
have no actor. ``--as EMAIL`` names an active admin instead: the rows then name them, as
when they use the page.
"""

from __future__ import annotations

from typing import NoReturn

import click
import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.errors import DomainError
from helpdesk.extensions import db
from helpdesk.permissions import can_manage_accounts
from helpdesk.urls import MAX_ID

#: A row id as the commands take it: what the database's integer ids hold (as the API's routes).
ROW_ID = click.IntRange(1, MAX_ID)

as_option = click.option("--as", "as_email", default=None, metavar="EMAIL",
                         help="Act as this admin (the audit rows name them); the system by default.")


def acting_admin(as_email: str | None) -> User | None:
    """The admin named by ``--as`` (None: the system). A ClickException for anyone else."""
    if as_email is None:
        return None
    user = db.session.scalar(sa.select(User).where(User.email == as_email.strip().lower()))
    if user is None or not can_manage_accounts(user):
        raise click.ClickException(f"--as {as_email}: no active admin account has that address.")
    return user


def fail(err: DomainError) -> NoReturn:
    """A service's refusal as a ClickException (exit 1): its message and the fields at fault."""
    parts = []
    for field, msgs in (err.fields or {}).items():
        text = " ".join(str(m) for m in msgs) if isinstance(msgs, list) else str(msgs)
        parts.append(f"{field}: {text}")
    raise click.ClickException(" ".join([err.message, "; ".join(parts)]).strip()) from None
