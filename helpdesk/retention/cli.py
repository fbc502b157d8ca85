"""``flask retention``: show and set the periods, and run the retention job by hand."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from tqdm import tqdm

from helpdesk.errors import DomainError
from helpdesk.retention import services

retention_cli = AppGroup("retention", help="Retention periods and the purge job.")


@retention_cli.command("show")
def show_cmd() -> None:
    """Each kind with its period (or 'kept: no period set')."""
    for kind, days in services.policies().items():
        click.echo(f"{kind}: {'kept: no period set' if days is None else f'{days} days'}")


@retention_cli.command("set")
@click.argument("kind", type=click.Choice(list(services.KINDS)))
@click.argument("days")
def set_cmd(kind: str, days: str) -> None:
    """Set KIND's period to DAYS (a whole number), or 'off' for no period (audited)."""
    try:
        changed = services.set_policy(actor_id=None, kind=kind, days=services.parse_days(days), via="cli")
    except DomainError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"{kind}: {'set' if changed else 'unchanged'} ({days}).")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what a run would purge now.")
@click.option("--batch-size", default=services.BATCH, show_default=True, type=click.IntRange(1, 10_000))
def run_cmd(dry_run: bool, batch_size: int) -> None:
    """Purge (or with --dry-run count) what is past its period; prints the counts per kind."""
    bars: dict[str, tqdm] = {}

    def progress(kind: str, done: int, total: int) -> None:
        bar = bars.get(kind)
        if bar is None:
            bar = bars[kind] = tqdm(total=total, desc=kind, unit="item", file=sys.stderr, disable=None)
        bar.total = total
        bar.update(done - bar.n)

    try:
        result = services.run(dry_run=dry_run, via="cli", progress=progress, batch_size=batch_size)
    finally:
        for bar in bars.values():
            bar.close()
    verb = "would be purged" if dry_run else "purged"
    for kind, count in result.counts.items():
        click.echo(f"{kind}: " + ("no period set, nothing purged" if count is None else f"{count} {verb}"))
    if not dry_run:
        click.echo(f"stored files deleted: {result.blobs_deleted}")
    click.echo(f"run {result.run_id} recorded.")
