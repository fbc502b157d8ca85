"""The patient's "what happens next" (issue 22): each request's state in plain words on
the list and on the request page, in English and Spanish; the expected reply time from
the SLA in the site's time zone (named), none when no target applies, an apology once it
has passed; "we're waiting for you" while the clocks are paused on the patient; unread
markers for new help desk replies (internal notes never count) cleared by viewing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.sla.models import Metric, MetricState, SlaMetric
from helpdesk.tickets import next_step
from helpdesk.tickets import services as _services
from helpdesk.tickets.models import RequestRead, Status
from tests.factories import login
from tests.notify.conftest import Settled
from tests.sla import conftest as sla_conftest

services = Settled(_services)
clock = sla_conftest.clock  # the SLA tests' movable clock fixture, used here too

# The built-in default policy: first reply for a normal request in 1 business day
# (Monday-Friday 08:00-18:00 New York): sent Monday 2 March 2026 09:00 EST → due Tuesday 09:00.
DUE = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
EXPECTED = {
    "en": "Expected reply by Tue, Mar 3, 2026, 9:00 AM (Eastern Standard Time).",
    "es": "Respuesta prevista antes del mar, 3 mar 2026, 9:00 (hora estándar oriental).",
}
WORDS = {
    "late": {"en": "Our reply is taking longer than we aimed for. We're sorry for the wait.",
             "es": "Nuestra respuesta está tardando más de lo previsto. Sentimos la espera."},
    "as_soon": {"en": "We'll reply as soon as we can.", "es": "Le responderemos lo antes posible."},
    "replied": {"en": "We've replied. Your request stays open until it's solved.",
                "es": "Le hemos respondido. Su solicitud sigue abierta hasta que se resuelva."},
    "waiting": {"en": "We're waiting for you: please reply so we can continue.",
                "es": "Estamos esperando su respuesta: responda para que podamos continuar."},
    "resolved": {"en": "We think this is solved. If it isn't, reply and we'll reopen it.",
                 "es": "Creemos que esto está resuelto. Si no es así, responda y la volveremos a abrir."},
    "closed": {"en": "This request is closed. Writing to it starts a new request.",
               "es": "Esta solicitud está cerrada. Si escribe en ella, se abrirá una nueva solicitud."},
}


def _text(html: str) -> str:
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html.replace("&#39;", "'").replace("&amp;", "&"))


def _next_step_on(client, ticket) -> tuple[str, str]:
    """The sentence on the request list's card and on the request page."""
    listing = client.get("/requests").get_data(as_text=True)
    card = re.search(r'<p class="next-step">(.*?)</p>', listing, re.S).group(1)
    page = client.get(f"/requests/{ticket.reference}").get_data(as_text=True)
    own = re.search(r'<p class="request-next next-step" id="next-step">(.*?)</p>', page, re.S).group(1)
    return _text(card).strip(), _text(own).strip()


def _as(client, patient, language: str):
    login(client, patient)
    if language == "es":
        assert client.post("/language", data={"language": "es", "next": "/requests"}).status_code == 302
    return client


@pytest.mark.parametrize("language", ["en", "es"])
def test_expected_reply_time_from_the_sla_in_the_site_zone(client, ctx, clock, make_ticket, patient, language):
    t = make_ticket()
    due = db.session.scalar(sa.select(SlaMetric.due_at).where(SlaMetric.ticket_id == t.id,
                                                              SlaMetric.metric == Metric.FIRST_REPLY))
    assert due == DUE
    _as(client, patient, language)
    assert _next_step_on(client, t) == (EXPECTED[language], EXPECTED[language])


def test_the_zone_is_the_sites_and_is_named(client, ctx, clock, make_ticket, patient, configure):
    t = make_ticket()
    configure(site_timezone="America/Los_Angeles")
    login(client, patient)
    card, _ = _next_step_on(client, t)
    assert card == "Expected reply by Tue, Mar 3, 2026, 6:00 AM (Pacific Standard Time)."


