"""``flask patients`` and ``flask queues``: the admin pages' jobs on the command line.

Thin commands over the services the pages and the API call (``helpdesk.admin.patients``,
``helpdesk.auth.services``, ``helpdesk.sla.policy_admin``), so the rules and the audit
rows are the same; the actor is the system, or the admin named by ``--as``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from helpdesk.admin import patients as accounts
from helpdesk.auth import services
from helpdesk.auth.models import User
from helpdesk.cliutil import ROW_ID, acting_admin, as_option, fail
from helpdesk.errors import DomainError
from helpdesk.extensions import db
from helpdesk.retention import services as retention
from helpdesk.sla import policy_admin
from helpdesk.sla.models import SlaCalendar, SlaPolicy
from helpdesk.tickets.models import Assignment, Queue, QueueMembership
from helpdesk.urls import MAX_ID

patients_cli = AppGroup("patients", help="Patient accounts: find, view, unlock, reset, (de)activate, merge.")
queues_cli = AppGroup("queues", help="Queue settings: name, calendar, default SLA policy, assignment, active.")


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def _state(user: User) -> str:
    if user.merged_into_id is not None:
        return f"merged into {user.merged_into_id}"
    return "active" if user.active else "deactivated"


def _patient(user_id: int) -> User:
    try:
        return accounts.get_patient(user_id)
    except DomainError as err:
        fail(err)


# ---------------------------------------------------------------- patients


@patients_cli.command("search")
@click.argument("text", default="")
@click.option("--birth-date", default=None, metavar="YYYY-MM-DD", help="Date of birth (exact).")
@click.option("--after", type=click.IntRange(0, MAX_ID), default=None, help="The next page: the id printed after 'more:'.")
@as_option
def search_cmd(text: str, birth_date: str | None, after: int | None, as_email: str | None) -> None:
    """Find patient accounts by TEXT (any part of the name or e-mail address, a medical record
    number, an external id as VALUE or SYSTEM:VALUE) and/or --birth-date. Audited, with the ids shown."""
    actor = acting_admin(as_email)
    born = None
    if birth_date:
        try:
            born = date.fromisoformat(birth_date.strip())
        except ValueError:
            raise click.ClickException("Write the date of birth as YYYY-MM-DD.") from None
    query = accounts.Query(text, born)
    if query.empty:
        raise click.ClickException("Give TEXT to search for, --birth-date, or both.")
    try:
        rows, next_after = accounts.search(query, actor_id=actor.id if actor else None, after=after)
    except DomainError as err:
        fail(err)
    for u in rows:
        click.echo(f"{u.id}\t{_state(u)}\t{u.email}\t{u.display_name}")
    click.echo(f"{len(rows)} account(s)" + (f"; more: --after {next_after}" if next_after else ""))


@patients_cli.command("show")
@click.argument("user_id", type=ROW_ID)
@as_option
def show_cmd(user_id: int, as_email: str | None) -> None:
    """One account: state, verification, lock-out, sessions, identifiers, requests and
    sign-in history (an audited read, as the account page)."""
    actor = acting_admin(as_email)
    info = accounts.overview(_patient(user_id), actor_id=actor.id if actor else None)
    u = info.user
    click.echo(f"{u.id}\t{u.display_name} <{u.email}>")
    click.echo(f"state: {_state(u)}")
    click.echo(f"e-mail: {'confirmed' if u.email_verified else 'not confirmed yet'}")
    click.echo(f"two-step sign-in: {'on' if u.mfa_enabled else 'off'}")
    click.echo(f"password: {'set' if u.password_hash else 'none (the patient must use a reset link)'}")
    if info.locked_until:
        lock = f"locked until {_when(info.locked_until)}"
    elif info.recent_failures:
        lock = f"{info.recent_failures} failed sign-in(s) counted, not locked"
    else:
        lock = "not locked"
    click.echo(f"lock-out: {lock}")
    click.echo(f"signed in now: {info.open_sessions} session(s)")
    click.echo("external ids: " + (", ".join(f"{i.system}:{i.value}" for i in info.identifiers) or "none"))
    click.echo(f"account made: {_when(u.created_at)}")
    if info.merged_from:
        click.echo("merged into this account: " + ", ".join(f"{m.id} <{m.email}>" for m in info.merged_from))
    holds = retention.holds_for_patient(u)
    click.echo(f"legal holds: {len(holds)}")
    click.echo(f"requests ({len(info.requests)}):")
    for t in info.requests:
        click.echo(f"  {t.reference}\t{t.status.value}\t{_when(t.created_at)}")
    click.echo(f"sign-in history ({len(info.events)}):")
    for e in info.events:
        click.echo(f"  {_when(e.created_at)}\t{e.action.split('.', 1)[1].replace('_', ' ')}\t{e.ip or ''}")


def _fix(user_id: int, as_email: str | None, action) -> User:
    """An everyday fix on a live (not merged) account, through its service."""
    actor = acting_admin(as_email)
    user = _patient(user_id)
    try:
        accounts.not_merged(user)
        action(actor, user)
    except DomainError as err:
        fail(err)
    return user


@patients_cli.command("unlock")
@click.argument("user_id", type=ROW_ID)
@as_option
def unlock_cmd(user_id: int, as_email: str | None) -> None:
    """Forget the failed sign-ins that locked the account."""
    user = _fix(user_id, as_email, lambda actor, u: accounts.unlock(actor=actor, user=u))
    click.echo(f"Unlocked {user.id}: the failed sign-ins on this account are forgotten.")


@patients_cli.command("reset-password")
@click.argument("user_id", type=ROW_ID)
@as_option
def reset_password_cmd(user_id: int, as_email: str | None) -> None:
    """The password stops working now, every session ends, and a reset link is e-mailed
    (with a mail server; without one it stays unsent in the outbox)."""
    user = _fix(user_id, as_email, lambda actor, u: accounts.force_password_reset(actor=actor, user=u))
    click.echo(f"Password reset forced for {user.id}: sessions ended, {accounts.reset_link_outcome()}.")


@patients_cli.command("deactivate")
@click.argument("user_id", type=ROW_ID)
@as_option
def deactivate_cmd(user_id: int, as_email: str | None) -> None:
    """The account can't sign in; its sessions end."""
    user = _fix(user_id, as_email, lambda actor, u: services.set_active(actor=actor, user=u, active=False))
    click.echo(f"Deactivated {user.id}: its sessions have ended and it can't sign in.")


