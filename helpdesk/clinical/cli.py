"""flask oncall: the on-call roster of the clinical-escalation queue."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from helpdesk.auth.models import User
from helpdesk.clinical import roster, services
from helpdesk.errors import DomainError
from helpdesk.extensions import db

oncall_cli = AppGroup("oncall", help="The on-call roster of the clinical-escalation queue.")


def _user(email: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No account {email}.")
    return user


def _run(fn):
    try:
        return fn()
    except DomainError as err:
        details = "; ".join(f"{k}: {v}" for k, v in (err.fields or {}).items())
        raise click.ClickException(f"{err.message} {details}".strip()) from None


@oncall_cli.command("list")
def list_cmd() -> None:
    """Every roster member, their duty mode and shifts, and who is on duty now."""
    rows = services.roster_view()
    click.echo(f"Shift hours are local time in {services.site_tz().key}.")
    if not rows:
        click.echo("Nobody is on the roster.")
    for r in rows:
        state = "on duty now" if r["on_duty"] else ("not counted (inactive or not in the queue)"
                                                    if not r["eligible"] else "off duty now")
        click.echo(f"{r['user'].email:<30} duty={r['member'].mode.value:<7} {state}")
        for shift, label in r["shifts"]:
            click.echo(f"    shift {shift.id}: {label}")


@oncall_cli.command("now")
def now_cmd() -> None:
    """Who is on duty right now."""
    people = services.on_duty_now()
    if not people:
        click.echo("Nobody is on duty: a flagged request alerts every supervisor and admin.")
    for u in people:
        click.echo(f"{u.email}  {u.display_name}")


@oncall_cli.command("add")
@click.argument("email")
@click.option("--mode", type=click.Choice(["shifts", "on", "off"]), default="shifts", show_default=True)
def add_cmd(email: str, mode: str) -> None:
    """Put a member of the clinical-escalation queue on the roster."""
    user = _user(email)
    _run(lambda: services.add_to_roster(actor=None, user=user, mode=mode))
    click.echo(f"{user.email} is on the roster (duty: {mode}).")


@oncall_cli.command("remove")
@click.argument("email")
def remove_cmd(email: str) -> None:
    """Take someone off the roster (with their shifts)."""
    user = _user(email)
    _run(lambda: services.remove_from_roster(actor=None, user=user))
    click.echo(f"{user.email} is off the roster.")


@oncall_cli.command("duty")
@click.argument("email")
@click.argument("mode", type=click.Choice(["shifts", "on", "off"]))
def duty_cmd(email: str, mode: str) -> None:
    """Set the duty toggle: on / off whatever the time, or follow the shifts."""
    user = _user(email)
    _run(lambda: services.set_mode(actor=None, user=user, mode=mode))
    click.echo(f"{user.email}: duty {mode}.")


@oncall_cli.command("shift-add")
@click.argument("email")
@click.argument("weekday")
@click.argument("start")
@click.argument("end")
def shift_add_cmd(email: str, weekday: str, start: str, end: str) -> None:
    """Add a weekly shift, e.g. `nurse@example.org fri 22:00 06:00` (past midnight)."""
    user = _user(email)
    shift = _run(lambda: services.add_shift(actor=None, user=user, weekday=weekday, start=start, end=end))
    click.echo(f"Shift {shift.id}: {roster.Shift(shift.weekday, shift.start, shift.end).label()}.")


@oncall_cli.command("shift-remove")
@click.argument("shift_id", type=int)
def shift_remove_cmd(shift_id: int) -> None:
    """Remove a shift by its id (see `flask oncall list`)."""
    _run(lambda: services.remove_shift(actor=None, shift_id=shift_id))
    click.echo(f"Shift {shift_id} removed.")


@oncall_cli.command("sweep")
def sweep_cmd() -> None:
    """Escalate every overdue, unacknowledged alert now (what the scheduler runs every minute)."""
    click.echo(f"{services.sweep()} alert(s) escalated.")
