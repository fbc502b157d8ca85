"""Agent-assisted reset: identity check on the ticket page, then the reset link."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.password_models import IdentityCheck, PasswordResetToken
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.tickets import services as tickets
from helpdesk.timeutil import simulated_clock, utcnow
from tests.factories import login

RIGHT = {"date_of_birth": "1984-03-14", "mrn": "mrn 204815", "phone_last4": "0142", "address_zip": "94110"}


@pytest.fixture
def on_file(ctx, patient):
    patient.date_of_birth, patient.mrn = date(1984, 3, 14), "MRN-204815"
    patient.phone, patient.address_zip = "(555) 010-0142", "94110-1234"
    db.session.commit()
    return patient


@pytest.fixture
def ticket(make_ticket, on_file):
    return make_ticket()


def check_url(t):
    return f"/agent/tickets/{t.reference}/identity-check"


def send_url(t):
    return f"/agent/tickets/{t.reference}/reset-link"


def events(action):
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def n(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# ------------------------------------------------------------------ the triad


def test_identity_check_triad(client, ctx, ticket, agent, patient, outsider_agent):
    login(client, agent)
    ok = client.post(check_url(ticket), data=RIGHT, follow_redirects=True)
    assert ok.status_code == 200 and "Identity check passed" in ok.get_data(as_text=True)
    login(client, patient)
    assert client.post(check_url(ticket), data=RIGHT).status_code == 403
    login(client, outsider_agent)
    assert client.post(check_url(ticket), data=RIGHT).status_code == 404
    assert n(IdentityCheck) == 1


def test_reset_link_triad(client, ctx, ticket, agent, patient, outsider_agent):
    login(client, agent)
    client.post(check_url(ticket), data=RIGHT)
    ok = client.post(send_url(ticket), follow_redirects=True)
    assert ok.status_code == 200 and "reset link prepared but NOT e-mailed" in ok.get_data(as_text=True)  # no SMTP_HOST
    login(client, patient)
    assert client.post(send_url(ticket)).status_code == 403
    login(client, outsider_agent)
    assert client.post(send_url(ticket)).status_code == 404
    assert n(PasswordResetToken) == 1


# ------------------------------------------------------------------ the check


def test_two_matches_pass_and_nothing_typed_is_kept(client, ctx, ticket, agent, patient):
    login(client, agent)
    typed = {"date_of_birth": "03/14/1984", "mrn": "", "phone_last4": "0142", "address_zip": "10001"}
    resp = client.post(check_url(ticket), data=typed, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Identity verified" in html and "date of birth, phone (last 4) matched" in html
    for value in ("03/14/1984", "1984-03-14", "0142", "10001", "204815", "94110"):
        assert value not in html
    [check] = db.session.scalars(sa.select(IdentityCheck))
    assert check.passed and check.matched == ["date_of_birth", "phone_last4"]
    [event] = events("identity.check")
    assert event.actor_id == agent.id and event.object_id == ticket.reference
    assert event.changes == {"patient_id": patient.id, "outcome": "pass", "matched": ["date_of_birth", "phone_last4"],
                             "not_matched": ["address_zip"], "not_provided": ["mrn"]}
    every_row = " ".join(str(e.changes) for e in db.session.scalars(sa.select(AuditEvent)))
    for value in ("1984", "0142", "10001"):
        assert value not in every_row


def test_one_match_fails(client, ctx, ticket, agent):
    login(client, agent)
    resp = client.post(check_url(ticket), data={**RIGHT, "mrn": "999", "phone_last4": "1111", "address_zip": "10001"},
                       follow_redirects=True)
    assert "Identity check failed" in resp.get_data(as_text=True)
    [event] = events("identity.check")
    assert event.changes["outcome"] == "fail" and event.changes["matched"] == ["date_of_birth"]
    assert event.severity == "warning"
    assert client.post(send_url(ticket)).status_code == 409  # no link without a pass
    assert n(PasswordResetToken) == 0


def test_identifiers_missing_on_file_never_match(client, ctx, make_ticket, make_user, agent):
    bare = make_user(name="Bare Patient")  # nothing on file
    t = make_ticket(requester=bare)
    login(client, agent)
    client.post(check_url(t), data={"phone_last4": "0000", "address_zip": "00000", "mrn": "", "date_of_birth": ""})
    assert db.session.scalar(sa.select(IdentityCheck.passed)) is False


@pytest.mark.parametrize("data", [
    {"date_of_birth": "1984-03-14"},                                # only one identifier
    {},                                                             # nothing
    {"date_of_birth": "14 March", "phone_last4": "0142"},           # not a date
    {"date_of_birth": "1984-03-14", "phone_last4": "42"},           # not 4 digits
    {"date_of_birth": "1984-03-14", "address_zip": "941"},          # not a ZIP
    {"date_of_birth": "1984-03-14", "mrn": "x" * 41},               # too long
])
def test_bad_input_is_refused_without_counting(client, ctx, ticket, agent, data):
    login(client, agent)
    resp = client.post(check_url(ticket), data=data)
    assert resp.status_code == 422
    assert n(IdentityCheck) == 0 and events("identity.check") == []


def test_three_failed_checks_an_hour_per_ticket(client, ctx, ticket, agent, supervisor):
    wrong = {"date_of_birth": "2000-01-01", "mrn": "1", "phone_last4": "9999", "address_zip": "10001"}
    login(client, agent)
    for _ in range(3):
        client.post(check_url(ticket), data=wrong)
    resp = client.post(check_url(ticket), data=RIGHT)
    assert resp.status_code == 429 and "Too many failed identity checks" in resp.get_data(as_text=True)
    login(client, supervisor)  # per ticket, not per agent
    assert client.post(check_url(ticket), data=RIGHT).status_code == 429
    assert len(events("identity.check_throttled")) == 2
    assert n(IdentityCheck) == 3
    clock_now = utcnow() + timedelta(hours=1, minutes=1)
    with simulated_clock(lambda: clock_now):
        login(client, agent)
        client.post(check_url(ticket), data=RIGHT)
    assert db.session.scalar(sa.select(sa.func.count()).where(IdentityCheck.passed.is_(True))) == 1


# ------------------------------------------------------------------ sending the link


def test_a_pass_sends_one_link_to_the_address_on_file(client, ctx, ticket, agent, patient):
    login(client, agent)
    client.post(check_url(ticket), data=RIGHT)
    assert client.post(send_url(ticket)).status_code == 302
    [mail] = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "password_reset"))
    assert mail.to_addr == patient.email and mail.secret
    [token] = db.session.scalars(sa.select(PasswordResetToken))
    assert token.user_id == patient.id and token.sent_by_id == agent.id
    [event] = events("password.reset_sent_by_agent")
    assert event.actor_id == agent.id and event.object_id == str(patient.id)
    assert event.changes["ticket"] == ticket.reference
    # the pass is used up: another link needs another check
    assert client.post(send_url(ticket)).status_code == 409
    assert n(PasswordResetToken) == 1


def test_a_pass_is_for_this_agent_and_15_minutes(client, ctx, ticket, agent, supervisor):
    login(client, agent)
    client.post(check_url(ticket), data=RIGHT)
    login(client, supervisor)
    assert client.post(send_url(ticket)).status_code == 409  # someone else's pass
    later = utcnow() + timedelta(minutes=16)
    with simulated_clock(lambda: later):
        login(client, agent)
        assert client.post(send_url(ticket)).status_code == 409  # expired
    assert n(PasswordResetToken) == 0


def test_the_panel_is_prominent_in_the_account_access_queue(client, ctx, ticket, agent, queues):
    login(client, agent)
    html = client.get(f"/agent/tickets/{ticket.reference}").get_data(as_text=True)
    assert 'id="identity-check"' in html and "identity-check prominent" not in html  # billing: side panel
    assert html.index('id="identity-check"') > html.index('class="ticket-side"')
    tickets.update_ticket(ticket, actor=agent, queue_id=queues["account-access"].id, reason="Locked out")
    html = client.get(f"/agent/tickets/{ticket.reference}").get_data(as_text=True)
    assert "identity-check prominent" in html
    # in the main column, right under the reply box (the properties and the reply box stay on the first screen)
    assert html.index('id="reply-form"') < html.index('id="identity-check"') < html.index('class="ticket-side"')


def test_staff_have_no_way_to_set_a_patients_password_or_address(app):
    staff_write_rules = [r.rule for r in app.url_map.iter_rules()
                         if r.methods and {"POST", "PUT", "PATCH"} & r.methods
                         and any(w in r.rule for w in ("password", "email"))]
    # the owner's own pages only (change, reset by link, confirm the address by link, ask for a new link),
    # and an admin's forced reset, which takes no password: it ends the old one and mails the patient a link
    assert sorted(staff_write_rules) == ["/account/password", "/account/verify-email/<token>",
                                         "/account/verify-email/resend",
                                         "/api/v1/admin/patients/<int:user_id>/reset-password", "/password/forgot",
                                         "/password/reset/<secret>"]
