"""``flask mail …``: sweep due mails, send a test mail, ingest inbound mail."""

from __future__ import annotations

import sys
from collections import Counter

import click
from flask.cli import AppGroup

from helpdesk.db import unit_of_work
from helpdesk.errors import DomainError
from helpdesk.notify.attachments import import_files, missing_files, sweep_orphans
from helpdesk.notify.inbound import ingest, ingest_path, poll_imap
from helpdesk.notify.mail import mail_counts, queue_email, sweep_mail

mail_cli = AppGroup("mail", help="Outgoing and inbound e-mail.")
storage_cli = AppGroup("storage", help="Stored files: attachments and raw inbound mail.")


@mail_cli.command("sweep")
def sweep_cmd() -> None:
    """Send the mails whose (re)try is due."""
    n = sweep_mail()
    click.echo(f"{n} mail(s) tried; outbox now {mail_counts()}")


@mail_cli.command("send-test")
@click.argument("to")
@click.option("--lang", default="en", type=click.Choice(["en", "es"]))
def send_test_cmd(to: str, lang: str) -> None:
    """Queue a test mail to TO (sent at once when SMTP is configured)."""
    try:
        with unit_of_work():
            mail = queue_email(to=to, kind="test", lang=lang, context={})
    except DomainError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"Mail {mail.id}: {mail.status.value}")


@mail_cli.command("ingest")
@click.argument("source", required=False, default="-")
@click.option("--remove", is_flag=True, help="Delete each message from the Maildir/mbox once ingested.")
def ingest_cmd(source: str, remove: bool) -> None:
    """Ingest inbound mail from SOURCE: a Maildir, an mbox file, one .eml file, or - (stdin)."""
    if source == "-":
        rows = [ingest(sys.stdin.buffer.read(), "cli")]
    else:
        try:
            rows = ingest_path(source, remove=remove)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise click.ClickException(f"Can't read {source}: {type(exc).__name__}") from None
    counts = Counter(r.status.value for r in rows)
    click.echo(f"{len(rows)} message(s): " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))


@mail_cli.command("poll-imap")
def poll_imap_cmd() -> None:
    """Fetch unseen mail from the configured IMAP folder once."""
    click.echo(f"{poll_imap()} message(s) ingested")


@mail_cli.command("sweep-files")
@click.option("--grace-minutes", default=60, show_default=True, type=click.IntRange(0, 10_000),
              help="Keep files younger than this (a transaction may still be recording them).")
def sweep_files_cmd(grace_minutes: int) -> None:
    """Delete stored attachment/raw-mail files that nothing in the database refers to."""
    click.echo(f"{sweep_orphans(grace_seconds=grace_minutes * 60)} unreferenced file(s) removed")


@storage_cli.command("check")
def storage_check_cmd() -> None:
    """List the attachments and inbound mails whose bytes the storage lacks (exit 1 if any)."""
    missing = missing_files()
    for line in missing:
        click.echo(f"missing: {line}")
    click.echo(f"{len(missing)} stored file(s) missing")
    if missing:
        sys.exit(1)


@storage_cli.command("import-files")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def storage_import_cmd(directory: str) -> None:
    """Copy into the storage the files of an old ATTACHMENT_DIR (<sha[:2]>/<sha>) that rows need."""
    copied, missing = import_files(directory)
    click.echo(f"{copied} file(s) copied; {missing} still missing")
