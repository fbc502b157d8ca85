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
    """Walk the sealed batches in order, then the events not sealed yet; exit 1 at the
    first break, naming the batch (and the event when its own fields changed)."""
    total = audit.events_to_verify()
    with tqdm(total=total, unit="event", file=sys.stderr, desc="verifying", disable=None) as bar:
        result = audit.verify(batch_size=batch_size, progress=bar.update)
    if result.ok:
        click.echo(f"{result.checked} event(s) checked; the chain is intact. Head hash: {result.head_hash}")
        if result.pending:
            click.echo(f"{result.pending} event(s) not sealed yet (each matches its own hash; "
                       "the periodic seal chains them within seconds).")
        return
    click.echo(f"{result.checked} event(s) checked before the first break.")
    if result.broken_id is not None:
        where = f" (batch {result.broken_batch})" if result.broken_batch is not None else ""
        click.echo(f"Broken at event id {result.broken_id}{where}: {result.reason}", err=True)
    else:
        click.echo(f"Broken batch {result.broken_batch}: {result.reason}", err=True)
    sys.exit(1)


@audit_cli.command("seal")
def seal_cmd() -> None:
    """Seal the events not sealed yet now (the scheduler does it every second)."""
    result = audit.seal()
    click.echo(f"{result.events} event(s) sealed in {result.batches} batch(es).")


@audit_cli.command("prune")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def prune_cmd(batch_size: int) -> None:
    """Delete events older than AUDIT_RETENTION_DAYS (from the start of the log)."""
    days = current_app.config["HELPDESK"].audit_retention_days
    result = audit.prune(retention_days=days, batch_size=batch_size)
    click.echo(f"{result.deleted} event(s) older than {days} days (before {result.cutoff:%Y-%m-%d %H:%M} UTC) deleted.")
    if result.anchor_id is not None:
        click.echo(f"The chain now starts after event id {result.anchor_id}.")
