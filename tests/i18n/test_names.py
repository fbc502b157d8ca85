"""Names of queues and help-centre topics in Spanish: the service, the command line and
what the pages show."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.errors import Forbidden, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n.models import NameKind, NameTranslation
from helpdesk.i18n.names import missing_names, queue_name, set_name, topic_name

ES = {"Accept-Language": "es"}


def test_set_name_saves_changes_removes_and_audits(ctx, queues):
    set_name(actor=None, kind="queue", key="billing", language="es", name="  Facturación  ")
    set_name(actor=None, kind="queue", key="billing", language="es", name="Facturación")  # no change, no audit
    assert queue_name(queues["billing"], "es") == "Facturación" and queue_name(queues["billing"], "en") == "Billing"
    set_name(actor=None, kind="queue", key="billing", language="es", name="Cobros")
    assert queue_name(queues["billing"], "es") == "Cobros"
    set_name(actor=None, kind="queue", key="billing", language="es", name="")
    assert queue_name(queues["billing"], "es") == "Billing"  # none saved: the English name
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NameTranslation)) == 0
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "i18n.name_set")
                                .order_by(AuditEvent.id)).all()
    assert [e.changes["name"] for e in events] == [{"before": None, "after": "Facturación"},
                                                   {"before": "Facturación", "after": "Cobros"},
                                                   {"before": "Cobros", "after": None}]
    assert events[0].object_type == "queue" and events[0].object_id == "billing:es"


@pytest.mark.parametrize("kind, key, language, name", [
    ("colour", "billing", "es", "x"),  # no such kind
    ("queue", "billing", "en", "x"),  # English is the name itself
    ("queue", "billing", "fr", "x"),  # not a language of the pages
    ("queue", "no-such-queue", "es", "x"),
    ("kb_topic", "No such topic", "es", "x"),
    ("queue", "billing", "es", "x" * 121),
])
def test_set_name_refuses_bad_input(ctx, queues, kind, key, language, name):
    with pytest.raises(ValidationFailed):
        set_name(actor=None, kind=kind, key=key, language=language, name=name)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NameTranslation)) == 0


def test_only_admins_name_things(ctx, queues, agent, admin):
    with pytest.raises(Forbidden):
        set_name(actor=agent, kind="queue", key="billing", language="es", name="Facturación")
    set_name(actor=admin, kind="queue", key="billing", language="es", name="Facturación")
    assert queue_name(queues["billing"], "es") == "Facturación"


def test_missing_names_lists_active_queues_and_public_topics(ctx, queues, seeded):
    missing = missing_names()
    assert ("queue", "billing", "Billing", "es") in missing  # the test queues have no Spanish names
    assert not any(kind == "kb_topic" for kind, *_ in missing)  # the shipped topics are named by the seed
    assert topic_name("Signing in", "es") == "Inicio de sesión"


def test_the_command_line_sets_and_lists(app, ctx, queues, seeded):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["i18n", "missing"])
    assert result.exit_code == 1 and "queue\tbilling\tBilling\tes" in result.output
    result = runner.invoke(args=["i18n", "set-name", "queue", "billing", "es", "Facturación"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["i18n", "set-name", "queue", "nope", "es", "x"])
    assert result.exit_code != 0 and "No queue 'nope'" in result.output
    for slug in queues:
        runner.invoke(args=["i18n", "set-name", "queue", slug, "es", f"Cola {slug}"])
    result = runner.invoke(args=["i18n", "missing"])
    assert result.exit_code == 0 and "Every queue and topic has its names." in result.output
    assert NameKind.QUEUE.value == "queue"


def test_the_help_centre_follows_the_page_language(client, ctx, seeded):
    spanish = client.get("/help-centre", headers=ES).get_data(as_text=True)
    assert "Inicio de sesión" in spanish and "Signing in" not in spanish
    topic = client.get("/help-centre/categories/signing-in", headers=ES).get_data(as_text=True)
    assert "Restablecer la contraseña" in topic and "Reset your password" not in topic
    every = client.get("/help-centre/categories/signing-in?lang=all", headers=ES).get_data(as_text=True)
    assert "Restablecer la contraseña" in every and "Reset your password" in every
    english = client.get("/help-centre/categories/signing-in", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    assert "Reset your password" in english and "Restablecer la contraseña" not in english
    assert "Signing in" in english
    found = client.post("/help-centre/search", headers=ES, data={"q": "reset my password"}).get_data(as_text=True)
    assert "Reset your password" in found  # search looks in every language unless one is picked
