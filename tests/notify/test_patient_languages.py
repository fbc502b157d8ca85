"""The notifications area's patient pages in English and Spanish: notification settings,
the survey (behind the mail's link and on the request page), files on messages; and
their errors shown next to the field they are about, in the patient's language."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.i18n import N_, translate
from helpdesk.i18n import services as i18n_services
from helpdesk.notify import csat
from helpdesk.notify import services as notify
from helpdesk.tickets import services as _tickets
from helpdesk.tickets.models import Message
from tests.factories import login
from tests.notify.conftest import Settled
from tests.notify.samples import EXE, pdf, png

tickets = Settled(_tickets)
ES = {"Accept-Language": "es-US,es;q=0.9"}


def html_lang(text: str) -> str:
    return re.search(r'<html lang="([^"]+)"', text).group(1)


def spanish(user):
    i18n_services.set_language(user=user, language="es")
    return user


def _resolved_with_link(make_ticket, agent):
    t = make_ticket()
    tickets.update_ticket(t, actor=agent, status="resolved")
    token = csat.open_survey(t)  # a link we can read (the mailed one is replaced)
    db.session.commit()
    return t, f"/survey/{token}"


def _messages(ticket) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Message).where(Message.ticket_id == ticket.id))


@pytest.fixture
def limits(configure):
    return configure


# ----------------------------------------------------------------------------- messages with values


def test_a_service_message_with_values_is_english_and_translates_with_its_values(ctx):
    message = N_("At most %(count)d files per message.", count=3)
    assert message == "At most 3 files per message." and isinstance(message, str)
    with force_locale("es"):
        assert translate(message) == "Como máximo 3 archivos por mensaje."
        assert translate(N_("No such file.")) == "Ese archivo no existe."
        # a message the catalogue doesn't know is shown in English, values filled in
        assert translate(N_("Only %(n)d left, untranslated.", n=2)) == "Only 2 left, untranslated."
    with force_locale("en"):
        assert translate(message) == "At most 3 files per message."


# ----------------------------------------------------------------------------- the survey behind the link


def test_the_survey_link_page_in_spanish_with_errors_at_their_fields(ctx, client, make_ticket, agent):
    t, url = _resolved_with_link(make_ticket, agent)
    spanish(t.requester)
    page = client.get(url, headers=ES).get_data(as_text=True)
    assert html_lang(page) == "es"
    assert "¿Cómo lo hicimos?" in page
    assert "Bien" in page and "Mal" in page and "Comentario (opcional)" in page and "Enviar" in page
    assert "How did we do?" not in page and "Comment (optional)" not in page

    resp = client.post(url, data={"comment": "x"}, headers=ES)  # no rating
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert re.search(r'<fieldset [^>]*id="rating"[^>]*aria-describedby="rating-error"', page)
    assert '<p class="error" id="rating-error">Elija Bien o Mal.</p>' in page
    assert len(re.findall(r'<input [^>]*aria-invalid="true"[^>]*name="rating"', page)) == 2
    assert 'href="#rating"' in page and 'id="error-summary"' in page  # the summary links to the group

    resp = client.post(url, data={"rating": "good", "comment": "x" * 2001}, headers=ES)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert re.search(r'<textarea [^>]*aria-describedby="csat-comment-error"[^>]*aria-invalid="true"', page)
    assert 'id="csat-comment-error">Como máximo 2000 caracteres.</p>' in page
    assert csat.survey_for(t).answered_at is None  # nothing recorded

    resp = client.post(url, data={"rating": "good", "comment": "Muy amables"}, headers=ES)
    assert resp.status_code == 200 and "Su respuesta nos ayuda a mejorar." in resp.get_data(as_text=True)
    gone = client.get(url, headers=ES)
    assert gone.status_code == 410
    assert "El enlace ya no es válido" in gone.get_data(as_text=True)
    assert "Este enlace ya se usó o ya no es válido." in gone.get_data(as_text=True)


def test_the_survey_link_page_speaks_the_language_of_the_patient_it_was_mailed_to(ctx, client, make_ticket, agent):
    t, url = _resolved_with_link(make_ticket, agent)
    spanish(t.requester)
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    page = client.get(url, headers=english_browser).get_data(as_text=True)
    assert html_lang(page) == "es" and "¿Cómo lo hicimos?" in page  # the mail was Spanish, so is the page
    client.post("/language", data={"language": "en", "next": url}, headers=english_browser)
    page = client.get(url, headers=english_browser).get_data(as_text=True)
    assert html_lang(page) == "en" and "How did we do?" in page  # the switcher still wins


def test_the_survey_link_page_in_english(ctx, client, make_ticket, agent):
    _, url = _resolved_with_link(make_ticket, agent)
    page = client.get(url, headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert html_lang(page) == "en" and "How did we do?" in page and "¿Cómo" not in page
    resp = client.post(url, data={"rating": "meh"}, headers={"Accept-Language": "en-US"})
    assert resp.status_code == 422 and 'id="rating-error">Choose Good or Bad.</p>' in resp.get_data(as_text=True)


# ----------------------------------------------------------------------------- the survey on the request page


def test_the_survey_on_the_request_page_in_spanish(ctx, client, make_ticket, agent, patient):
    t, _ = _resolved_with_link(make_ticket, agent)
    login(client, spanish(patient))
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert "¿Cómo lo hicimos?" in page and 'id="csat-comment"' in page

    resp = client.post(f"/requests/{t.reference}/survey", data={"comment": "lento"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and html_lang(page) == "es"
    assert '<p class="error" id="rating-error">Elija Bien o Mal.</p>' in page
    assert t.subject in page and 'id="body"' in page  # the whole request page, reply form included
    assert 'id="body-error"' not in page  # …without errors of its own
    assert csat.survey_for(t).answered_at is None

    resp = client.post(f"/requests/{t.reference}/survey", data={"rating": "good"}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "Gracias por decirnos cómo lo hicimos." in page and "Usted nos dijo: Bien." in page
    assert "Gracias por su opinión" in page

    again = client.post(f"/requests/{t.reference}/survey", data={"rating": "bad"},
                        headers={"Referer": f"/requests/{t.reference}"}, follow_redirects=True)
    assert "Gracias: usted ya nos dijo cómo lo hicimos." in again.get_data(as_text=True)
    assert csat.survey_for(t).rating.value == "good"


def test_the_survey_before_resolution_is_refused_in_the_patients_words(ctx, client, make_ticket, patient):
    t = make_ticket()
    login(client, spanish(patient))
    resp = client.post(f"/requests/{t.reference}/survey", data={"rating": "good"},
                       headers={"Referer": f"/requests/{t.reference}"}, follow_redirects=True)
    assert "Podrá decirnos cómo lo hicimos cuando su solicitud esté resuelta." in resp.get_data(as_text=True)
    assert csat.survey_for(t) is None


# ----------------------------------------------------------------------------- files on messages


def test_a_refused_file_is_reported_at_the_file_field_in_spanish(ctx, client, make_ticket, patient):
    t = make_ticket()
    before = _messages(t)
    login(client, spanish(patient))
    resp = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                       data={"body": "mi programa", "attachments": [(io.BytesIO(EXE), "x.pdf")]})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    field = re.search(r'<input [^>]*id="attachments"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and 'type="file"' in field and "multiple" in field
    assert 'aria-describedby="attachments-hint attachments-error"' in field
    assert re.search(r'id="attachments-error">Solo se pueden adjuntar imágenes \(PNG, JPEG, GIF, WebP, HEIC\) '
                     r"y archivos PDF\.</p>", page)
    assert '<label for="attachments">Adjuntar archivos (opcional)</label>' in page
    assert 'href="#attachments"' in page  # in the summary of what to fix
    assert _messages(t) == before  # the reply was not posted either


def test_file_limits_are_told_with_their_numbers(ctx, client, make_ticket, patient, limits):
    t = make_ticket()
    limits(attachment_max_files=2, attachment_max_bytes=5 * 1_048_576)
    login(client, spanish(patient))
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert "o archivos PDF: hasta 2, de 5 MB como máximo cada uno." in page
    resp = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                       data={"body": "tres", "attachments": [(io.BytesIO(png()), f"{i}.png") for i in range(3)]})
    assert resp.status_code == 422
    assert 'id="attachments-error">Como máximo 2 archivos por mensaje.</p>' in resp.get_data(as_text=True)


def test_files_on_the_request_page_and_a_missing_file_in_spanish(ctx, client, make_ticket, patient):
    t = make_ticket()
    login(client, spanish(patient))
    resp = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                       data={"body": "mi factura", "attachments": [(io.BytesIO(pdf()), "factura.pdf")]})
    assert resp.status_code == 302
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert '<ul class="attachments" aria-label="Archivos adjuntos">' in page
    assert "factura.pdf</a> <span class=\"meta\">(PDF, 1 KB)</span>" in page
    missing = client.get("/attachments/999999")
    assert missing.status_code == 404 and "Ese archivo no existe." in missing.get_data(as_text=True)


# ----------------------------------------------------------------------------- notification settings


def test_settings_page_and_its_message_follow_the_language_just_chosen(ctx, client, patient):
    login(client, patient)
    page = client.get("/settings/notifications").get_data(as_text=True)
    assert html_lang(page) == "en" and "Language of these pages and of e-mails" in page
    resp = client.post("/settings/notifications", data={"language": "es", "email": "on"}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert html_lang(page) == "es"
    assert "Se guardó su configuración de notificaciones." in page
    assert "Configuración de notificaciones" in page and "Enviarme notificaciones por correo electrónico" in page
    assert "Idioma de estas páginas y de los correos electrónicos" in page and "Guardar" in page

    resp = client.post("/settings/notifications", data={"language": "fr"},
                       headers={"Referer": "/settings/notifications"}, follow_redirects=True)
    assert "Elija inglés o español." in resp.get_data(as_text=True)
    db.session.refresh(patient)
    assert patient.language == "es" and notify.email_enabled(patient) is True  # unchanged


def test_staff_settings_stay_in_english(ctx, client, make_user):
    agent = make_user(Role.AGENT)
    login(client, agent)
    resp = client.post("/settings/notifications", data={"language": "es"}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert html_lang(page) == "en" and "Your notification settings are saved." in page
    assert "Language of e-mails" in page and "Language of these pages" not in page
