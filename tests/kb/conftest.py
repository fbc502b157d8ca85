"""Knowledge-base fixtures: editors, articles made through the services, the seeded
content is ``seeded`` in tests/factories.py (tests/e2e uses it too)."""

from __future__ import annotations

import pytest

from helpdesk.auth.models import Role
from helpdesk.kb import services
from helpdesk.kb.models import Article, ArticleStatus


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
