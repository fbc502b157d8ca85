"""Knowledge-base fixtures: editors, articles made through the services, the seeded
content, and a real Chromium for the deflection flow."""

from __future__ import annotations

import os
import queue
import threading

import pytest
import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.kb import services
from helpdesk.kb.models import Article, ArticleStatus
from tests.e2e.conftest import artifacts, chromium_path, live_server  # noqa: F401  (re-exported fixtures)


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


class BrowserThread:
    """Chromium driven from a thread of its own.

    tests/e2e keeps a session-wide Playwright in the main thread, and a thread can hold
    only one sync Playwright; so this one lives in its own thread and runs the test's
    browsing script there (``run(script)`` returns its result or re-raises its error).
    """

    def __init__(self, path: str) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, args=(path,), name="kb-chromium", daemon=True)
        self.thread.start()
        self.ready.wait(60)
        if self.error is not None:
            raise self.error

    def _serve(self, path: str) -> None:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=path, headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run"],
                )
                self.ready.set()
                while (job := self.jobs.get()) is not None:
                    script, answer = job
                    try:
                        answer.put((True, script(browser)))
                    except BaseException as exc:  # handed to the test's thread
                        answer.put((False, exc))
                browser.close()
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    def run(self, script, timeout: float = 120):
        answer: queue.Queue = queue.Queue()
        self.jobs.put((script, answer))
        ok, value = answer.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(30)


@pytest.fixture(scope="session")
def kb_browser():
    path = chromium_path()
    if path is None:
        if os.environ.get("HELPDESK_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail("Chromium is required for end-to-end tests (apt-get install chromium)")
        pytest.skip("Chromium not installed")
    runner = BrowserThread(path)
    yield runner
    runner.close()
