"""Spanish, all of it: every page a patient or a signed-out visitor can reach, in its
ordinary and error states, every e-mail a patient gets, and the names the database holds
(help-centre topics, queues), rendered for a Spanish-speaking patient with realistic data,
and checked for English (``tests/i18n/spanish_check.py``).

Which pages: every route of the permission matrix (``tests/access``) that a signed-out
visitor or the patient can reach — a route added later has to be in the matrix, so it is
walked here too — requested as that role (GET), or submitted empty (POST: the error and
flash messages), plus the states that need a story (an answered request, an emergency,
files, the survey, a search). Which e-mails: every template in templates/notify/mail
that is not a staff one.
"""

from __future__ import annotations

import json
import re

import jinja2.meta
import pytest
import sqlalchemy as sa

from helpdesk.auth import activation, portal
from helpdesk.auth.portal_models import PatientLink
from helpdesk.demo import seed_queue_names
from helpdesk.extensions import db
from helpdesk.i18n import services as i18n_services
from helpdesk.i18n.models import NameKind
from helpdesk.i18n.names import missing_names, names_of, set_name
from helpdesk.kb.models import Article, Language
from helpdesk.kb.seed import seed_articles
from helpdesk.kb.text import slugify
from helpdesk.notify import csat
from helpdesk.notify.attachments import Upload
from helpdesk.notify.models import Attachment
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Queue, Status
from helpdesk.timeutil import utcnow
from tests.access.test_permission_matrix import MATRIX
from tests.e2e.patient_pages import _reset_path
from tests.factories import login
from tests.i18n.spanish_check import ROOT, english_in, english_on_page, visible_text
from tests.notify.samples import pdf, png

ES = {"Accept-Language": "es-US,es;q=0.9"}
RENDERED = (200, 400, 404, 409, 410, 422, 429)  # what a patient or visitor gets as a page
MAIL_DIR = ROOT / "templates" / "notify" / "mail"
STAFF_LAYOUTS = ("_staff_layout", "_clinical_layout")


@pytest.fixture
def spanish_world(ctx, queues, patient, agent, supervisor):
    """A Spanish-speaking patient's world, made through the services: the shipped help
    centre, the queues' names, and requests in each state a page shows."""
    seed_articles(author=supervisor)
    seed_queue_names()
    i18n_services.set_language(user=patient, language="es")

    def ask(subject, body):
        return tickets.create_ticket(requester=patient, subject=subject, body=body, channel=Channel.WEB,
                                     created_by=patient)

    answered = ask("Cobro doble", "Mi estado de cuenta muestra el mismo cargo dos veces.")
    tickets.post_message(answered, author=agent, body="Gracias. Quitamos el cargo duplicado.",
                         next_status=Status.PENDING_PATIENT)
    emergency = ask("Dolor de pecho", "Tengo dolor de pecho y no puedo respirar.")
    closed = ask("Estacionamiento", "¿Dónde me estaciono para mi cita?")
    tickets.update_ticket(closed, actor=patient, status=Status.CLOSED, source="patient")
    resolved = ask("Copia de mi factura", "¿Me pueden enviar una copia de mi última factura?")
    tickets.post_message(resolved, author=patient, body="Una foto de la carta.", attachments=[Upload("carta.png", png())])
    tickets.post_message(resolved, author=agent, body="Aquí está la copia de su factura.",
                         attachments=[Upload("factura.pdf", pdf())])
    tickets.update_ticket(resolved, actor=agent, status=Status.RESOLVED)
    surveyed = ask("Recibo de pago", "Necesito un recibo del pago que hice.")
    tickets.update_ticket(surveyed, actor=agent, status=Status.RESOLVED)
    token = csat.open_survey(surveyed)
    # a sign-in link from the portal that has expired (a good one signs in: no page)
    link = PatientLink(link_id="spanish-world-" + "0" * 29, user_id=patient.id, created_at=utcnow(),
                       expires_at=utcnow())
    db.session.add(link)
    db.session.commit()
    articles = list(db.session.scalars(sa.select(Article).order_by(Article.id)))
    spanish = next(a for a in articles if a.language == Language.ES and a.category == "Signing in")
    english = next(a for a in articles if a.language == Language.EN)
    attachment = db.session.scalars(sa.select(Attachment).where(Attachment.ticket_id == resolved.id)).first()
    params = {
        "ref": answered.reference, "slug": spanish.slug, "category": slugify("Signing in"),
        "survey_token": token, "reset_secret": _reset_path(patient).rsplit("/", 1)[1],
        "verify_token": activation.make_token(patient), "attachment_id": attachment.id,
        "link_token": portal.token_for(link),
    }
    return {"params": params, "answered": answered, "emergency": emergency, "closed": closed, "resolved": resolved,
            "english_article": english, "spanish_article": spanish, "patient": patient}


