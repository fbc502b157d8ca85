"""Which language a page is in, the switcher, and Spanish on every patient page."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import Role, User
from helpdesk.errors import Forbidden, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import services as i18n_services
from helpdesk.notify.models import OutgoingEmail
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Status, Ticket
from tests.conftest import csrf_from
from tests.factories import bearer, confirm_email, login

ES = {"Accept-Language": "es-US,es;q=0.9,en;q=0.5"}


def html_lang(resp) -> str:
    return re.search(r'<html lang="([^"]+)"', resp.get_data(as_text=True)).group(1)


def spanish(user: User) -> User:
    i18n_services.set_language(user=user, language="es")
    return user


# ------------------------------------------------------------------ choosing the language


def test_signed_out_pages_follow_accept_language(client, ctx):
    resp = client.get("/login", headers=ES)
    text = resp.get_data(as_text=True)
    assert html_lang(resp) == "es"
    assert "Iniciar sesión" in text and "Correo electrónico" in text and "Contraseña" in text
    assert ">Sign in<" not in text

    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert html_lang(english) == "en" and "Sign in" in english.get_data(as_text=True)


@pytest.mark.parametrize("header", [None, "fr-FR,fr;q=0.9", "*", "zz"])
def test_unsupported_or_missing_accept_language_is_english(client, ctx, header):
    resp = client.get("/login", headers={"Accept-Language": header} if header else {})
    assert resp.status_code == 200 and html_lang(resp) == "en"


def test_a_signed_in_patient_gets_the_language_of_their_profile(client, ctx, patient, make_ticket):
    make_ticket()
    login(client, spanish(patient))
    resp = client.get("/requests", headers={"Accept-Language": "en"})  # the profile wins over the browser
    text = resp.get_data(as_text=True)
    assert html_lang(resp) == "es"
    assert "Mis solicitudes" in text and "Recibida" in text and "Pedir ayuda" in text
    assert "My requests" not in text and ">Received<" not in text


def test_an_english_profile_wins_over_a_spanish_browser(client, ctx, patient):
    login(client, patient)
    resp = client.get("/requests", headers=ES)
    assert html_lang(resp) == "en" and "My requests" in resp.get_data(as_text=True)


def test_staff_pages_stay_english(client, ctx, agent):
    login(client, agent)
    resp = client.get("/agent/tickets", headers=ES)
    assert resp.status_code == 200 and html_lang(resp) == "en"
    assert "Español" not in resp.get_data(as_text=True)  # no switcher for staff


def test_the_api_answers_in_english(client, ctx, patient, portal):
    spanish(patient)
    token_user, secret = portal
    t = tickets.create_ticket(requester=patient, subject="Bill question", body="Please check my bill total.",
                              channel=Channel.API, created_by=token_user)
    resp = client.get(f"/api/v1/tickets/{t.reference}", headers={**bearer(secret), **ES})
    assert resp.status_code == 200 and resp.get_json()["status_label"] == "Received"


# ------------------------------------------------------------------ the switcher


def test_switcher_sets_the_language_for_a_signed_out_visitor(client, ctx):
    resp = client.post("/language", data={"language": "es", "next": "/help-centre"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/help-centre"
    page = client.get("/help-centre", headers={"Accept-Language": "en"})  # the choice wins over the browser
    assert html_lang(page) == "es" and "Centro de ayuda" in page.get_data(as_text=True)
    back = client.post("/language", data={"language": "en", "next": "/login"})
    assert back.headers["Location"] == "/login"
    assert html_lang(client.get("/login", headers=ES)) == "en"


def test_switcher_saves_a_patients_choice_on_the_profile(client, ctx, patient):
    login(client, patient)
    page = client.get("/requests").get_data(as_text=True)
    assert 'lang="es">Español</button>' in page and 'action="/language"' in page
    resp = client.post("/language", data={"language": "es", "next": "/requests"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/requests"
    db.session.expire_all()
    assert db.session.get(User, patient.id).language == "es"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.language_changed"))
    assert event.actor_id == patient.id and event.changes == {"language": {"before": "en", "after": "es"}}
    assert html_lang(client.get("/requests")) == "es"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example", ""])
def test_switcher_goes_back_only_to_this_site(client, ctx, next_url):
    resp = client.post("/language", data={"language": "es", "next": next_url})
    assert resp.status_code == 302 and "evil" not in resp.headers["Location"]
    assert resp.headers["Location"] == "/"


@pytest.mark.parametrize("language", ["fr", "", "es-MX", "x" * 500])
def test_switcher_refuses_an_unknown_language(client, ctx, patient, language):
    login(client, patient)
    resp = client.post("/language", data={"language": language, "next": "/requests"})
    assert resp.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, patient.id).language == "en"


def test_switcher_needs_the_csrf_token(configure, client, ctx, patient):
    login(client, patient)
    configure(WTF_CSRF_ENABLED=True)
    assert client.post("/language", data={"language": "es"}).status_code == 400
    token = csrf_from(client.get("/requests").get_data(as_text=True))
    assert client.post("/language", data={"language": "es", "csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, patient.id).language == "es"


def test_staff_switching_changes_no_profile(client, ctx, agent):
    login(client, agent)
    assert client.post("/language", data={"language": "es"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, agent.id).language == "en"
    assert html_lang(client.get("/agent/tickets")) == "en"


def test_set_language_service_rules(ctx, patient, agent):
    with pytest.raises(ValidationFailed):
        i18n_services.set_language(user=patient, language="de")
    with pytest.raises(Forbidden):
        i18n_services.set_language(user=agent, language="es")
    assert i18n_services.set_language(user=patient, language="es").language == "es"
    i18n_services.set_language(user=patient, language="es")  # no change, no second audit row
    n = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "user.language_changed"))
    assert n == 1


def test_registering_in_spanish_saves_spanish_on_the_profile(client, ctx, queues):
    resp = client.post("/register", headers=ES, data={"name": "Rosa Díaz", "email": "rosa@example.net",
                                                      "password": "una frase larga", "confirm": "una frase larga"})
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(User).where(User.email == "rosa@example.net")).language == "es"
    welcome = client.get("/account/verify-email").get_data(as_text=True)
    assert "¡Le damos la bienvenida! Su cuenta está creada." in welcome
    assert "Confirme su correo electrónico" in welcome
    mail = db.session.scalar(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "email_verification"))
    assert mail.lang == "es" and "Confirme su correo electrónico" in mail.subject
    confirm_email(client, "rosa@example.net")
    assert client.get("/requests").status_code == 200


# ------------------------------------------------------------------ Spanish on the patient pages


def test_form_errors_are_in_spanish_and_tied_to_their_fields(client, ctx):
    resp = client.post("/register", headers=ES, data={"name": "", "email": "no-es-correo", "password": "corta",
                                                      "confirm": "otra"})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Este campo es obligatorio." in text  # WTForms' own message, in Spanish
    assert "Use entre 8 y 128 caracteres." in text and "Las contraseñas no coinciden." in text
    assert 'aria-invalid="true"' in text and 'aria-describedby="name-error"' in text
    assert 'id="error-summary"' in text and "Revise el formulario" in text and 'href="#name"' in text
    assert "This field is required" not in text


def test_sign_in_failure_is_in_spanish(client, ctx, patient):
    resp = client.post("/login", headers=ES, data={"email": "nadie@example.net", "password": "cualquiera1"})
    assert "no corresponden a ninguna cuenta" in resp.get_data(as_text=True)


def test_get_help_reply_and_close_speak_spanish(client, ctx, patient, agent):
    login(client, spanish(patient))
    page = client.get("/help").get_data(as_text=True)
    assert "¿En qué necesita ayuda?" in page and "Cuéntenos más" in page and "Enviar solicitud" in page
    assert 'data-msg-answered="Esto respondió a mi pregunta"' in page
    empty = client.post("/help", data={"subject": "", "body": ""})
    assert empty.status_code == 422 and "Este campo es obligatorio." in empty.get_data(as_text=True)

    resp = client.post("/help", data={"subject": "Cobro doble", "body": "Me cobraron dos veces la misma visita.",
                                      "confirm": "1"})
    assert resp.status_code == 302
    reference = resp.headers["Location"].rsplit("/", 1)[1]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"Gracias. Recibimos su solicitud {reference}." in page
    assert "Recibida" in page and "Responder" in page and "Cerrar mi solicitud" in page

    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.reference == reference))
    tickets.post_message(ticket, author=agent, body="Lo revisamos, gracias.", channel=ticket.channel,
                         next_status=Status.PENDING_PATIENT)
    page = client.get(f"/requests/{reference}").get_data(as_text=True)
    assert "Esperando su respuesta" in page and "Alex, del servicio de ayuda" in page
    assert re.search(r"\d{1,2} [a-z]{3,4}\.? 20\d\d, \d{1,2}:\d\d", page)  # dates the Spanish way

    sent = client.post(f"/requests/{reference}/reply", data={"body": "Gracias."})
    assert "Se envió su respuesta." in client.get(sent.headers["Location"]).get_data(as_text=True)
    closed = client.post(f"/requests/{reference}/close")
    page = client.get(closed.headers["Location"]).get_data(as_text=True)
    assert "Su solicitud está cerrada." in page and "Esta solicitud está cerrada" in page and "Cerrada" in page


def test_error_pages_are_in_spanish(client, ctx, patient, other_patient, make_ticket):
    theirs = make_ticket(requester=other_patient)
    login(client, spanish(patient))
    resp = client.get(f"/requests/{theirs.reference}")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "Página no encontrada" in text
    assert "No hay ninguna solicitud con esa referencia." in text and "Ir a la página de inicio" in text
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "No encontramos esa página." in missing.get_data(as_text=True)
    forbidden = client.get("/agent/tickets")
    assert forbidden.status_code == 403 and "No tiene acceso a esta página." in forbidden.get_data(as_text=True)


def test_sign_in_prompt_is_in_spanish(client, ctx):
    resp = client.get("/requests", headers=ES)
    assert resp.status_code == 302
    assert "Inicie sesión para continuar." in client.get(resp.headers["Location"], headers=ES).get_data(as_text=True)


def test_help_centre_and_article_in_spanish(client, ctx, supervisor, queues):
    from helpdesk.kb import services as kb
    from helpdesk.kb.models import ArticleStatus

    article = kb.create_article(actor=supervisor, data={
        "title": "Reset your password", "summary": "Reset it yourself in a few minutes.",
        "body_md": "## Steps\n\n1. Open the sign-in page.\n", "category": "Signing in",
        "queues": ["account-access"], "audience": "public", "language": "en"})
    for step in (ArticleStatus.IN_REVIEW, ArticleStatus.PUBLISHED):
        kb.change_status(article, actor=supervisor, status=step)
    centre = client.get("/help-centre", headers=ES).get_data(as_text=True)
    assert "Buscar en el centro de ayuda" in centre and "Ver por tema" in centre and "Todos los idiomas" in centre
    page = client.get(f"/help-centre/articles/{article.slug}", headers=ES).get_data(as_text=True)
    assert "¿Le resultó útil?" in page and "Última revisión" in page
    assert '<article class="kb-article" lang="en">' in page  # the English article is marked as English
    empty = client.post("/help-centre/search", headers=ES, data={"q": ""})
    assert empty.status_code == 422 and "Escriba unas palabras sobre su pregunta." in empty.get_data(as_text=True)
    found = client.post("/help-centre/search", headers=ES, data={"q": "password"}).get_data(as_text=True)
    assert "1 artículo encontrado" in found
    thanks = client.post(f"/help-centre/articles/{article.slug}/feedback", headers=ES, data={"helpful": "yes"})
    assert "Gracias por su opinión." in client.get(thanks.headers["Location"], headers=ES).get_data(as_text=True)


def test_patient_status_words_follow_the_language(ctx):
    from flask_babel import force_locale

    with force_locale("es"):
        assert [s.patient_label for s in Status] == [
            "Recibida", "Estamos trabajando en ello", "Esperando su respuesta", "Resuelta", "Cerrada"]
    with force_locale("en"):
        assert Status.OPEN.patient_label == "We're working on it"


def test_roles_other_than_patient_have_no_profile_language_effect(client, ctx, make_user):
    admin = make_user(Role.ADMIN)
    admin.language = "es"
    db.session.commit()
    login(client, admin)
    assert html_lang(client.get("/admin/users", headers=ES)) == "en"


def test_text_outside_a_request_follows_the_patients_language(app, patient):
    """What a job (an e-mail) renders for a patient: their language, not the process's."""
    from flask_babel import gettext

    from helpdesk.i18n import language_of

    with app.app_context():
        patient.language = "es"
        with language_of(patient):
            assert gettext("Get help") == "Pedir ayuda" and Status.RESOLVED.patient_label == "Resuelta"
        patient.language = "en"
        with language_of(patient):
            assert gettext("Get help") == "Get help"
