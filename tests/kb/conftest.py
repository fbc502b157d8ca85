"""Knowledge-base fixtures: editors, articles made through the services, the seeded
content, and the browser fixtures of tests/e2e for the deflection flow."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.kb import services
from helpdesk.kb.models import Article, ArticleStatus
from tests.e2e.conftest import artifacts, browser, live_server  # noqa: F401  (re-exported fixtures)

# The ticket forms (not part of the knowledge base) still pass SelectField choices as
# tuples, which WTForms 3.3 deprecates; pages that render them need this filter.
WTFORMS_TUPLES = "ignore:Passing SelectField choices as tuples:DeprecationWarning"


def article_data(**overrides) -> dict:
    data = {
        "title": "Reset your password",
        "summary": "Forgot your password? Reset it yourself in a few minutes.",
        "body_md": "## Steps\n\n1. Open the sign-in page.\n2. Select **Forgot password?**\n",
        "category": "Signing in",
        "queues": ["account-access"],
        "audience": "public",
        "language": "en",
    }
    data.update(overrides)
    return data


@pytest.fixture
def editor(make_user):
    """An agent an admin made an editor."""
    user = make_user(Role.AGENT, member_of=("billing", "triage", "account-access"), name="Eddie Editor")
    services.set_kb_editor(actor=None, user=user, value=True)
    return user


@pytest.fixture
def make_article(ctx, queues, supervisor):
    """An article through the services: published by a supervisor unless told otherwise."""

    def make(status: ArticleStatus | str = ArticleStatus.PUBLISHED, author=None, **overrides) -> Article:
        author = author or supervisor
        article = services.create_article(actor=author, data=article_data(**overrides))
        status = ArticleStatus(status)
        path = {
            ArticleStatus.DRAFT: [],
            ArticleStatus.IN_REVIEW: [ArticleStatus.IN_REVIEW],
            ArticleStatus.PUBLISHED: [ArticleStatus.IN_REVIEW, ArticleStatus.PUBLISHED],
            ArticleStatus.ARCHIVED: [ArticleStatus.IN_REVIEW, ArticleStatus.PUBLISHED, ArticleStatus.ARCHIVED],
        }[status]
        for step in path:
            services.change_status(article, actor=supervisor, status=step)
        return article

    return make


@pytest.fixture
def seeded(ctx, queues, supervisor) -> dict[str, Article]:
    """The shipped articles (helpdesk/kb/content), by slug."""
    from helpdesk.kb.seed import seed_articles

    seed_articles(author=supervisor)
    return {a.slug: a for a in db.session.scalars(sa.select(Article))}