def database_english() -> tuple[str, ...]:
    """The English names the database holds that have a different Spanish name."""
    queues = {q.slug: q.name for q in db.session.scalars(sa.select(Queue))}
    found = [name for slug, name in queues.items() if names_of(NameKind.QUEUE, "es").get(slug, name) != name]
    found += [key for key, name in names_of(NameKind.KB_TOPIC, "es").items() if name != key]
    return tuple(found)


def patient_rows() -> dict[str, tuple]:
    """The routes a visitor or the patient can reach as a page, from the permission matrix."""
    rows = {}
    for endpoint, row in MATRIX.items():
        if row.path.startswith("/api/"):
            continue
        roles = tuple(role for role in ("anon", "owner") if row.expected[role] in RENDERED)
        if roles:
            rows[endpoint] = (row, roles)
    return rows


def fill(path: str, params: dict) -> str:
    names = re.findall(r"\{(\w+)\}", path)
    unknown = [n for n in names if n not in params]
    assert not unknown, f"teach spanish_world a realistic value for {unknown} ({path})"
    return path.format(**params)


class Walk:
    """Requests in Spanish, each answer checked for English; the problems are collected."""

    def __init__(self, app, patient):
        self.app, self.patient = app, patient
        self.problems: dict[str, list[str]] = {}
        self.pages = 0
        self.extra = database_english()

    def client(self, role: str):
        client = self.app.test_client()
        if role == "owner":
            login(client, self.patient)
        return client

    def check(self, name: str, resp) -> str:
        assert resp.status_code < 500, (name, resp.status_code)
        kind = resp.mimetype
        text = resp.get_data(as_text=True) if kind in ("text/html", "application/json") else ""
        if kind == "text/html":
            assert re.search(r'<html lang="es"', text), f"{name}: not a Spanish page"
            leaks = english_on_page(text, self.extra)
        elif kind == "application/json":
            leaks = english_in(_json_strings(resp.get_json()), self.extra)
        else:
            return text
        self.pages += 1
        if leaks:
            self.problems[name] = leaks
        return text


def _json_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value] if not value.startswith(("/", "http")) else []
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in ("url", "language", "slug") for s in _json_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