def test_a_patient_who_chose_a_time_zone_sees_the_time_in_it(client, ctx, clock, make_ticket, patient):
    t = make_ticket()
    patient.timezone = "America/Chicago"
    db.session.commit()
    login(client, patient)
    card, own = _next_step_on(client, t)
    assert card == own == "Expected reply by Tue, Mar 3, 2026, 8:00 AM (Central Standard Time)."


@pytest.mark.parametrize("language", ["en", "es"])
def test_past_the_target_no_time_is_promised(client, ctx, clock, make_ticket, patient, language):
    t = make_ticket()
    clock.set(datetime(2026, 3, 3, 15, 0, tzinfo=UTC))  # an hour after it was due
    _as(client, patient, language)
    card, page = _next_step_on(client, t)
    assert card == page == WORDS["late"][language]
    assert "2026" not in card


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_target_no_expected_time(client, ctx, clock, queues, make_ticket, patient, language):
    from helpdesk.sla.models import SlaPolicy

    db.session.add(SlaPolicy(name="No reply target", position=1,
                             targets={"*": {"resolution": {"seconds": 36000, "business": True}}}))
    db.session.commit()
    t = make_ticket()
    assert not db.session.scalars(sa.select(SlaMetric).where(
        SlaMetric.ticket_id == t.id, SlaMetric.metric == Metric.FIRST_REPLY)).all()
    _as(client, patient, language)
    card, page = _next_step_on(client, t)
    assert card == page == WORDS["as_soon"][language]


@pytest.mark.parametrize("language", ["en", "es"])
def test_after_the_help_desk_replied(client, ctx, clock, make_ticket, patient, agent, language):
    t = make_ticket()
    clock.advance(hours=1)
    services.post_message(t, author=agent, body="We are looking at your statement.")
    _as(client, patient, language)
    card, page = _next_step_on(client, t)
    assert card == page == WORDS["replied"][language]


def test_a_patient_message_after_the_reply_owes_the_next_reply(client, ctx, clock, make_ticket, patient, agent):
    t = make_ticket()
    clock.advance(hours=1)
    services.post_message(t, author=agent, body="We are looking at your statement.")
    clock.advance(hours=1)  # Monday 11:00: next reply (1 business day) due Tuesday 11:00
    services.post_message(t, author=patient, body="Thank you, one more thing.")
    login(client, patient)
    card, _ = _next_step_on(client, t)
    assert card == "Expected reply by Tue, Mar 3, 2026, 11:00 AM (Eastern Standard Time)."


@pytest.mark.parametrize("language", ["en", "es"])
def test_waiting_for_the_patient_while_the_clocks_are_paused(client, ctx, clock, make_ticket, patient, agent,
                                                             language):
    t = make_ticket()
    services.post_message(t, author=agent, body="Which visit was it?", next_status=Status.PENDING_PATIENT)
    states = set(db.session.scalars(sa.select(SlaMetric.state).where(SlaMetric.ticket_id == t.id)))
    assert MetricState.PAUSED in states and MetricState.ACTIVE not in states
    _as(client, patient, language)
    card, page = _next_step_on(client, t)
    assert card == page == WORDS["waiting"][language]
    assert "2026" not in card


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
def test_resolved_and_closed(client, ctx, clock, make_ticket, patient, agent, language, status):
    t = make_ticket()
    services.post_message(t, author=agent, body="Fixed: the duplicate charge is refunded.", next_status=status)
    _as(client, patient, language)
    card, page = _next_step_on(client, t)
    assert card == page == WORDS[status.value][language]


def test_decide_covers_every_case():
    due = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
    running = {"due_at": due, "paused": False, "state": "ok"}
    assert next_step.decide(Status.NEW, running, False) == next_step.NextStep("expected", due)
    assert next_step.decide(Status.OPEN, {**running, "state": "at_risk"}, False).kind == "expected"
    assert next_step.decide(Status.OPEN, {**running, "state": "breached"}, False).kind == "late"
    assert next_step.decide(Status.OPEN, None, True).kind == "replied"
    assert next_step.decide(Status.NEW, None, False).kind == "as_soon"
    assert next_step.decide(Status.PENDING_PATIENT, {**running, "paused": True, "due_at": None}, True).kind == "waiting"
    assert next_step.decide(Status.RESOLVED, None, True).kind == "resolved"
    assert next_step.decide(Status.CLOSED, None, True).kind == "closed"