@patients_cli.command("reactivate")
@click.argument("user_id", type=ROW_ID)
@as_option
def reactivate_cmd(user_id: int, as_email: str | None) -> None:
    """The account can sign in again."""
    user = _fix(user_id, as_email, lambda actor, u: services.set_active(actor=actor, user=u, active=True))
    click.echo(f"Reactivated {user.id}.")


@patients_cli.command("merge")
@click.argument("duplicate_id", type=ROW_ID)
@click.argument("survivor_id", type=ROW_ID)
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
@as_option
def merge_cmd(duplicate_id: int, survivor_id: int, yes: bool, as_email: str | None) -> None:
    """Fold DUPLICATE_ID into SURVIVOR_ID: its requests, messages and the rest move there; the
    duplicate stays as a deactivated tombstone pointing to the survivor. Cannot be undone."""
    actor = acting_admin(as_email)
    duplicate, survivor = _patient(duplicate_id), _patient(survivor_id)
    if not yes:
        click.confirm(f"Merge {duplicate.id} <{duplicate.email}> into {survivor.id} <{survivor.email}>? "
                      "This cannot be undone", abort=True)
    try:
        moved = accounts.merge(actor=actor, duplicate=duplicate, survivor=survivor)
    except DomainError as err:
        fail(err)
    click.echo(f"Merged {duplicate_id} into {survivor_id}; {duplicate_id} is deactivated and points to {survivor_id}.")
    for column, count in sorted(moved.items()):
        click.echo(f"  {column}: {count} moved")
    if not moved:
        click.echo("  nothing to move")


# ---------------------------------------------------------------- queues


@queues_cli.command("list")
def list_cmd() -> None:
    """Every queue: slug, name, active, calendar, default SLA policy, assignment, members."""
    members = dict(db.session.execute(sa.select(QueueMembership.queue_id, sa.func.count())
                                      .group_by(QueueMembership.queue_id)).all())
    calendar_names = dict(db.session.execute(sa.select(SlaCalendar.id, SlaCalendar.name)).all())
    policy_names = dict(db.session.execute(sa.select(SlaPolicy.id, SlaPolicy.name)).all())
    for queue in db.session.scalars(sa.select(Queue).order_by(Queue.slug)):
        s = policy_admin.queue_settings(queue)
        cal = f"{s['calendar_id']} {calendar_names[s['calendar_id']]}" if s["calendar_id"] else "-"
        pol = f"{s['default_policy_id']} {policy_names[s['default_policy_id']]}" if s["default_policy_id"] else "-"
        click.echo(f"{queue.slug}\t{queue.name}\t{'active' if queue.active else 'inactive'}\tcalendar={cal}\t"
                   f"policy={pol}\tassignment={s['assignment']}\tmembers={members.get(queue.id, 0)}")


def _id_or_none(value: str | None, what: str) -> Any:
    """--calendar / --policy: an id, or 'none'; the service checks that it exists."""
    if value.strip().lower() == "none":
        return None
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_ID:
        raise click.ClickException(f"--{what}: an id as listed, or none.")
    return int(value)


@queues_cli.command("set")
@click.argument("slug")
@click.option("--name", default=None, help="The queue's name (English).")
@click.option("--name-es", default=None, help="Its Spanish name ('' removes it).")
@click.option("--calendar", default=None, metavar="ID|none", help="Business calendar (`flask sla calendars`).")
@click.option("--policy", default=None, metavar="ID|none", help="Default SLA policy (`flask sla policies`).")
@click.option("--assignment", type=click.Choice([a.value for a in Assignment]), default=None,
              help="How new requests are assigned within the queue.")
@click.option("--active/--inactive", default=None, help="Take new requests or not.")
@as_option
def set_cmd(slug: str, name: str | None, name_es: str | None, calendar: str | None, policy: str | None,
            assignment: str | None, active: bool | None, as_email: str | None) -> None:
    """Change SLUG's settings; what is not given stays as it is (one audit row, as the page)."""
    actor = acting_admin(as_email)
    queue = db.session.scalar(sa.select(Queue).where(Queue.slug == slug.strip().lower()))
    if queue is None:
        raise click.ClickException(f"No queue '{slug}': see `flask queues list`.")
    current = policy_admin.queue_settings(queue)
    data = {"name": current["name"] if name is None else name,
            "name_es": current["name_es"] if name_es is None else name_es,
            "calendar_id": current["calendar_id"] if calendar is None else _id_or_none(calendar, "calendar"),
            "default_policy_id": current["default_policy_id"] if policy is None else _id_or_none(policy, "policy"),
            "assignment": current["assignment"] if assignment is None else assignment,
            "active": current["active"] if active is None else active}
    try:
        after = policy_admin.update_queue_settings(actor=actor, queue=queue, data=data)
    except DomainError as err:
        fail(err)
    changed = ", ".join(k for k in ("name", "name_es", "calendar_id", "default_policy_id", "assignment", "active")
                        if after[k] != current[k])
    click.echo(f"{queue.slug}: saved ({changed}).")
