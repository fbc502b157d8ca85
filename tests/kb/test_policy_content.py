"""The help content matches the product: articles state the policies the code enforces.

* Every ``{{ policy.… }}`` value is read from where the product enforces the rule
  (change the constant or the configuration and the value follows).
* The shipped articles, rendered under the default configuration and under a changed
  one, state what the product then does (checked against the product's own behaviour:
  the password check, the reset link's lifetime, the idle timeout, the attachment check).
* No article, summary or demo reply writes a policy number by hand.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpdesk import policy
from helpdesk.auth import password_rules, passwords, sessions, throttle
from helpdesk.auth.models import Role
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.kb import services
from helpdesk.kb.frontmatter import CONTENT_DIR, load_all
from helpdesk.kb.models import Article
from helpdesk.kb.seed import seed_articles
from helpdesk.notify import attachments
from tests.factories import login
from tests.kb.conftest import article_data

DEMO_REPLIES = Path(__file__).resolve().parents[2] / "helpdesk" / "demo_data" / "requests.json"
MB = 1_048_576


def page_text(body: bytes) -> str:
    """The words a reader sees (tags removed, entities decoded, spaces collapsed)."""
    text = re.sub(r"<[^>]+>", " ", body.decode("utf-8"))
    return " ".join(html.unescape(text).split())


def _article_text(client, slug: str) -> str:
    response = client.get(f"/help-centre/articles/{slug}")
    assert response.status_code == 200, slug
    return page_text(response.data)


# ---------------------------------------------------------------- the registry reads the source


@pytest.mark.parametrize(("name", "module", "attribute", "changed", "expected"), [
    ("password_min_length", password_rules, "MIN_PASSWORD", 12, "12"),
    ("password_max_length", password_rules, "MAX_PASSWORD", 64, "64"),
    ("reset_link_minutes", passwords, "RESET_TTL", timedelta(minutes=45), "45"),
    ("reset_emails_per_hour", passwords, "MAX_SELF_SERVICE_MAILS_PER_HOUR", 2, "2"),
    ("lockout_attempts", throttle, "ACCOUNT", replace(throttle.ACCOUNT, max_failures=7), "7"),
    ("lockout_first_minutes", throttle, "ACCOUNT", replace(throttle.ACCOUNT, base_lock=timedelta(minutes=3)), "3"),
    ("lockout_max_minutes", throttle, "ACCOUNT", replace(throttle.ACCOUNT, max_lock=timedelta(hours=2)), "120"),
    ("lockout_window_minutes", throttle, "ACCOUNT", replace(throttle.ACCOUNT, window=timedelta(minutes=20)), "20"),
])
def test_code_constants_are_read_where_they_are_enforced_not_copied(ctx, monkeypatch, name, module, attribute,
                                                                    changed, expected):
    before = policy.value(name)
    monkeypatch.setattr(module, attribute, changed)
    assert policy.value(name) == expected != before


def test_configuration_values_follow_the_running_configuration(app):
    s = app.config["HELPDESK"]
    assert policy.values(s)["idle_minutes_patient"] == f"{s.session_idle_minutes_patient:g}"
    changed = replace(s, session_idle_minutes_patient=10, session_idle_minutes_staff=5, attachment_max_bytes=5 * MB,
                      attachment_max_message_bytes=12 * MB, attachment_max_files=3, session_max_hours=8,
                      session_warning_seconds=60, helpdesk_phone="(555) 010-0199")
    assert {k: v for k, v in policy.values(changed).items() if k in (
        "idle_minutes_patient", "idle_minutes_staff", "attachment_max_mb", "attachment_message_max_mb",
        "attachment_max_files", "session_max_hours", "idle_warning_minutes", "helpdesk_phone")} == {
        "idle_minutes_patient": "10", "idle_minutes_staff": "5", "attachment_max_mb": "5",
        "attachment_message_max_mb": "12", "attachment_max_files": "3", "session_max_hours": "8",
        "idle_warning_minutes": "1", "helpdesk_phone": "(555) 010-0199"}


def test_attachment_types_are_the_allow_list(ctx, monkeypatch):
    assert policy.value("attachment_types") == "PNG, JPEG, GIF, WebP, HEIC, PDF"
    monkeypatch.setattr(attachments, "ALLOWED", {"application/pdf": "pdf"})
    assert policy.value("attachment_types") == "PDF"


# ---------------------------------------------------------------- unknown names


def test_unknown_placeholders_fail_loudly_in_tests_and_render_escaped_in_production(ctx):
    with pytest.raises(policy.UnknownPolicy, match="no_such_rule"):
        policy.resolve_text("At least {{ policy.no_such_rule }} characters")  # TESTING: strict
    assert policy.resolve_text("{{ policy.no_such_rule }} and {{ policy.password_min_length }}", strict=False) == (
        f"{{{{ policy.no_such_rule }}}} and {password_rules.MIN_PASSWORD}")
    out = policy.resolve_html("<p>{{ policy.no_such_rule }} &lt;b&gt;</p>", strict=False)
    assert str(out) == "<p>{{ policy.no_such_rule }} &lt;b&gt;</p>"


def test_values_are_escaped_in_html(app):
    settings = replace(app.config["HELPDESK"], helpdesk_phone="<script>alert(1)</script>")
    with app.app_context():
        out = str(policy.resolve_html("<p>Call {{ policy.helpdesk_phone }}</p>", settings=settings))
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out


def test_other_braces_are_not_placeholders(ctx):
    text = "{{ config.SECRET_KEY }} {{ 7*7 }} {{patient_first_name}}"
    assert policy.resolve_text(text) == text and policy.unknown_names(text) == []


@pytest.mark.parametrize(("field", "value", "error_field"), [
    ("body_md", "At least {{ policy.password_min_lenght }} characters.", "body_md"),
    ("summary", "Links last {{ policy.reset_minutes }} minutes.", "summary"),
    ("body_md", "Broken {{ policy.password_min_length } here", "body_md"),
    ("title", "Passwords of {{ policy.password_min_length }} characters", "title"),
])
def test_saving_an_article_with_an_unknown_placeholder_is_refused(ctx, supervisor, field, value, error_field):
    with pytest.raises(ValidationFailed) as err:
        services.create_article(actor=supervisor, data=article_data(**{field: value}))
    assert error_field in err.value.fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0


def test_the_editor_page_refuses_an_unknown_placeholder_and_lists_the_known_ones(app, client, supervisor, queues):
    login(client, supervisor)
    page = client.get("/kb/articles/new")
    assert page.status_code == 200
    text = page_text(page.data)
    assert "{{ policy.password_min_length }}" in text and "{{ policy.attachment_max_mb }}" in text
    assert f"{{{{ policy.reset_link_minutes }}}} Minutes a password-reset link works (once) " \
           f"{int(passwords.RESET_TTL.total_seconds() // 60)}" in text
    data = {**article_data(body_md="Links last {{ policy.nope }} minutes."), "queues": "account-access"}
    response = client.post("/kb/articles/new", data=data)
    assert response.status_code == 422
    assert "Unknown placeholder: nope" in page_text(response.data)


def test_an_editor_article_with_placeholders_shows_the_values(client, make_article):
    item = make_article(summary="At least {{ policy.password_min_length }} characters.",
                        body_md="Links work for {{policy.reset_link_minutes}} minutes.")
    text = _article_text(client, item.slug)
    assert f"At least {password_rules.MIN_PASSWORD} characters." in text
    assert f"Links work for {int(passwords.RESET_TTL.total_seconds() // 60)} minutes." in text
    assert "policy." not in text


# ---------------------------------------------------------------- the shipped articles state what the product does


def _numbers(pattern: str, text: str) -> list[float]:
    found = [float(x) for x in re.findall(pattern, text)]
    assert found, f"{pattern!r} not found in the article"
    return found


def _check_against_the_product(texts: dict[str, str]) -> None:
    """Read the numbers the rendered articles state and test them on the product itself."""
    from flask import current_app

    from helpdesk.auth.models import User
    from helpdesk.notify.attachments import Upload, check

    s = current_app.config["HELPDESK"]
    reset, locked, contact = texts["reset-your-password"], texts["account-locked"], texts["contact-us-and-hours"]
    es_reset = texts["restablecer-la-contrasena"]
    # password length: one character fewer is refused, the stated length is accepted
    for n in _numbers(r"at least (\d+) characters long", reset) + _numbers(r"al menos (\d+) caracteres", es_reset):
        n = int(n)
        assert password_rules.password_problem(("zqv" * n)[: n - 1]) is not None  # one short: refused
        assert password_rules.password_problem(("zqv" * n)[:n]) is None  # the stated length: accepted
    for n in _numbers(r"and at most (\d+)", reset) + _numbers(r"y como máximo (\d+)", es_reset):
        n = int(n)
        assert password_rules.password_problem(("zqv" * n)[:n]) is None
        assert password_rules.password_problem(("zqv" * n)[:n] + "w") is not None
    # the reset link's lifetime
    user = User(email="x@example.org", display_name="X Y", role=Role.PATIENT, active=True)
    user.set_password("a long enough passphrase")
    db.session.add(user)
    db.session.flush()
    token = passwords.issue_reset_link(user)
    lifetime = (token.expires_at - token.created_at).total_seconds() / 60
    db.session.rollback()
    for n in (_numbers(r"works once, for (\d+) minutes", reset)
              + _numbers(r"funciona una sola vez, durante (\d+) minutos", es_reset)):
        assert n == pytest.approx(lifetime, abs=0.1)
    # sign-in pauses
    assert _numbers(r"after (\d+) wrong passwords within", locked) == [throttle.ACCOUNT.max_failures]
    assert _numbers(r"within (\d+) minutes", locked) == [throttle.ACCOUNT.window.total_seconds() / 60]
    assert _numbers(r"first pause lasts (\d+) min", locked) == [throttle.ACCOUNT.lock_for(0).total_seconds() / 60]
    assert _numbers(r"up to (\d+) min", locked) == [throttle.ACCOUNT.max_lock.total_seconds() / 60]
    # the idle sign-out of a patient
    patient = User(email="p@example.org", display_name="P Q", role=Role.PATIENT)
    for n in _numbers(r"signed out after (\d+) min without activity", locked) + _numbers(
            r"la sesión se cierra después de (\d+) min sin actividad", es_reset):
        assert timedelta(minutes=n) == sessions.idle_limit(patient)
    # attachments: the stated size is accepted, one byte more is refused; the stated count likewise
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    (size_mb,) = _numbers(r"([\d.]+) MB at most each", contact)
    (files,) = _numbers(r"up to (\d+) files per message", contact)
    (total_mb,) = _numbers(r"([\d.]+) MB together", contact)
    assert size_mb * MB == s.attachment_max_bytes and total_mb * MB == s.attachment_max_message_bytes
    assert check([Upload("a.png", png.ljust(int(size_mb * MB), b"\0"))])
    with pytest.raises(ValidationFailed):
        check([Upload("a.png", png.ljust(int(size_mb * MB) + 1, b"\0"))])
    assert len(check([Upload(f"{i}.png", png) for i in range(int(files))])) == files
    with pytest.raises(ValidationFailed):
        check([Upload(f"{i}.png", png) for i in range(int(files) + 1)])
    types = re.search(r"We accept these types: ([A-Za-z, ]+)\.", contact).group(1)
    assert types.split(", ") == policy.value("attachment_types").split(", ")
    assert len(types.split(", ")) == len(attachments.ALLOWED)
    assert s.helpdesk_phone in contact and s.helpdesk_phone in reset


def _render_all(client) -> dict[str, str]:
    texts = {}
    for item in load_all(CONTENT_DIR):
        if item.audience != "public":
            continue
        text = _article_text(client, item.slug)
        assert "{{" not in text and "}}" not in text, item.slug
        texts[item.slug] = text
    return texts


def test_shipped_articles_state_what_the_product_enforces_under_the_default_configuration(app, client, ctx):
    assert seed_articles() == len(load_all(CONTENT_DIR))
    texts = _render_all(client)
    _check_against_the_product(texts)
    assert f"at least {password_rules.MIN_PASSWORD} characters long" in texts["reset-your-password"]


@pytest.fixture
def changed_app(app, make_app):
    """A second app on the same database with different settings (as after a redeploy)."""
    return make_app(session_idle_minutes_patient=10, attachment_max_bytes=3 * MB, attachment_max_message_bytes=7 * MB,
                    attachment_max_files=2, session_max_hours=6, helpdesk_phone="(555) 010-0199",
                    WTF_CSRF_ENABLED=False)  # as the suite's app (tests/conftest.py)


def test_the_same_articles_follow_a_changed_configuration_without_reseeding(app, changed_app, monkeypatch):
    with app.app_context():
        seed_articles()  # seeded once, under the default configuration
        db.session.remove()
    monkeypatch.setattr(password_rules, "MIN_PASSWORD", 12)
    monkeypatch.setattr(passwords, "RESET_TTL", timedelta(minutes=47))
    client = changed_app.test_client()
    with changed_app.test_request_context():
        texts = _render_all(client)
        _check_against_the_product(texts)
        db.session.remove()
    reset, contact, locked = texts["reset-your-password"], texts["contact-us-and-hours"], texts["account-locked"]
    assert "at least 12 characters long" in reset and "works once, for 47 minutes" in reset
    assert "durante 47 minutos" in texts["restablecer-la-contrasena"]
    assert "up to 2 files per message, 3 MB at most each and 7 MB together" in contact
    assert "hasta 2 archivos por mensaje, de 3 MB como máximo cada uno y 7 MB en total" in texts["contacto-y-horarios"]
    assert "signed out after 10 min without activity" in locked and "6 h after it started" in locked
    assert "(555) 010-0199" in contact
    # the summary in search results, and the search index itself, hold the resolved text
    found = page_text(client.post("/help-centre/search", data={"q": "reset your password link"}).data)
    assert "works once, for 47 minutes" in found
    with changed_app.test_request_context():
        from helpdesk.kb.index import cache

        assert "47" in cache().get()._word.vocabulary()  # "… for 47 minutes" was indexed
        db.session.remove()
    with app.test_request_context():  # this process's own index: its own configuration
        monkeypatch.setattr(passwords, "RESET_TTL", timedelta(minutes=30))
        from helpdesk.kb.index import cache

        assert "47" not in cache().get()._word.vocabulary()
        db.session.remove()


# ---------------------------------------------------------------- no policy number typed by hand

NUMBER = (r"(?:\d+(?:[.,]\d+)?|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|sixty|"
          r"dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|doce|quince|veinte|treinta|sesenta)")
UNIT = (r"(?:characters?|caracteres|minutes?|minutos?|min|hours?|horas?|h|MB|megabytes?|attempts?|intentos?|"
        r"tries|guesses|passwords?|contraseñas?|files?|archivos?|codes?|códigos?)")
#: a number, up to two words, then a unit: "12 characters", "five incorrect password attempts"
HARD_CODED = re.compile(rf"(?i)(?<![\w{{.])({NUMBER})\s+(?:[\w-]+\s+){{0,2}}?{UNIT}\b")
#: sentences about the product's policies (sign-in, passwords, links, locks, sessions, files)
TOPIC = re.compile(r"(?i)passw|contraseñ|reset|restablec|lock|bloque|pause|pausa|sign(?:ed)?[ -]?(?:in|out)|"
                   r"sesión|session|link|enlace|attach|adjunt|upload|subir|\bfiles?\b|archivo|\bMB\b|two-step|"
                   r"dos pasos|verification|verificación|inactiv|idle")


def hard_coded_policy_numbers(text: str) -> list[str]:
    """Phrases that state a policy number by hand instead of through a placeholder."""
    text = policy.PLACEHOLDER.sub("N", text)
    out = []
    for sentence in re.split(r"(?<=[.!?;:])\s+|\n+", text):
        if TOPIC.search(sentence):
            out.extend(m.group(0) for m in HARD_CODED.finditer(sentence))
    return out


@pytest.mark.parametrize("text", [
    "Your new password must be at least 12 characters long.",
    "Accounts unlock automatically after 30 minutes, but we can unlock it now.",
    "after five incorrect password attempts your account locks for 30 minutes",
    "después de cinco intentos incorrectos, la cuenta se bloquea durante 30 minutos",
    "The reset link is good for 60 minutes.",
    "You can attach files of up to 10 MB each.",
    "El enlace vence en 60 minutos.",
])
def test_the_scan_catches_a_policy_number_written_by_hand(text):
    assert hard_coded_policy_numbers(text)


@pytest.mark.parametrize("text", [
    "Your new password must be at least {{ policy.password_min_length }} characters long.",
    "Arrive 15 minutes before your appointment to allow for parking.",
    "The button becomes active 30 minutes before your start time.",
    "Enter the 6-digit code from your app.",
])
def test_the_scan_lets_placeholders_and_other_topics_through(text):
    assert hard_coded_policy_numbers(text) == []


def _shipped_texts() -> list[tuple[str, str]]:
    out = []
    for item in load_all(CONTENT_DIR):
        out += [(f"{item.source} title", item.title), (f"{item.source} summary", item.summary),
                (f"{item.source} body", item.body_md)]
    for i, request in enumerate(json.loads(DEMO_REPLIES.read_text(encoding="utf-8"))):
        for j, message in enumerate(request.get("thread", [])):
            if message["role"] == "agent":
                out.append((f"requests.json[{i}].thread[{j}]", message["body"]))
    return out


def test_no_shipped_article_or_demo_reply_types_a_policy_number_by_hand():
    found = {where: hits for where, text in _shipped_texts() if (hits := hard_coded_policy_numbers(text))}
    assert found == {}, "write these with {{ policy.… }} placeholders (helpdesk/policy.py): " + repr(found)


def test_every_placeholder_in_the_shipped_texts_is_known():
    unknown = {where: names for where, text in _shipped_texts() if (names := policy.unknown_names(text))}
    assert unknown == {}
