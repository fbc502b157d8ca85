"""flask kb …"""

from __future__ import annotations

import json

from helpdesk.auth.models import Role
from helpdesk.extensions import db


def test_grant_and_revoke_editor(app, ctx, make_user):
    agent = make_user(Role.AGENT)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["kb", "grant-editor", agent.email])
    assert result.exit_code == 0 and "is now a knowledge-base editor" in result.output
    db.session.expire_all()
    assert agent.kb_editor is True
    assert runner.invoke(args=["kb", "grant-editor", agent.email]).exit_code == 1  # nothing changed
    assert runner.invoke(args=["kb", "revoke-editor", agent.email]).exit_code == 0
    assert runner.invoke(args=["kb", "grant-editor", "nobody@example.test"]).exit_code == 1


def test_load_reindex_and_stats(app, ctx, queues, supervisor):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["kb", "load", "--author", supervisor.email])
    assert first.exit_code == 0 and "47 article(s) loaded" in first.output
    assert "0 article(s) loaded" in runner.invoke(args=["kb", "load"]).output
    reindex = runner.invoke(args=["kb", "reindex"])
    assert reindex.exit_code == 0 and "47 published article(s) indexed" in reindex.output
    stats = runner.invoke(args=["kb", "stats", "--queue", "billing", "--days", "30"])
    data = json.loads(stats.output)
    assert data["queues"] == ["billing"] and data["totals"]["articles"] >= 8


def test_translation_links_an_article_to_the_one_it_translates(app, ctx, seeded):
    runner = app.test_cli_runner()
    spanish, english = seeded["plan-de-pagos"], seeded["payment-plans"]
    assert spanish.translation_of_id == english.id  # the shipped front matter
    result = runner.invoke(args=["kb", "translation", "plan-de-pagos"])
    assert result.exit_code == 0 and "is an original" in result.output
    db.session.expire_all()
    assert spanish.translation_of_id is None
    result = runner.invoke(args=["kb", "translation", "plan-de-pagos", "payment-plans"])
    assert result.exit_code == 0 and "plan-de-pagos translates payment-plans." in result.output
    db.session.expire_all()
    assert spanish.translation_of_id == english.id
    assert runner.invoke(args=["kb", "translation", "plan-de-pagos", "nope"]).exit_code == 1
    # the same language is no translation
    assert runner.invoke(args=["kb", "translation", "payment-plans", "dispute-a-charge"]).exit_code == 1
    db.session.expire_all()
    assert english.translation_of_id is None