# ----------------------------------------------------------------------------- unread markers


def _unread_on_list(client) -> bool:
    return "New reply" in client.get("/requests").get_data(as_text=True)


def test_a_help_desk_reply_is_unread_until_the_patient_opens_the_request(client, ctx, make_ticket, patient, agent):
    t = make_ticket()
    login(client, patient)
    assert not _unread_on_list(client)  # only the patient's own message
    client.get(f"/requests/{t.reference}")
    reply = services.post_message(t, author=agent, body="We refunded the duplicate charge.").message
    assert _unread_on_list(client)
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert page.count('class="badge unread"') == 1  # the new reply is marked on the view that reads it
    assert re.search(r'<li class="msg from-staff unread">\s*<p class="who"><span class="badge unread">New</span>',
                     page)
    marker = db.session.get(RequestRead, (t.id, patient.id))
    assert marker.last_seen_message_id == reply.id
    assert not _unread_on_list(client)
    again = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert 'class="badge unread"' not in again


def test_internal_notes_never_count_as_unread(client, ctx, make_ticket, patient, agent):
    t = make_ticket()
    login(client, patient)
    client.get(f"/requests/{t.reference}")
    services.post_message(t, author=agent, body="Checked the ledger, refund pending.", public=False)
    assert not _unread_on_list(client)
    assert 'class="badge unread"' not in client.get(f"/requests/{t.reference}").get_data(as_text=True)


def test_a_reply_never_viewed_is_unread_and_the_patients_own_messages_are_not(client, ctx, make_ticket, patient,
                                                                            agent):
    t = make_ticket()
    services.post_message(t, author=agent, body="We refunded the duplicate charge.")
    services.post_message(t, author=patient, body="Thanks!")
    login(client, patient)
    assert _unread_on_list(client)  # no marker yet: the help desk's reply was never seen
    client.get(f"/requests/{t.reference}")
    services.post_message(t, author=patient, body="And the receipt?")
    assert not _unread_on_list(client)


@pytest.mark.parametrize("language", ["en", "es"])
def test_unread_marker_words(client, ctx, make_ticket, patient, agent, language):
    t = make_ticket()
    services.post_message(t, author=agent, body="We refunded the duplicate charge.")
    _as(client, patient, language)
    listing = client.get("/requests").get_data(as_text=True)
    assert {"en": "New reply", "es": "Nueva respuesta"}[language] in listing
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert '<span class="badge unread">{}</span>'.format({"en": "New", "es": "Nuevo"}[language]) in page


def test_another_patient_or_an_agent_cannot_read_or_mark(client, ctx, make_ticket, patient, other_patient, agent):
    t = make_ticket()
    services.post_message(t, author=agent, body="We refunded the duplicate charge.")
    login(client, other_patient)
    assert client.get(f"/requests/{t.reference}").status_code == 404
    login(client, agent)
    assert client.get(f"/requests/{t.reference}").status_code == 403
    assert client.get(f"/agent/tickets/{t.reference}").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestRead)) == 0
    with pytest.raises(Exception, match="No request"):
        _services.mark_request_read(other_patient, t)


def test_the_request_page_with_survey_errors_still_says_what_happens_next(client, ctx, make_ticket, patient, agent):
    t = make_ticket()
    services.post_message(t, author=agent, body="Fixed: the duplicate charge is refunded.", next_status=Status.RESOLVED)
    login(client, patient)
    resp = client.post(f"/requests/{t.reference}/survey", data={})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="rating-error"' in page
    assert WORDS["resolved"]["en"] in _text(page)
