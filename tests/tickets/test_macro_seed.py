"""Day-one shared macros: seeded once in English and Spanish, with valid, policy-true
texts; the ticket page offers the patient's language first."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from helpdesk import policy
from helpdesk.auth import password_rules, passwords
from helpdesk.auth.models import Role
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.tickets import macros
from helpdesk.tickets.macro_seed import DAY_ONE, seed_macros
from helpdesk.tickets.models import Status
from helpdesk.tickets.workspace_models import Macro
from tests.factories import count, login
from tests.kb.test_policy_content import hard_coded_policy_numbers

ANY_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
EXPECTED = sum(len(m.queues) * len(m.texts) for m in DAY_ONE)


def _reset_text(ticket, agent, language: str) -> str:
    macro = db.session.scalar(sa.select(Macro).where(Macro.title == next(
        m for m in DAY_ONE if m.key == "password-reset").texts[language].title))
    return macros.render(macro.body, ticket=ticket, agent=agent)


def test_seeding_creates_every_macro_in_both_languages_once(ctx, queues):
    assert seed_macros() == EXPECTED
    assert seed_macros() == 0 and count(Macro) == EXPECTED  # idempotent
    for item in DAY_ONE:
        assert set(item.texts) == {"en", "es"}, item.key
        for slug in item.queues:
            rows = db.session.execute(sa.select(Macro.language, Macro.title).where(
                Macro.queue_id == queues[slug].id, Macro.title.in_([t.title for t in item.texts.values()]))).all()
            assert sorted(rows) == sorted((lang, t.title) for lang, t in item.texts.items()), (item.key, slug)
    assert {m.key for m in DAY_ONE} == {"password-reset", "reschedule", "billing-statement", "records-request",
                                       "need-more-information"}
    # every seeded macro is shared (no owner), waits for the patient's answer, and was audited
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Macro).where(Macro.owner_id.is_not(None))) == 0
    from helpdesk.audit import AuditEvent

    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "macro.created")) == EXPECTED


def test_an_edited_macro_is_kept_and_missing_queues_are_skipped(ctx, queues, supervisor):
    seed_macros()
    macro = db.session.scalar(sa.select(Macro).where(Macro.title == "Reschedule an appointment"))
    macros.update_macro(macro, actor=supervisor, data={"title": macro.title, "body": "Our own words.",
                                                       "scope": "scheduling", "language": "en"})
    assert seed_macros() == 0
    db.session.refresh(macro)
    assert macro.body == "Our own words."


def test_the_texts_use_only_the_allowed_placeholders_and_no_policy_number_by_hand():
    for item in DAY_ONE:
        for language, text in item.texts.items():
            for name in ANY_PLACEHOLDER.findall(text.body + text.title):
                assert name in macros.PLACEHOLDERS or (
                    name.startswith("policy.") and name.removeprefix("policy.") in policy.BY_NAME), (item.key, name)
            assert hard_coded_policy_numbers(text.body) == [], (item.key, language)
            assert "{{" not in text.title


def test_the_password_reset_macro_describes_the_real_reset_flow(ctx, queues, agent, make_ticket, monkeypatch):
    seed_macros()
    ticket = make_ticket()
    minutes = int(passwords.RESET_TTL.total_seconds() // 60)
    en = _reset_text(ticket, agent, "en")
    assert f"It works once, for {minutes} minutes" in en
    assert f"at least {password_rules.MIN_PASSWORD} characters" in en
    assert "Hello Maria," in en and en.endswith("Alex Agent\nRiverside Health Help Desk")
    assert "{{" not in en
    # the labels it names are the product's own (the sign-in and forgot-password pages)
    for label in ("Forgot your password?", "Send me a link", "Save the new password"):
        assert label in en
    es = _reset_text(ticket, agent, "es")
    assert f"durante {minutes} minutos" in es and f"al menos {password_rules.MIN_PASSWORD} caracteres" in es
    # the text follows the product when a rule changes (no copy of the number anywhere)
    monkeypatch.setattr(passwords, "RESET_TTL", timedelta(minutes=20))
    monkeypatch.setattr(password_rules, "MIN_PASSWORD", 14)
    assert "for 20 minutes" in _reset_text(ticket, agent, "en")
    assert "at least 14 characters" in _reset_text(ticket, agent, "en")


def test_the_ui_labels_named_by_the_macros_exist(client):
    forgot = client.get("/password/forgot").get_data(as_text=True)
    assert "Send me a link" in forgot
    assert "Forgot your password?" in client.get("/login").get_data(as_text=True)
    forgot_es = client.get("/password/forgot", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Envíenme un enlace" in forgot_es


def test_applying_a_seeded_macro_replies_with_resolved_text_and_waits_for_the_patient(ctx, queues, agent,
                                                                                      make_ticket):
    seed_macros()
    ticket = make_ticket()
    macro = db.session.scalar(sa.select(Macro).where(Macro.title == "We need more information",
                                                     Macro.queue_id == queues["billing"].id))
    macros.apply_macro(ticket, macro, actor=agent)
    db.session.expire_all()
    assert ticket.status == Status.PENDING_PATIENT
    body = ticket.messages[-1].body
    assert policy.value("attachment_types") in body and f"up to {policy.value('attachment_max_mb')} MB" in body
    assert "{{" not in body


def test_the_picker_offers_the_patients_language_first_and_each_shared_macro_once(ctx, queues, agent, make_user,
                                                                                   make_ticket):
    seed_macros()
    english = make_ticket()
    spanish_patient = make_user(Role.PATIENT, name="Rosa Marín")
    spanish_patient.language = "es"
    db.session.commit()
    spanish = make_ticket(requester=spanish_patient)
    offered_en = macros.for_ticket(agent, english)
    offered_es = macros.for_ticket(agent, spanish)
    assert offered_en[0].language == "en" and offered_es[0].language == "es"
    assert [m.language for m in offered_es] == sorted((m.language for m in offered_es), key=lambda lang: lang != "es")
    # the agent works in four queues that all share "We need more information": offered once per language,
    # the one of the ticket's queue
    more = [m for m in offered_en if m.title in ("We need more information", "Necesitamos más información")]
    assert sorted(m.language for m in more) == ["en", "es"]
    assert {m.queue_id for m in more} == {english.queue_id}
    # and the ticket page shows them in that order, the first one preselected
    from flask import current_app

    client = current_app.test_client()
    login(client, agent)
    page = client.get(f"/agent/tickets/{spanish.reference}").get_data(as_text=True)
    options = re.findall(r'<option value="\d+" data-text="[^"]*" data-title="[^"]*"[^>]*>([^<]*)</option>', page)
    assert options and "Español" in options[0]


def test_macro_language_and_policy_placeholders_are_validated(ctx, queues, supervisor):
    with pytest.raises(ValidationFailed) as err:
        macros.create_macro(actor=supervisor, data={"title": "x", "body": "Links last {{ policy.nope }} min.",
                                                    "scope": "billing"})
    assert "body" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        macros.create_macro(actor=supervisor, data={"title": "x", "body": "Hello", "language": "fr"})
    assert "language" in err.value.fields
    macro = macros.create_macro(actor=supervisor, data={"title": "Hola", "body": "Hola", "language": "es"})
    assert macro.language == "es"


def test_the_macros_page_lists_the_policy_placeholders_and_the_language(app, client, supervisor, queues):
    login(client, supervisor)
    page = client.get("/agent/macros")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "{{ policy.reset_link_minutes }}" in text and 'name="language"' in text


def test_flask_macros_seed_is_idempotent(app, ctx, queues):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["macros", "seed"])
    assert first.exit_code == 0 and f"{EXPECTED} shared macro(s) created" in first.output
    again = runner.invoke(args=["macros", "seed"])
    assert again.exit_code == 0 and "0 shared macro(s) created" in again.output
    db.session.expire_all()
    assert count(Macro) == EXPECTED
