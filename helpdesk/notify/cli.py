"""``flask mail …``: sweep due mails, send a test mail, ingest inbound mail."""

from __future__ import annotations

import click
from flask.cli import AppGroup

mail_cli = AppGroup("mail", help="Outgoing and inbound e-mail.")


@mail_cli.command("sweep")
def sweep_cmd() -> None:
    """Send the mails whose (re)try is due."""
    from helpdesk.notify.mail import mail_counts, sweep_mail

    n = sweep_mail()
    click.echo(f"{n} mail(s) tried; outbox now {mail_counts()}")


@mail_cli.command("send-test")
@click.argument("to")
@click.option("--lang", default="en", type=click.Choice(["en", "es"]))
def send_test_cmd(to: str, lang: str) -> None:
    """Queue a test mail to TO (sent at once when SMTP is configured)."""
    from helpdesk.db import commit
    from helpdesk.errors import DomainError
    from helpdesk.notify.mail import queue_email

    try:
        mail = queue_email(to=to, kind="test", lang=lang, context={})
        commit()
    except DomainError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"Mail {mail.id}: {mail.status.value}")
