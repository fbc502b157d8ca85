"""flask sla …: materialise the dashboard's daily summary tables."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from tqdm import tqdm

from helpdesk.sla.rollup import refresh
from helpdesk.sla.services import sweep

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
