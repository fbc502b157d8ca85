"""No PHI in any notification: every mail template in both languages, every staff
notice and the survey page, with a ticket full of PHI-like text."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.notify import mail as mailer
from helpdesk.notify import services as notify
from helpdesk.notify.models import OutgoingEmail
from helpdesk.tickets import services as _tickets
from tests.factories import login
from tests.notify.conftest import Settled

tickets = Settled(_tickets)

ROOT = Path(__file__).resolve().parents[2]

SUBJECT = "Chemo infusion 03/14/2026 oncology leukemia MRN 99887766"
BODY = ("My date of birth is 1961-07-04 (DOB 07/04/1961), MRN 99887766. Diagnosis: acute myeloid leukemia, "
        "HIV positive. I owe $4,321.77 for the chemotherapy on March 14 2026 at 10:30 AM with Dr. Okonkwo. "
        "Lisinopril 20mg refill please.")
PHI = ["Chemo", "infusion", "oncology", "leukemia", "99887766", "1961", "07/04", "myeloid", "HIV",
       "4,321.77", "4321", "chemotherapy", "March 14", "03/14", "10:30", "Okonkwo", "Lisinopril", "20mg",
       "Rosalind", "Pemberton", "date of birth"]


def _assert_clean(text: str, where: str) -> None:
    # a survey link's token is random: it may spell "hiv" or "1961" by chance, and is no PHI
    lowered = re.sub(r"/survey/[\w-]+", "/survey/TOKEN", text).lower()
    leaked = [p for p in PHI if p.lower() in lowered]
    assert not leaked, f"{where} leaks {leaked}"


def _phi_ticket(make_ticket, make_user, lang: str):
    patient = make_user(Role.PATIENT, name="Rosalind Pemberton-Quayle")
    patient.date_of_birth, patient.mrn = date(1961, 7, 4), "99887766"
    db.session.commit()
    notify.update_preferences(patient, email=True, language=lang)
    t = make_ticket(requester=patient, subject=SUBJECT, body=BODY, queue=None)
    return patient, t


def test_every_event_mail_and_notice_is_free_of_phi(ctx, client, make_ticket, make_user, agent, supervisor):
    notify.update_preferences(agent, email=True, language="en")
    notify.update_preferences(supervisor, email=True, language="es")
    seen_kinds = set()
    for lang in ("en", "es"):
        patient, t = _phi_ticket(make_ticket, make_user, lang)
        # move it to another of the agent's queues (wherever the router put it), unassigned
        target = next(m.queue_id for m in agent.memberships if m.queue_id != t.queue_id)
        tickets.update_ticket(t, actor=supervisor, queue_id=target, reason="billing question", assignee_id=None)
        tickets.update_ticket(t, actor=supervisor, assignee_id=agent.id)  # "assigned"
        tickets.post_message(t, author=agent, body=f"About your {BODY}")  # agent_replied (body is PHI)
        tickets.post_message(t, author=patient, body=BODY)  # patient_replied
        tickets.post_message(t, author=agent, body=BODY, next_status="pending_patient")
        tickets.post_message(t, author=patient, body=BODY)
        tickets.update_ticket(t, actor=agent, status="resolved")  # resolved + survey
        notify.sla_event(t, "breached", "first_reply", t.updated_at)
        db.session.commit()
    rows = list(db.session.scalars(sa.select(OutgoingEmail)))
    for m in rows:
        seen_kinds.add((m.kind, m.lang))
        _assert_clean(m.subject, f"subject of {m.kind}/{m.lang}")
        _assert_clean(m.body, f"body of {m.kind}/{m.lang}")
    expected = {(k, lang) for k in notify.PATIENT_EVENTS for lang in ("en", "es")} | {("staff_notice", "en"),
                                                                                        ("staff_notice", "es")}
    assert expected <= seen_kinds
    # the staff's notification list shows kinds and references only
    login(client, agent)
    page = client.get("/notifications").get_data(as_text=True)
    assert t.reference in page
    _assert_clean(page.split("<main", 1)[1], "notifications page")


def test_every_mail_template_renders_without_phi_in_both_languages(ctx, make_ticket, make_user):
    """Also the templates no event used above: render each one with the richest context
    the services could give (every ticket field as a variable) and check the output."""
    _patient, t = _phi_ticket(make_ticket, make_user, "en")
    context = {"reference": t.reference, "request_url": f"http://x/requests/{t.reference}",
               "survey_url": "http://x/survey/TOKEN", "what": notify.kind_label("sla_breached_first_reply"),
               "kind": "sla_breached_first_reply"}
    templates = sorted((ROOT / "templates" / "notify" / "mail").glob("[!_]*.txt"))
    assert len(templates) >= 14
    for path in templates:
        kind, lang, _ = path.name.split(".")
        subject, body, used = mailer.render(kind, lang, context)
        assert used == lang
        # account mails (password reset / changed) are about no request
        assert subject and t.reference in subject or kind in ("test", "password_reset", "password_changed",
                                                                 "email_verification", "staff_invite")
        _assert_clean(subject + "\n" + body, path.name)


def test_the_survey_link_page_shows_nothing_of_the_ticket(ctx, client, make_ticket, make_user, agent):
    _patient, t = _phi_ticket(make_ticket, make_user, "en")
    tickets.update_ticket(t, actor=agent, status="resolved")
    survey_mail = db.session.scalar(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "survey"))
    url = next(line for line in survey_mail.body.splitlines() if "/survey/" in line).strip()
    page = client.get(url[url.index("/survey/"):])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert t.reference not in html
    _assert_clean(html, "survey page")
