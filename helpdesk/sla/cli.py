"""flask sla …: the dashboard's summary tables, the sweep, and the business calendars."""

from __future__ import annotations

import json
import sys

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from tqdm import tqdm

from helpdesk.errors import DomainError
from helpdesk.extensions import db
from helpdesk.sla import calendars, policy_admin
from helpdesk.sla.models import SlaCalendar
from helpdesk.sla.rollup import refresh
from helpdesk.sla.services import sweep
from helpdesk.timeutil import utcnow

sla_cli = AppGroup("sla", help="SLA clocks and the supervisors' dashboard.")


@sla_cli.command("rollup")
@click.option("--days", type=int, default=None, help="At most this many days (newest first); all by default.")
def rollup_cmd(days: int | None) -> None:
    """Fill the dashboard's summary tables for finished days that are missing or stale."""
    done = refresh(max_days=days, progress=lambda items: tqdm(items, desc="days", unit="day", file=sys.stderr))
    click.echo(f"{done} day(s) summarised")


@sla_cli.command("sweep")
def sweep_cmd() -> None:
    """Fire the SLA warnings and breaches owed now (what the minute job does)."""
    click.echo(f"{sweep()} SLA event(s) fired")


@sla_cli.command("calendars")
def calendars_cmd() -> None:
    """List the business calendars: name, time zone, holiday presets, policies using each."""
    for cal, used in calendars.all_with_usage():
        presets = ", ".join(cal.spec.get("presets") or []) or "no preset"
        click.echo(f"{cal.id}\t{cal.name}\t{cal.spec['timezone']}\t{presets}, "
                   f"{len(cal.spec.get('holidays') or [])} local holiday(s)\t{used} polic{'y' if used == 1 else 'ies'}")


@sla_cli.command("holidays")
@click.argument("calendar")
@click.option("--year", type=int, default=None, help="The year to list (this year by default).")
def holidays_cmd(calendar: str, year: int | None) -> None:
    """The holidays of CALENDAR (its id or name) in a year, with where each comes from."""
    row = db.session.scalar(sa.select(SlaCalendar).where(
        SlaCalendar.id == int(calendar) if calendar.isdigit() else SlaCalendar.name == calendar))
    if row is None:
        raise click.ClickException(f"no calendar {calendar!r}: see `flask sla calendars`")
    for day, name in calendars.holidays_in(row.spec, year or utcnow().year):
        click.echo(f"{day.isoformat()}\t{day.strftime('%a')}\t{name}")


@sla_cli.command("policies")
def policies_cmd() -> None:
    """List the SLA policies by position: id, name, current version, queue, priority, state."""
    for p in policy_admin.all_policies():
        click.echo(f"{p.id}\t{p.position}\t{p.name}\tv{p.version}\tqueue={p.queue_id or '*'}\t"
                   f"priority={p.priority or '*'}\t{'active' if p.active else 'inactive'}")


@sla_cli.command("policy-show")
@click.argument("policy_id", type=int)
def policy_show_cmd(policy_id: int) -> None:
    """Print POLICY_ID as JSON (the form `flask sla policy-save` reads)."""
    try:
        policy = policy_admin.get_policy(policy_id)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    out = policy_admin.policy_out(policy)
    click.echo(json.dumps({k: v for k, v in out.items() if k not in ("id", "version")}, indent=2, sort_keys=True))


@sla_cli.command("policy-save")
@click.argument("file", type=click.File("r"))
@click.option("--id", "policy_id", type=int, default=None, help="Edit this policy (its next version); else create one.")
def policy_save_cmd(file, policy_id: int | None) -> None:
    """Create or edit a policy from a JSON FILE (`-` for standard input), as the API takes it."""
    try:
        data = json.load(file)
    except ValueError as err:
        raise click.ClickException(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise click.ClickException("the file must hold one JSON object")
    try:
        if policy_id is None:
            policy = policy_admin.create_policy(actor_id=None, data=data)
        else:
            policy = policy_admin.update_policy(actor_id=None, policy=policy_admin.get_policy(policy_id), data=data)
    except DomainError as err:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (err.fields or {}).items())
        raise click.ClickException(f"{err.message} {details}".strip()) from None
    click.echo(f"policy {policy.id} {policy.name!r} saved as version {policy.version}")
