"""flask sla …: the dashboard's summary tables, the sweep, and the business calendars."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from tqdm import tqdm

from helpdesk.extensions import db
from helpdesk.sla import calendars
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
