"""Throttled sign-in, reset links and password change, through the real services."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import passwords, services, sessions, throttle
from helpdesk.auth.models import AuthSession, User
from helpdesk.auth.password_models import AuthThrottle, PasswordResetToken
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.timeutil import simulated_clock, utcnow
from tests.factories import PASSWORD


def _ended(row: AuthSession) -> bool:
    """The server-side session is over: its cookie no longer signs anyone in."""
    return db.session.get(AuthSession, row.id, populate_existing=True).ended_at is not None

NEW = "a brand new sentence"  # noqa: S105


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


@pytest.fixture
def clock():
    c = Clock()
    with simulated_clock(c):
        yield c


def actions(*names):
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.in_(names)).order_by(AuditEvent.id)))


def mails(kind):
    return list(db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == kind).order_by(OutgoingEmail.id)))


def link_secret(mail: OutgoingEmail) -> str:
    match = re.search(r"/password/reset/([A-Za-z0-9_-]+)", mail.body)
    assert match, "no reset link in the mail"
    return match.group(1)


# ------------------------------------------------------------------ throttling


def test_five_failures_lock_the_account_and_even_the_right_password_waits(ctx, patient, clock):
    for _ in range(5):
        assert services.authenticate(patient.email, "wrong guess here") is None
    with pytest.raises(throttle.TooManyAttempts) as err:
        services.authenticate(patient.email, PASSWORD)  # not even checked
    assert err.value.status == 429 and err.value.minutes == 1
    assert [e.object_id for e in actions("auth.sign_in_throttled")] == [str(patient.id)]
    clock.advance(minutes=1, seconds=1)
    assert services.authenticate(patient.email, PASSWORD) is not None
    # success forgets the account's failures
    assert db.session.get(AuthThrottle, throttle.account_key(patient.email)) is None


def test_unknown_accounts_are_throttled_the_same_way_without_storing_the_address(ctx, clock):
    for _ in range(5):
        assert services.authenticate("Nobody@Example.net", "whatever12") is None
    with pytest.raises(throttle.TooManyAttempts):
        services.authenticate("nobody@example.net", "whatever12")  # normalised: the same key
    keys = list(db.session.scalars(sa.select(AuthThrottle.key)))
    assert throttle.account_key("nobody@example.net") in keys
    assert not any("nobody" in k for k in keys)
    assert all(e.object_id is None for e in actions("auth.sign_in_failed", "auth.sign_in_throttled"))


def test_each_lock_out_doubles_the_wait_up_to_an_hour(ctx, patient, clock):
    keys = [throttle.account_key(patient.email)]
    waits = []
    for _ in range(8):
        started = [throttle.record_failure(keys) for _ in range(throttle.ACCOUNT.max_failures)]
        assert started[:-1] == [None] * (throttle.ACCOUNT.max_failures - 1)
        waits.append(throttle.locked_for(keys))
        assert waits[-1] == started[-1]
        clock.advance(seconds=waits[-1].total_seconds() + 1)
    assert [w.total_seconds() // 60 for w in waits] == [1, 2, 4, 8, 16, 32, 60, 60]
    # a quiet hour after the last lock forgets the lock-outs: back to the base wait
    clock.advance(hours=1, minutes=1)
    for _ in range(4):
        assert services.authenticate(patient.email, "wrong guess here") is None
    assert services.authenticate(patient.email, "wrong guess here") is None
    with pytest.raises(throttle.TooManyAttempts) as err:
        services.authenticate(patient.email, "wrong guess here")
    assert err.value.wait <= timedelta(minutes=1)


def test_failures_spread_over_more_than_15_minutes_do_not_lock(ctx, patient, clock):
    for _ in range(8):
        assert services.authenticate(patient.email, "wrong guess here") is None
        clock.advance(minutes=4)
    assert services.authenticate(patient.email, PASSWORD) is not None


def test_one_ip_guessing_many_accounts_is_throttled(app, patient, clock):
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        for i in range(throttle.IP.max_failures):
            assert services.authenticate(f"guess{i}@example.net", "whatever12") is None
        with pytest.raises(throttle.TooManyAttempts):
            services.authenticate(patient.email, PASSWORD)
        db.session.remove()
    with app.test_request_context(environ_base={"REMOTE_ADDR": "198.51.100.4"}):
        assert services.authenticate(patient.email, PASSWORD) is not None  # another address is not blocked
        db.session.remove()


def test_quiet_throttle_rows_are_pruned(ctx, patient, clock):
    throttle.record_failure([throttle.account_key("old@example.net")])
    clock.advance(days=1, minutes=1)
    throttle.record_failure([throttle.account_key(patient.email)])
    db.session.commit()
    from helpdesk.periodic import auth_throttle_prune_job

    auth_throttle_prune_job()
    auth_throttle_prune_job()  # twice is fine
    assert list(db.session.scalars(sa.select(AuthThrottle.key))) == [throttle.account_key(patient.email)]


# ------------------------------------------------------------------ reset links


def test_a_reset_request_mails_a_link_and_stores_only_its_hash(ctx, patient):
    passwords.request_reset(patient.email.upper())
    [mail] = mails("password_reset")
    assert mail.to_addr == patient.email and mail.secret and mail.user_id == patient.id
    secret = link_secret(mail)
    assert len(secret) >= 43  # 32 random bytes
    [token] = db.session.scalars(sa.select(PasswordResetToken))
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.token_hash, str(token.id)}
    assert timedelta(minutes=29) < token.expires_at - token.created_at <= timedelta(minutes=30)
    [event] = actions("password.reset_requested")
    assert event.object_id == str(patient.id) and event.actor_id is None
    assert secret not in str(event.changes)
    # nothing about the patient's request in the mail: just the link
    assert patient.display_name not in mail.body and "Maria" not in mail.body


def test_the_mail_follows_the_users_language(ctx, make_user):
    user = make_user(name="Rosa Diaz")
    user.language = "es"
    db.session.commit()
    passwords.request_reset(user.email)
    [mail] = mails("password_reset")
    assert mail.lang == "es" and "contraseña" in mail.subject


def test_unknown_or_inactive_addresses_get_nothing_and_leave_no_trace(ctx, patient, admin):
    passwords.request_reset("nobody@example.net")
    passwords.request_reset("not an address")
    services.set_active(actor=admin, user=patient, active=False)
    passwords.request_reset(patient.email)
    assert mails("password_reset") == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordResetToken)) == 0
    assert actions("password.reset_requested") == []
    assert not any("nobody" in str(e.changes) for e in db.session.scalars(sa.select(AuditEvent)))


def test_a_newer_link_voids_the_older_one(ctx, patient):
    passwords.request_reset(patient.email)
    passwords.request_reset(patient.email)
    first, second = (link_secret(m) for m in mails("password_reset"))
    assert passwords.find_reset_token(first) is None
    assert passwords.find_reset_token(second) is not None
    with pytest.raises(passwords.InvalidResetLink):
        passwords.complete_reset(first, NEW)


def test_at_most_three_self_service_mails_an_hour(ctx, patient, clock):
    for _ in range(5):
        passwords.request_reset(patient.email)
    assert len(mails("password_reset")) == passwords.MAX_SELF_SERVICE_MAILS_PER_HOUR
    assert len(actions("password.reset_throttled")) == 2
    clock.advance(hours=1, minutes=1)
    passwords.request_reset(patient.email)
    assert len(mails("password_reset")) == 4


def test_completing_a_reset_sets_the_password_once_and_ends_every_session(ctx, patient, clock):
    passwords.request_reset(patient.email)
    secret = link_secret(mails("password_reset")[0])
    assert passwords.find_reset_token(secret) is not None  # looking does not use it up
    assert passwords.find_reset_token(secret) is not None
    old_session, _key = sessions.open_session(patient)
    for _ in range(5):
        services.authenticate(patient.email, "wrong guess here")  # locked out...
    user = passwords.complete_reset(secret, NEW)
    assert _ended(old_session)
    assert user.check_password(NEW) and not user.check_password(PASSWORD)
    assert services.authenticate(patient.email, NEW) is not None  # ...and the reset lifts the lock
    with pytest.raises(passwords.InvalidResetLink):
        passwords.complete_reset(secret, "another new sentence")  # single use
    [changed] = mails("password_changed")
    assert changed.to_addr == patient.email and not changed.secret
    [event] = actions("password.reset_completed")
    assert event.object_id == str(patient.id) and event.changes is None


def test_a_link_expires_after_30_minutes(ctx, patient, clock):
    passwords.request_reset(patient.email)
    secret = link_secret(mails("password_reset")[0])
    clock.advance(minutes=29)
    assert passwords.find_reset_token(secret) is not None
    clock.advance(minutes=2)
    assert passwords.find_reset_token(secret) is None
    with pytest.raises(passwords.InvalidResetLink):
        passwords.complete_reset(secret, NEW)
    assert db.session.get(User, patient.id).check_password(PASSWORD)


def test_a_weak_new_password_is_refused_and_the_link_still_works(ctx, patient):
    passwords.request_reset(patient.email)
    secret = link_secret(mails("password_reset")[0])
    for weak in ("short", "password123", "maria lopez rules"):
        with pytest.raises(ValidationFailed):
            passwords.complete_reset(secret, weak)
    assert passwords.find_reset_token(secret) is not None
    assert db.session.get(User, patient.id).check_password(PASSWORD)


@pytest.mark.parametrize("bogus", ["", "x", "a" * 43, "a" * 500, None])
def test_bogus_secrets_find_nothing(ctx, patient, bogus):
    passwords.request_reset(patient.email)
    assert passwords.find_reset_token(bogus) is None


# ------------------------------------------------------------------ change


def test_change_needs_the_current_password_and_follows_the_rules(ctx, patient):
    with pytest.raises(ValidationFailed) as err:
        passwords.change_password(patient, current_password="not it at all", new_password=NEW)
    assert "current_password" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        passwords.change_password(patient, current_password=PASSWORD, new_password="iloveyou")
    assert "password" in err.value.fields
    assert db.session.get(User, patient.id).check_password(PASSWORD)
    passwords.request_reset(patient.email)
    old_session, _key = sessions.open_session(patient)
    passwords.change_password(patient, current_password=PASSWORD, new_password=NEW)
    assert patient.check_password(NEW) and _ended(old_session)
    assert passwords.find_reset_token(link_secret(mails("password_reset")[0])) is None  # open links voided
    assert [e.action for e in actions("password.changed", "password.change_failed")] == [
        "password.change_failed", "password.changed"]
    assert len(mails("password_changed")) == 1


def test_guessing_the_current_password_is_throttled(ctx, patient):
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            passwords.change_password(patient, current_password="not it at all", new_password=NEW)
    with pytest.raises(throttle.TooManyAttempts):
        passwords.change_password(patient, current_password=PASSWORD, new_password=NEW)
    assert db.session.get(User, patient.id).check_password(PASSWORD)
