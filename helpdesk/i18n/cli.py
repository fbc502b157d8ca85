"""flask i18n: the names of queues and help-centre topics in Spanish."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from helpdesk.errors import DomainError
from helpdesk.i18n.models import NameKind
from helpdesk.i18n.names import missing_names, set_name

i18n_cli = AppGroup("i18n", help="Names of queues and help-centre topics in other languages.")


@i18n_cli.command("set-name")
@click.argument("kind", type=click.Choice([k.value for k in NameKind]))
@click.argument("key")
@click.argument("language")
@click.argument("name")
def set_name_cmd(kind: str, key: str, language: str, name: str) -> None:
    """Name a queue (KEY: its slug) or a topic (KEY: its English name, as on the articles)
    in LANGUAGE, e.g. `flask i18n set-name queue billing es Facturación`. An empty NAME
    removes the translation."""
    try:
        set_name(actor=None, kind=kind, key=key, language=language, name=name)
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{kind} {key!r} in {language}: {name or '(removed: the English name shows)'}")


@i18n_cli.command("missing")
def missing_cmd() -> None:
    """List the active queues and the topics of published public articles that have no
    name in a patient language; exits 1 when there are any."""
    missing = missing_names()
    for kind, key, english, language in missing:
        click.echo(f"{kind}\t{key}\t{english}\t{language}")
    if missing:
        raise SystemExit(1)
    click.echo("Every queue and topic has its names.")
