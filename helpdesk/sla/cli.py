"""flask sla …: the dashboard's summary tables, the sweep, and the business calendars."""

from __future__ import annotations

import json
import sys

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from tqdm import tqdm

from helpdesk.cliutil import ROW_ID, acting_admin, as_option, fail
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


CALENDAR_KEYS = ("name", "timezone", "hours", "presets", "holidays")


@sla_cli.command("calendar-show")
@click.argument("calendar_id", type=ROW_ID)
def calendar_show_cmd(calendar_id: int) -> None:
    """Print CALENDAR_ID as JSON (the form `flask sla calendar-save` reads)."""
    try:
        cal = calendars.get(calendar_id)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    spec = cal.spec
    click.echo(json.dumps({"name": cal.name, "timezone": spec["timezone"], "hours": spec.get("hours", {}),
                           "presets": list(spec.get("presets") or []), "holidays": list(spec.get("holidays") or [])},
                          indent=2))


@sla_cli.command("calendar-save")
@click.argument("file", type=click.File("r"))
@click.option("--id", "calendar_id", type=ROW_ID, default=None, help="Edit this calendar; else create one.")
@as_option
def calendar_save_cmd(file, calendar_id: int | None, as_email: str | None) -> None:
    """Create or edit a business calendar from a JSON FILE (`-` for standard input): name,
    timezone (IANA), hours per weekday ({"mon": [["08:00", "18:00"]], …}; a missing day is
    closed), presets (e.g. ["us-federal"]) and local holidays (["2027-12-24", …]). Audited."""
    actor = acting_admin(as_email)
    try:
        data = json.load(file)
    except ValueError as err:
        raise click.ClickException(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise click.ClickException("the file must hold one JSON object")
    unknown = sorted(set(data) - set(CALENDAR_KEYS))
    if unknown:
        raise click.ClickException(f"unknown field(s): {', '.join(unknown)}; the fields are {', '.join(CALENDAR_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str):
        raise click.ClickException("name: give the calendar a name.")
    spec = {k: data[k] for k in ("timezone", "hours", "presets", "holidays") if k in data}
    try:
        if calendar_id is None:
            cal = calendars.create(actor_id=actor.id if actor else None, name=name, spec=spec)
        else:
            cal = calendars.update(actor_id=actor.id if actor else None, calendar=calendars.get(calendar_id),
                                   name=name, spec=spec)
    except DomainError as err:
        fail(err)
    click.echo(f"calendar {cal.id} {cal.name!r} saved ({cal.spec['timezone']})")
