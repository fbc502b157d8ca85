"""What pages say about a flagged request: the patient's page in English and Spanish for
every case (read from the stored alert rows), the staff banner, acknowledging, the roster."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from helpdesk.clinical import services as clinical
from helpdesk.clinical.models import AlertRecipient, ClinicalAlert
from helpdesk.extensions import db
from helpdesk.i18n import services as i18n_services
from tests.factories import bearer, login

FALSE_CLAIMS = ("A nurse has been alerted to your request", "Avisamos al personal de enfermería sobre su solicitud")
CLINICIAN = {"en": "The nurse on duty was alerted at {t}.", "es": "Se avisó al personal de enfermería de guardia a las {t}."}
MANAGERS = {"en": "No nurse is on duty right now, so we alerted the help desk&#39;s managers at {t}.",
            "es": "Ahora mismo no hay personal de enfermería de guardia, así que avisamos a los responsables de la mesa "
                  "de ayuda a las {t}."}
NOBODY = {"en": "No nurse is on duty right now, and we could not alert anyone.",
          "es": "Ahora mismo no hay personal de enfermería de guardia y no pudimos avisar a nadie."}
NINE_ONE_ONE = {"en": "If this is an emergency, call 911 or go to the nearest emergency department.",
                "es": "Si es una emergencia, llame al 911 o vaya a la sala de emergencias más cercana."}
PHONE = {"en": 'You can also call the help desk at <a href="tel:5550100100">(555) 010-0100</a>.',
         "es": 'También puede llamar a la mesa de ayuda al <a href="tel:5550100100">(555) 010-0100</a>.'}
ACKED = {"en": "A member of our team acknowledged the alert at {t}.",
         "es": "Un miembro de nuestro equipo confirmó la alerta a las {t}."}
#: A phrase only that sentence has, in each language
KEY = {"clinician": {"en": "nurse on duty was alerted", "es": "Se avisó al personal"},
       "managers": {"en": "alerted the help desk", "es": "avisamos a los responsables"},
       "nobody": {"en": "could not alert anyone", "es": "no pudimos avisar"},
       "acked": {"en": "acknowledged the alert", "es": "confirmó la alerta"}}


def _hhmm(value) -> str:
    return value.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M")


def _notice(client, patient, ticket, lang: str) -> str:
    i18n_services.set_language(user=patient, language=lang)
    login(client, patient)
    page = client.get(f"/requests/{ticket.reference}").get_data(as_text=True)
    assert f'<html lang="{lang}"' in page
    match = re.search(r'<div class="emergency" role="alert" id="emergency-notice".*?</div>', page, re.S)
    assert match, "no emergency notice on the page"
    return match.group(0)


def _always(text: str, lang: str) -> None:
    assert NINE_ONE_ONE[lang] in text
    assert PHONE[lang] in text
    for claim in FALSE_CLAIMS:
        assert claim not in text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_clinician_alerted(ctx, client, patient, make_clinician, emergency, lang):
    nurse = make_clinician("Nora Nurse")
    t = emergency()
    at = db.session.scalar(sa.select(AlertRecipient.notified_at).where(AlertRecipient.user_id == nurse.id))
    text = _notice(client, patient, t, lang)
    _always(text, lang)
    assert CLINICIAN[lang].format(t=_hhmm(at)) in text
    assert KEY["nobody"][lang] not in text and KEY["managers"][lang] not in text
    assert KEY["acked"][lang] not in text  # nobody acknowledged yet
    clinical.acknowledge(db.session.scalar(sa.select(ClinicalAlert)), user=nurse)
    acked_at = db.session.scalar(sa.select(ClinicalAlert.acknowledged_at))
    text = _notice(client, patient, t, lang)
    assert ACKED[lang].format(t=_hhmm(acked_at)) in text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_nobody_on_duty_managers_alerted(ctx, client, patient, supervisor, make_clinician, emergency, lang):
    make_clinician("Nina Night", mode="off")
    t = emergency()
    at = db.session.scalar(sa.select(AlertRecipient.notified_at).where(AlertRecipient.user_id == supervisor.id))
    text = _notice(client, patient, t, lang)
    _always(text, lang)
    assert MANAGERS[lang].format(t=_hhmm(at)) in text
    assert KEY["clinician"][lang] not in text and KEY["nobody"][lang] not in text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_nobody_on_duty_and_nobody_to_alert(ctx, client, patient, emergency, lang):
    t = emergency()  # no staff at all
    assert db.session.scalar(sa.select(sa.func.count(AlertRecipient.id))) == 0
    text = _notice(client, patient, t, lang)
    _always(text, lang)
    assert NOBODY[lang] in text
    assert KEY["clinician"][lang] not in text and KEY["managers"][lang] not in text


@pytest.mark.parametrize("lang", ["en", "es"])
def test_an_old_request_without_an_alert_row_claims_nothing(ctx, client, patient, make_clinician, emergency, lang):
    make_clinician("Nora Nurse")
    t = emergency()
    db.session.delete(db.session.scalar(sa.select(ClinicalAlert)))  # as before alerts were recorded
    db.session.commit()
    text = _notice(client, patient, t, lang)
    _always(text, lang)
    for key in KEY.values():
        assert key[lang] not in text


def test_an_ordinary_request_shows_no_emergency_notice(ctx, client, patient, make_ticket):
    t = make_ticket()
    login(client, patient)
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert 'id="emergency-notice"' not in page


def test_the_api_says_what_happened(ctx, client, portal, make_clinician, emergency, patient):
    portal_user, secret = portal
    nurse = make_clinician("Nora Nurse")
    resp = client.post("/api/v1/tickets", headers=bearer(secret), json={
        "subject": "Help", "body": "my father has chest pain and can't breathe",
        "requester": {"email": "maria@example.net", "name": "Maria Lopez"}})
    assert resp.status_code == 201
    notice = resp.get_json()["emergency"]
    at = db.session.scalar(sa.select(AlertRecipient.notified_at).where(AlertRecipient.user_id == nurse.id))
    assert notice["alert_status"] == "clinician_alerted" and notice["alerted_at"] == at.isoformat()
    assert notice["notice"] == [f"The nurse on duty was alerted at {_hhmm(at)}."]
    assert notice["notice_es"] == [f"Se avisó al personal de enfermería de guardia a las {_hhmm(at)}."]
    assert notice["helpdesk_phone"] == "(555) 010-0100" and "911" in notice["message"]
    assert notice["acknowledged_at"] is None


def test_the_banner_on_every_staff_page_and_acknowledging_it(ctx, client, make_clinician, emergency, supervisor):
    nurse = make_clinician("Nora Nurse")
    t = emergency()
    login(client, nurse)
    for path in ("/agent/", "/agent/tickets", "/kb/", f"/agent/tickets/{t.reference}"):
        page = client.get(path).get_data(as_text=True)
        banner = re.search(r'<section id="clinical-alerts".*?</section>', page, re.S).group(0)
        assert "hidden" not in banner.split(">")[0] and t.reference in banner and "Acknowledge" in banner
        assert "clinical-alerts.js" in page
    data = client.get("/clinical/alerts.json", headers={"X-Helpdesk-Background": "1"}).get_json()
    [item] = data["alerts"]
    assert item["reference"] == t.reference and item["category"] in ("breathing", "chest pain")
    assert set(item) >= {"id", "ack_url", "ticket_url", "raised_local", "minutes_open", "round"}
    assert "father" not in str(data)  # no patient text
    # the supervisor was not alerted: no banner, and acknowledging is "not found"
    login(client, supervisor)
    assert client.get("/clinical/alerts.json").get_json() == {"alerts": []}
    assert client.post(f"/clinical/alerts/{item['id']}/acknowledge").status_code == 404
    page = client.get("/clinical/alerts").get_data(as_text=True)
    assert "Unacknowledged emergencies" in page and t.reference in page and "Nora Nurse" in page
    dashboard = client.get("/supervisor/dashboard").get_data(as_text=True)
    assert "1 unacknowledged" in dashboard and "On duty now: Nora Nurse" in dashboard
    # the nurse acknowledges from the banner: back to the page, no banner any more
    login(client, nurse)
    resp = client.post(f"/clinical/alerts/{item['id']}/acknowledge", data={"next": "/agent/tickets"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/agent/tickets")
    page = client.get("/agent/tickets").get_data(as_text=True)
    assert "acknowledged. Escalation stopped." in page
    banner = re.search(r'<section id="clinical-alerts".*?</section>', page, re.S).group(0)
    assert "hidden" in banner.split(">")[0] and t.reference not in banner
    login(client, supervisor)
    assert "No unacknowledged emergencies." in client.get("/supervisor/dashboard").get_data(as_text=True)


def test_an_unsafe_next_after_acknowledging_goes_to_the_ticket(ctx, client, make_clinician, emergency):
    nurse = make_clinician("Nora Nurse")
    t = emergency()
    alert = db.session.scalar(sa.select(ClinicalAlert))
    login(client, nurse)
    resp = client.post(f"/clinical/alerts/{alert.id}/acknowledge", data={"next": "//evil.example/x"})
    assert resp.headers["Location"].endswith(f"/agent/tickets/{t.reference}")


def test_the_roster_page_manages_the_roster_and_shows_who_is_on_duty(ctx, client, supervisor, make_clinician, agent):
    nurse = make_clinician("Nora Nurse", on_roster=False)
    login(client, supervisor)
    page = client.get("/admin/on-call").get_data(as_text=True)
    assert "Nobody is on duty." in page and "Nora Nurse" in page  # a candidate
    assert client.post("/admin/on-call/members", data={"user_id": str(nurse.id), "mode": "on"}).status_code == 302
    page = client.get("/admin/on-call").get_data(as_text=True)
    assert re.search(r"On duty now</h2>\s*<p>Nora Nurse</p>", page)
    client.post(f"/admin/on-call/members/{nurse.id}/shifts", data={"weekday": "4", "start": "22:00", "end": "06:00"})
    client.post(f"/admin/on-call/members/{nurse.id}/mode", data={"mode": "off"})
    page = client.get("/admin/on-call").get_data(as_text=True)
    assert "Friday 22:00–06:00 (next day)" in page and "Nobody is on duty." in page
    resp = client.post(f"/admin/on-call/members/{nurse.id}/shifts", data={"weekday": "4", "start": "25:00", "end": "x"})
    assert resp.status_code == 302
    assert "Times are HH:MM" in client.get("/admin/on-call").get_data(as_text=True)
    # agents may not see or change it
    login(client, agent)
    assert client.get("/admin/on-call").status_code == 403
    assert client.post(f"/admin/on-call/members/{nurse.id}/mode", data={"mode": "on"}).status_code == 403


def test_a_supervisor_outside_the_clinical_queue_sees_the_roster_but_cannot_change_it(ctx, client, make_user,
                                                                                     make_clinician):
    from helpdesk.auth.models import Role

    nurse = make_clinician("Nora Nurse")
    billing_sup = make_user(Role.SUPERVISOR, member_of=("billing",))
    login(client, billing_sup)
    page = client.get("/admin/on-call").get_data(as_text=True)
    assert "Nora Nurse" in page and "Add shift" not in page
    assert client.post(f"/admin/on-call/members/{nurse.id}/mode", data={"mode": "off"}).status_code == 403


def test_the_roster_api(ctx, client, supervisor, admin, make_clinician, agent):
    from helpdesk.auth import services as accounts

    nurse = make_clinician("Nora Nurse", on_roster=False)
    _t, sup_secret = accounts.create_api_token(actor=None, name="sup", user=supervisor)
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    h = bearer(sup_secret)
    assert client.get("/api/v1/oncall", headers=bearer(agent_secret)).status_code == 403
    resp = client.post("/api/v1/oncall/members", headers=h, json={"user_id": nurse.id, "mode": "shifts"})
    assert resp.status_code == 201 and resp.get_json()["mode"] == "shifts"
    resp = client.post(f"/api/v1/oncall/members/{nurse.id}/shifts", headers=h,
                       json={"weekday": 0, "start": "00:00", "end": "00:00"})
    assert resp.status_code == 201 and resp.get_json()["label"] == "Monday 00:00 (24 hours)"
    shift_id = resp.get_json()["id"]
    assert client.post(f"/api/v1/oncall/members/{nurse.id}/shifts", headers=h,
                       json={"weekday": 0, "start": "24:00", "end": "01:00"}).status_code == 422
    assert client.post(f"/api/v1/oncall/members/{nurse.id}/shifts", headers=h,
                       json={"weekday": 0, "start": "00:00", "end": "01:00", "x": 1}).status_code == 422
    assert client.put(f"/api/v1/oncall/members/{nurse.id}/duty", headers=h, json={"mode": "on"}).get_json()["on_duty"]
    roster = client.get("/api/v1/oncall", headers=h).get_json()
    assert roster["timezone"] == "America/New_York" and roster["on_duty"] == [{"user_id": nurse.id, "name": "Nora Nurse"}]
    assert client.delete(f"/api/v1/oncall/shifts/{shift_id}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/oncall/members/{nurse.id}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/oncall/members/{nurse.id}", headers=h).status_code == 404
    assert client.get("/api/v1/oncall", headers=h).get_json()["members"] == []


def test_the_oncall_cli(app, ctx, make_clinician):
    nurse = make_clinician("Nora Nurse", on_roster=False)
    runner = app.test_cli_runner()
    assert "Nobody is on duty" in runner.invoke(args=["oncall", "now"]).output
    out = runner.invoke(args=["oncall", "add", nurse.email, "--mode", "shifts"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(args=["oncall", "shift-add", nurse.email, "sun", "00:00", "00:00"])
    assert "Sunday 00:00 (24 hours)" in out.output
    assert runner.invoke(args=["oncall", "shift-add", nurse.email, "sun", "9", "10:00"]).exit_code != 0
    runner.invoke(args=["oncall", "duty", nurse.email, "on"])
    assert nurse.email in runner.invoke(args=["oncall", "now"]).output
    listing = runner.invoke(args=["oncall", "list"]).output
    assert "duty=on" in listing and "on duty now" in listing and "Sunday 00:00 (24 hours)" in listing
    shift_id = re.search(r"shift (\d+):", listing).group(1)
    assert runner.invoke(args=["oncall", "shift-remove", shift_id]).exit_code == 0
    assert runner.invoke(args=["oncall", "remove", nurse.email]).exit_code == 0
    assert runner.invoke(args=["oncall", "remove", nurse.email]).exit_code != 0
    assert "0 alert(s) escalated" in runner.invoke(args=["oncall", "sweep"]).output
