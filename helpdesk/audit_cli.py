"""``flask audit verify`` and ``flask audit prune``."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from tqdm import tqdm

from helpdesk import audit

audit_cli = AppGroup("audit", help="Check and prune the audit log.")


@audit_cli.command("verify")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def verify_cmd(batch_size: int) -> None:
    """Walk the hash chain in id order; exit 1 at the first broken link."""
    total = audit.events_to_verify()
    with tqdm(total=total, unit="event", file=sys.stderr, desc="verifying", disable=None) as bar:
        result = audit.verify(batch_size=batch_size, progress=bar.update)
    if result.ok:
        click.echo(f"{result.checked} event(s) checked; the chain is intact. Head hash: {result.head_hash}")
        return
    click.echo(f"{result.checked} event(s) checked before the first broken link.")
    click.echo(f"Broken link at event id {result.broken_id}: {result.reason}", err=True)
    sys.exit(1)


@audit_cli.command("prune")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def prune_cmd(batch_size: int) -> None:
    """Delete events older than AUDIT_RETENTION_DAYS (from the start of the log)."""
    days = current_app.config["HELPDESK"].audit_retention_days
    result = audit.prune(retention_days=days, batch_size=batch_size)
    click.echo(f"{result.deleted} event(s) older than {days} days (before {result.cutoff:%Y-%m-%d %H:%M} UTC) deleted.")
    if result.anchor_id is not None:
        click.echo(f"The chain now starts after event id {result.anchor_id}.")