def test_every_patient_page_and_state_is_spanish(app, ctx, spanish_world):
    walk = Walk(app, spanish_world["patient"])
    params = spanish_world["params"]
    rows = patient_rows()
    # GET pages first (nothing changes), then the forms submitted empty, signing out last
    ordered = sorted(rows.items(), key=lambda kv: (kv[1][0].method != "GET", kv[0] == "auth.logout"))
    for endpoint, (row, roles) in ordered:
        path = fill(row.path, params)
        for role in roles:
            client = walk.client(role)
            if row.method == "GET":
                resp = client.get(path, headers=ES)
            else:
                resp = client.post(path, headers=ES, data=row.data, follow_redirects=True)
            walk.check(f"{row.method} {endpoint} as {role}", resp)

    owner = walk.client("owner")
    answered, resolved = spanish_world["answered"].reference, spanish_world["resolved"].reference
    for name, path in {
        "an answered request": f"/requests/{answered}",
        "an emergency": f"/requests/{spanish_world['emergency'].reference}",
        "a closed request": f"/requests/{spanish_world['closed'].reference}",
        "a resolved request with files and the survey": f"/requests/{resolved}",
        "the help centre in every language": "/help-centre?lang=all",
        "a topic in every language": "/help-centre/categories/signing-in?lang=all",
        "an English article on a Spanish page": f"/help-centre/articles/{spanish_world['english_article'].slug}",
        "another patient's request": "/requests/HD-ZZZZZZ",
        "a missing page": "/no-such-page",
        "a staff page": "/agent/tickets",
    }.items():
        walk.check(name, owner.get(path, headers=ES))
    page = walk.check("the emergency", owner.get(f"/requests/{spanish_world['emergency'].reference}", headers=ES))
    assert "911" in page and "dolor de pecho" in page.lower()
    for name, method, path, data in (
        ("a reply sent", "post", f"/requests/{answered}/reply", {"body": "Gracias, ya lo vi."}),
        ("a request sent", "post", "/help", {"subject": "No puedo entrar", "body": "Olvidé mi contraseña del portal.",
                                             "confirm": "1"}),
        ("the suggestions before sending", "post", "/help", {"subject": "contraseña",
                                                             "body": "Olvidé mi contraseña y no puedo entrar."}),
        ("suggestions as you type", "post", "/help/suggest", {"subject": "contraseña", "body": "olvidé mi contraseña"}),
        ("an emergency as you type", "post", "/help/suggest", {"subject": "", "body": "tengo dolor de pecho y no puedo "
                                                                                      "respirar"}),
        ("a search with results", "post", "/help-centre/search", {"q": "contraseña"}),
        ("a search without results", "post", "/help-centre/search", {"q": "zzzz qqqq"}),
        ("article feedback", "post", f"/help-centre/articles/{params['slug']}/feedback", {"helpful": "no",
                                                                                           "reason": "No me sirvió."}),
        ("the survey on the page, empty", "post", f"/requests/{resolved}/survey", {}),
        ("the survey on the page, answered", "post", f"/requests/{resolved}/survey", {"rating": "5"}),
        ("a request closed", "post", f"/requests/{answered}/close", {}),
        ("a reply to a closed request", "post", f"/requests/{spanish_world['closed'].reference}/reply",
         {"body": "Una pregunta más."}),
        ("the mail's survey answered", "post", f"/survey/{params['survey_token']}", {"rating": "4"}),
        ("the mail's survey used", "get", f"/survey/{params['survey_token']}", None),
    ):
        body = {"json": data} if path == "/help/suggest" else {"data": data}
        resp = getattr(owner, method)(path, headers=ES, follow_redirects=True, **body)
        walk.check(name, resp)

    anon = walk.client("anon")
    for name, path, data in (
        ("a wrong password", "/login", {"email": "nadie@example.net", "password": "una clave cualquiera"}),
        ("a reset link asked for", "/password/forgot", {"email": "nadie@example.net"}),
        ("can't sign in, received", "/cant-sign-in", {"name": "Rosa Díaz", "date_of_birth": "14/03/1984",
                                                      "contact": "(555) 010-0177", "details": "Perdí mi teléfono."}),
        ("can't sign in, a bad date", "/cant-sign-in", {"name": "Rosa Díaz", "date_of_birth": "31/02/1984",
                                                        "contact": "(555) 010-0177", "details": "Perdí mi teléfono."}),
        ("registration, errors", "/register", {"name": "", "email": "no-es-correo", "password": "corta"}),
    ):
        walk.check(name, anon.post(path, headers=ES, data=data, follow_redirects=True))

    assert walk.pages >= 60, walk.pages  # the walk really went through the pages
    assert not walk.problems, "English on Spanish pages:\n" + json.dumps(walk.problems, indent=1, ensure_ascii=False)


def test_the_database_names_every_topic_and_queue_in_spanish(ctx, spanish_world):
    """The shipped topics and the demo queues all have Spanish names, and a Spanish page
    shows them (not the English ones)."""
    assert missing_names() == []
    topics = names_of(NameKind.KB_TOPIC, "es")
    queues = names_of(NameKind.QUEUE, "es")
    assert topics["Signing in"] == "Inicio de sesión" and queues["billing"] == "Facturación"
    categories = set(db.session.scalars(sa.select(Article.category).distinct()))
    assert categories <= set(topics), categories - set(topics)


def test_a_topic_without_a_spanish_name_is_caught(app, ctx, client, spanish_world):
    """Remove one topic's Spanish name: it is listed as missing and the Spanish help
    centre (which falls back to English) fails the check."""
    names = database_english()
    set_name(actor=None, kind="kb_topic", key="Bills and payments", language="es", name="")
    db.session.commit()
    assert ("kb_topic", "Bills and payments", "Bills and payments", "es") in missing_names()
    page = client.get("/help-centre?lang=all", headers=ES).get_data(as_text=True)
    assert "Bills and payments" in page
    assert any("Bills and payments" in leak for leak in english_on_page(page, names))


