"""Registration confirms the e-mail address: a signed, expiring link; until then the
account can't submit or read requests; resends are throttled; admins see who waits."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from helpdesk.audit import AuditEvent
from helpdesk.auth import activation, lockedout
from helpdesk.auth.models import Role, User
from helpdesk.errors import Forbidden
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.permissions import can_view_ticket
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Ticket
from helpdesk.timeutil import utcnow
from tests.factories import activation_path, bearer, confirm_email, count, login

ES = {"Accept-Language": "es"}
ANA = {"name": "Ana Ruiz", "email": "ana@example.net", "password": "a long pass", "confirm": "a long pass"}


def register(client, headers=None) -> User:
    resp = client.post("/register", data=ANA, headers=headers or {})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/verify-email")
    return db.session.scalar(sa.select(User).where(User.email == ANA["email"]))


def mails() -> list[OutgoingEmail]:
    return list(db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "email_verification")
                                   .order_by(OutgoingEmail.id)))


def events(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_registration_mails_a_phi_free_link_and_the_link_confirms(client, ctx, queues, app):
    user = register(client)
    assert not user.email_verified
    [mail] = mails()
    assert mail.to_addr == ANA["email"] and mail.secret and mail.lang == "en"
    assert "Confirm your e-mail address" in mail.subject and "48 hours" in mail.body
    assert "Ana" not in mail.body  # nothing about the person but the link
    page = client.get("/account/verify-email").get_data(as_text=True)
    # no mail server in the tests' default: the page says so (tests/auth/test_mail_truth.py: both modes)
    assert "ana@example.net" in page and "has no mail server set up" in page
    path = activation_path(ANA["email"])
    looked = client.get(path)
    assert looked.status_code == 200 and looked.headers["Cache-Control"] == "no-store"
    assert "Confirm my e-mail address" in looked.get_data(as_text=True)
    db.session.refresh(user)
    assert not user.email_verified  # opening the link (a mail scanner does) changes nothing
    done = client.post(path)
    assert done.status_code == 302 and done.headers["Location"].endswith("/requests")
    db.session.refresh(user)
    assert user.email_verified and events("user.email_verified") == 1
    assert client.get("/requests").status_code == 200


def test_a_used_link_changes_nothing_more(client, ctx, queues):
    register(client)
    confirm_email(client, ANA["email"])
    again = client.get(activation_path(ANA["email"]))
    assert again.status_code == 200 and "already confirmed" in again.get_data(as_text=True)
    assert client.post(activation_path(ANA["email"])).status_code == 200
    assert events("user.email_verified") == 1


def test_a_tampered_link_is_refused(client, ctx, queues):
    user = register(client)
    path = activation_path(ANA["email"])
    token = path.rsplit("/", 1)[1]
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    for bad in (forged, "not-a-real-link-at-all", token + "x"):
        resp = client.post(f"/account/verify-email/{bad}")
        assert resp.status_code == 410 and "isn&#39;t valid or has expired" in resp.get_data(as_text=True) \
            or "isn't valid or has expired" in resp.get_data(as_text=True)
    # a link signed with another key, or for another address, is no link either
    other = URLSafeTimedSerializer("another secret key", salt=activation.SALT).dumps({"u": user.id, "e": user.email})
    assert client.get(f"/account/verify-email/{other}").status_code == 410
    db.session.refresh(user)
    assert not user.email_verified


def test_an_expired_link_is_refused(client, ctx, queues, app):
    user = register(client)

    class Signed49HoursAgo(TimestampSigner):  # a link mailed two days and one hour ago
        def get_timestamp(self) -> int:
            return int(time.time() - timedelta(hours=49).total_seconds())

    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=activation.SALT, signer=Signed49HoursAgo).dumps(
        {"u": user.id, "e": user.email})
    assert client.get(f"/account/verify-email/{old}").status_code == 410
    assert client.post(f"/account/verify-email/{old}").status_code == 410
    db.session.refresh(user)
    assert not user.email_verified


def test_a_link_for_an_address_the_account_no_longer_has_is_refused(client, ctx, queues):
    user = register(client)
    path = activation_path(ANA["email"])
    user.email = "ana.new@example.net"
    db.session.commit()
    assert client.post(path).status_code == 410


def test_until_confirmed_the_account_can_neither_submit_nor_read(client, ctx, queues, portal):
    user = register(client)
    portal_user, secret = portal
    # the portal may still send a request for them (its trust), but they can't read it yet
    resp = client.post("/api/v1/tickets", headers=bearer(secret), json={
        "subject": "Bill", "body": "I was charged twice for my visit.",
        "requester": {"email": ANA["email"], "name": "Ana Ruiz"}})
    assert resp.status_code == 201
    ref = resp.get_json()["reference"]
    for path in ("/requests", "/help", f"/requests/{ref}"):
        got = client.get(path)
        assert got.status_code == 302 and got.headers["Location"].endswith("/account/verify-email"), path
    sent = client.post("/help", data={"subject": "Bill", "body": "Charged twice.", "confirm": "1"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/account/verify-email")
    assert client.post(f"/requests/{ref}/reply", data={"body": "hello"}).status_code == 302
    assert count(Ticket) == 1
    t = db.session.scalars(sa.select(Ticket)).one()
    assert not can_view_ticket(user, t)
    with pytest.raises(Forbidden):
        tickets.create_ticket(requester=user, subject="Bill", body="Charged twice.", channel=Channel.WEB,
                              created_by=user)
    confirm_email(client, ANA["email"])
    db.session.refresh(user)
    assert can_view_ticket(user, t) and client.get(f"/requests/{ref}").status_code == 200


def test_resending_is_throttled(client, ctx, queues):
    register(client)
    for _ in range(3):
        resp = client.post("/account/verify-email/resend")
        assert resp.status_code == 302
    refused = client.post("/account/verify-email/resend")
    assert refused.status_code == 429 and "several links recently" in refused.get_data(as_text=True)
    assert len(mails()) == 4  # the registration's and three more
    # every link that was sent works (until one is used)
    confirm_email(client, ANA["email"])


def test_spanish_verification_pages_and_mail(client, ctx, queues):
    register(client, headers=ES)
    page = client.get("/account/verify-email", headers=ES).get_data(as_text=True)
    assert "Confirme su correo electrónico" in page and "no tiene un servidor de correo configurado" in page
    assert mails()[0].lang == "es" and "Confirme su correo electrónico" in mails()[0].subject
    link = client.get(activation_path(ANA["email"]), headers=ES).get_data(as_text=True)
    assert "Confirmar mi correo electrónico" in link
    assert "no es válido o caducó" in client.get("/account/verify-email/nope-nope-nope", headers=ES).get_data(
        as_text=True)


def test_accounts_made_by_staff_the_cli_and_the_portal_are_confirmed(ctx, queues, make_user, portal):
    from helpdesk.auth import services as accounts

    assert make_user(Role.PATIENT).email_verified  # admin / CLI: staff vouch for the address
    portal_user, _secret = portal
    api_patient = accounts.find_or_create_patient(email="new@example.net", name="New Person", actor=portal_user)
    assert api_patient.email_verified  # the integration's trust


def test_admins_see_unconfirmed_accounts_with_counts_and_age(client, ctx, queues, admin, agent, patient):
    register(client)
    client.post("/logout")
    user = db.session.scalar(sa.select(User).where(User.email == ANA["email"]))
    user.created_at = utcnow() - timedelta(days=9)
    db.session.commit()
    client.post("/cant-sign-in", data={"name": "Locked Out", "date_of_birth": "1990-01-01",
                                       "contact": "555 010 0111", "details": "Lost my phone."})
    assert count(lockedout.AccessRequest) == 1
    login(client, admin)
    page = client.get("/admin/unverified-accounts").get_data(as_text=True)
    assert "ana@example.net" in page and "9 days" in page
    assert patient.email not in page and "unverified.invalid" not in page and "Locked Out" not in page
    assert activation.unconfirmed_counts() == {"total": 1, "over_day": 1, "over_week": 1}
    assert "Unconfirmed patient accounts" in client.get("/admin/users").get_data(as_text=True)
    login(client, agent)
    assert client.get("/admin/unverified-accounts").status_code == 403
