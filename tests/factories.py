"""Test data built through the real services (no hand-made rows)."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from helpdesk.auth import services as accounts
from helpdesk.auth.models import Role, User
from helpdesk.demo import QUEUES
from helpdesk.extensions import db
from helpdesk.kb.models import Article
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Queue, Ticket

PASSWORD = "correct horse battery"  # noqa: S105
_seq = itertools.count(1)


@pytest.fixture
def queues(ctx) -> dict[str, Queue]:
    return {slug: accounts.create_queue(actor=None, slug=slug, name=name, description=d) for slug, name, d in QUEUES}


@pytest.fixture
def make_user(ctx, queues):
    def make(role: Role | str = Role.PATIENT, *, member_of: tuple[str, ...] = (), name: str | None = None,
             email: str | None = None) -> User:
        n = next(_seq)
        role = Role(role)
        user = accounts.create_user(
            actor=None, email=email or f"{role.value}{n}@example.org", name=name or f"{role.value.capitalize()} Person{n}",
            role=role, password=PASSWORD,
        )
        for slug in member_of:
            accounts.add_member(actor=None, queue=queues[slug], user=user)
        return user

    return make


@pytest.fixture
def patient(make_user) -> User:
    return make_user(Role.PATIENT, name="Maria Lopez")


@pytest.fixture
def other_patient(make_user) -> User:
    return make_user(Role.PATIENT, name="John Other")


@pytest.fixture
def agent(make_user) -> User:
    return make_user(Role.AGENT, member_of=("billing", "triage", "account-access", "scheduling"), name="Alex Agent")


@pytest.fixture
def outsider_agent(make_user) -> User:
    """An agent who is not a member of the queues the test tickets land in."""
    return make_user(Role.AGENT, member_of=("general",), name="Olga Outsider")


@pytest.fixture
def supervisor(make_user) -> User:
    return make_user(Role.SUPERVISOR, member_of=tuple(q[0] for q in QUEUES), name="Sam Supervisor")


@pytest.fixture
def admin(make_user) -> User:
    return make_user(Role.ADMIN, name="Ada Admin")


@pytest.fixture
def portal(ctx):
    """An integration account with its bearer secret."""
    token, secret = accounts.create_api_token(actor=None, name="patient-portal")
    return token.user, secret


@pytest.fixture
def make_ticket(ctx, queues, patient):
    def make(requester: User | None = None, subject: str = "Question about my bill",
             body: str = "I was charged twice for my visit on the statement, please check the billing charge.",
             queue: str | None = "billing", channel: Channel = Channel.WEB, created_by: User | None = None) -> Ticket:
        requester = requester or patient
        t = tickets.create_ticket(requester=requester, subject=subject, body=body, channel=channel,
                                  created_by=created_by or requester)
        run_jobs()
        db.session.refresh(t)
        if queue:
            # the default text is an unambiguous billing request: the router puts it there
            assert t.queue.slug == queue, f"routed to {t.queue.slug}, expected {queue}"
        return t

    return make


def run_jobs() -> None:
    """Run queued jobs: nothing to do inline; a burst of a real RQ worker with Redis."""
    from flask import current_app

    if current_app.config["HELPDESK"].redis_url is None:
        return
    from helpdesk import jobs

    jobs.Worker([jobs.QUEUE_NAME], connection=jobs.redis_connection()).work(burst=True)


def login(client: FlaskClient, user: User) -> FlaskClient:
    """Sign ``user`` in on ``client`` with a real server-side session, second factor
    passed (staff get an authenticator provisioned first, as MFA is required of them)."""
    key = session_key(user)
    with client.session_transaction() as session:
        session["_user_id"] = key
        session["_fresh"] = True
    return client


def session_key(user: User) -> str:
    """A new server-side session for ``user`` (MFA satisfied); returns the cookie's key."""
    from helpdesk.auth import mfa

    return mfa.signed_in_key(user)


def totp_code(user: User) -> str:
    """The code the user's authenticator shows now — or, if that one was just used (a
    replay would be refused), the next one, waiting for it when needed."""
    import time

    import pyotp

    from helpdesk.timeutil import utcnow

    db.session.refresh(user)
    totp = pyotp.TOTP(user.mfa_secret)
    step = totp.timecode(utcnow())
    if user.mfa_last_step is not None and user.mfa_last_step >= step:
        if user.mfa_last_step >= step + 1:
            time.sleep(totp.interval - (time.time() % totp.interval) + 0.5)
            step = totp.timecode(utcnow())
        step = max(step, user.mfa_last_step + 1)
    return totp.generate_otp(step)


def browser_sign_in(page, base: str, user: User, password: str = PASSWORD) -> None:
    """Sign in through the real forms in a browser, with the two-step code for staff
    (and patients who turned it on): the one helper every browser test uses."""
    from helpdesk.auth import mfa

    if user.mfa_required and not user.mfa_enabled:
        mfa.provision(user)
    page.goto(f"{base}/login")
    page.fill("#email", user.email)
    page.fill("#password", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    if user.mfa_enabled:
        page.wait_for_url("**/login/mfa")
        page.fill("#code", totp_code(user))
        page.click("main form button.primary")
        page.wait_for_load_state()


def activation_path(email: str, n: int = -1) -> str:
    """The path of the ``n``-th activation link mailed to ``email`` (from the real mail)."""
    from helpdesk.notify.models import OutgoingEmail

    mails = list(db.session.scalars(sa.select(OutgoingEmail).where(
        OutgoingEmail.kind == "email_verification", OutgoingEmail.to_addr == email).order_by(OutgoingEmail.id)))
    assert mails, f"no activation mail to {email}"
    line = next(x for x in mails[n].body.splitlines() if "/account/verify-email/" in x).strip()
    return line[line.index("/account/verify-email/"):]


def confirm_email(client: FlaskClient, email: str) -> None:
    """Open the activation link mailed to ``email`` and press its button, as the patient does."""
    import re

    path = activation_path(email)
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
    resp = client.post(path, data={"csrf_token": token.group(1)} if token else {})
    assert resp.status_code == 302, resp.status_code


@pytest.fixture
def seeded(ctx, queues, supervisor) -> dict[str, Article]:
    """The shipped knowledge-base articles (helpdesk/kb/content), by slug."""
    from helpdesk.kb.seed import seed_articles

    seed_articles(author=supervisor)
    return {a.slug: a for a in db.session.scalars(sa.select(Article))}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


__all__ = [
    "PASSWORD", "admin", "agent", "bearer", "count", "login", "make_ticket", "make_user", "other_patient",
    "outsider_agent", "patient", "portal", "queues", "run_jobs", "supervisor", "session_key", "totp_code",
    "browser_sign_in", "activation_path", "confirm_email", "seeded",
]
