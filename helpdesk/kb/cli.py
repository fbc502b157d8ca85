"""flask kb …: editors, the shipped articles, the search index and the numbers."""

from __future__ import annotations

import json
from datetime import timedelta

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from helpdesk.auth.models import User
from helpdesk.errors import DomainError
from helpdesk.extensions import db
from helpdesk.kb.frontmatter import ContentError
from helpdesk.kb.index import cache
from helpdesk.kb.models import Article
from helpdesk.kb.seed import seed_articles
from helpdesk.kb.services import kb_stats, set_kb_editor, set_translation_of
from helpdesk.timeutil import utcnow

kb_cli = AppGroup("kb", help="The knowledge base.")


def _user(email: str):
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException("No such account.")
    return user


def _set_editor(email: str, value: bool) -> None:
    user = _user(email)
    try:
        set_kb_editor(actor=None, user=user, value=value)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"{user.email} {'is now' if value else 'is no longer'} a knowledge-base editor.")


@kb_cli.command("grant-editor")
@click.argument("email")
def grant_editor_cmd(email: str) -> None:
    """Let an agent (or admin) write, review and publish articles."""
    _set_editor(email, True)


@kb_cli.command("revoke-editor")
@click.argument("email")
def revoke_editor_cmd(email: str) -> None:
    """Withdraw the editor permission."""
    _set_editor(email, False)


@kb_cli.command("load")
@click.option("--author", "author_email", default=None, help="Record this account as the author.")
def load_cmd(author_email: str | None) -> None:
    """Load the shipped articles (helpdesk/kb/content); existing slugs are skipped."""
    author = _user(author_email) if author_email else None
    try:
        seed_articles(author=author, echo=click.echo)
    except (ContentError, DomainError) as err:
        raise click.ClickException(str(err)) from None


@kb_cli.command("translation")
@click.argument("slug")
@click.argument("original_slug", required=False)
def translation_cmd(slug: str, original_slug: str | None) -> None:
    """Record that the article SLUG translates ORIGINAL_SLUG (without it: SLUG is an original)."""
    def get(s: str) -> Article:
        found = db.session.scalar(sa.select(Article).where(Article.slug == s.strip()[:120]))
        if found is None:
            raise click.ClickException(f"No article with the slug {s!r}.")
        return found

    article = get(slug)
    original = get(original_slug) if original_slug else None
    try:
        set_translation_of(article, original, actor=None)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"{article.slug} translates {original.slug}." if original else f"{article.slug} is an original.")


@kb_cli.command("reindex")
def reindex_cmd() -> None:
    """Build the search index now and print its size and build time."""
    cache().reset()
    index = cache().get()
    click.echo(f"{index.size} published article(s) indexed in {index.build_seconds:.2f}s ({index.nnz:,} postings).")


@kb_cli.command("stats")
@click.option("--queue", "queues", multiple=True, help="Queue slug; repeatable.")
@click.option("--days", type=click.IntRange(1, 3650), default=None, help="Activity in the last N days only.")
def stats_cmd(queues: tuple[str, ...], days: int | None) -> None:
    """The supervisors' numbers as JSON."""
    since = utcnow() - timedelta(days=days) if days else None
    click.echo(json.dumps(kb_stats(list(queues) or None, since), indent=2))