def test_the_english_check_can_fail():
    """A catalogue string left in English, a sentence never marked for translation, an
    English button label and script message are caught; English marked as English,
    Spanish text and what the patient typed are not."""
    page = """<html lang="es"><body>
      <p>Sus solicitudes</p><p>Your reply was sent.</p>
      <p>Thanks for waiting on us</p>
      <button aria-label="Close my request">x</button><div data-msg-none="Nothing here for you">.</div>
      <article lang="en"><h1>Reset your password</h1><p>Please sign in first.</p></article>
      <textarea name="body">the patient typed this</textarea><input name="q" value="the query">
      <button lang="en">English</button></body></html>"""
    leaks = "\n".join(english_on_page(page))
    for caught in ("Your reply was sent", "Thanks for waiting on us", "Close my request", "Nothing here for you"):
        assert caught in leaks
    for ignored in ("Reset your password", "Please sign in", "the patient typed", "the query", "Sus solicitudes"):
        assert ignored not in leaks
    assert visible_text('<p lang="en-US">Hello</p><p>Hola</p>') == ["Hola"]


def test_the_matrix_walk_covers_the_patient_pages():
    """The walk takes its pages from the permission matrix: the main patient routes are
    in it, so a new patient route (which must be in the matrix) is walked too."""
    rows = patient_rows()
    for endpoint in ("auth.login", "auth.register", "patient.get_help", "patient.my_requests",
                     "patient.request_page", "patient.reply", "kb.help_centre", "kb.article", "notify.survey",
                     "notify.preferences", "passwords.forgot", "passwords.reset", "lockedout.cant_sign_in"):
        assert endpoint in rows, endpoint
    assert "agent.ticket_list" not in rows


# ------------------------------------------------------------------ e-mails


def _patient_mail_kinds() -> list[str]:
    kinds = []
    for path in sorted(MAIL_DIR.glob("*.en.txt")):
        if path.name.startswith("_"):
            continue
        source = path.read_text(encoding="utf-8")
        if not any(layout in source for layout in STAFF_LAYOUTS):
            kinds.append(path.name.split(".")[0])
    return kinds


def _realistic(name: str) -> object:
    if name.endswith("_url"):
        return f"https://help.example.org/{name.removesuffix('_url')}/Zk3QpL9x"
    if name in ("minutes", "hours", "days"):
        return {"minutes": 30, "hours": 48, "days": 7}[name]
    if name == "reference":
        return "HD-7K2Q9"
    return f"«{name}»"  # a value of its own: never taken for a sentence of the template


def _context(app, kind: str) -> dict:
    names = set()
    for lang in ("en", "es"):
        source = (MAIL_DIR / f"{kind}.{lang}.txt").read_text(encoding="utf-8")
        names |= jinja2.meta.find_undeclared_variables(app.jinja_env.parse(source))
    return {name: _realistic(name) for name in names}


def _sentences(text: str, values: list[str]) -> list[str]:
    """The lines of a mail with the values taken out, those that still have words."""
    for value in values:
        text = text.replace(value, " ")
    return [s for s in (" ".join(line.split()) for line in text.splitlines()) if re.search(r"[A-Za-z]{3}", s)]


def test_every_patient_mail_is_in_spanish(app, ctx):
    """Every e-mail a patient can get has a Spanish template, and the Spanish mail keeps
    no sentence of the English one (values such as links and references aside)."""
    from helpdesk.notify.mail import render

    kinds = _patient_mail_kinds()
    assert {"request_received", "agent_replied", "waiting_for_reply", "resolved", "survey", "password_reset",
            "password_changed", "email_verification"} <= set(kinds)
    problems = {}
    for kind in kinds:
        context = _context(app, kind)
        en_subject, en_body, _ = render(kind, "en", context)
        es_subject, es_body, used = render(kind, "es", context)
        if used != "es":
            problems[kind] = ["no Spanish template: the patient gets the English mail"]
            continue
        values = [str(v) for v in context.values()]
        spanish = _sentences(es_subject + "\n" + es_body, values)
        kept = [s for s in _sentences(en_subject + "\n" + en_body, values) if s in "\n".join(spanish)]
        leaks = kept + english_in(spanish)
        if leaks:
            problems[kind] = leaks
    assert not problems, problems


def test_the_mail_check_can_fail():
    """An English sentence left in a Spanish mail is caught by the function-word check."""
    assert english_in(["Hola:", "We received your request."]) != []
    assert english_in(["Hola:", "Recibimos su solicitud."]) == []
