"""Staff single sign-on against a real OpenID Connect provider (tests/oidc_provider.py:
Authlib's server side over HTTP). The help desk's client is not stubbed: it reads the
discovery document, redirects to /authorize, exchanges the code with PKCE at /token
and checks the ID token against the JWKS, like with the hospital's provider."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import AuthSession, Role, SsoIdentity, User
from helpdesk.extensions import db
from tests.factories import PASSWORD

DANA = "dana.reyes@riverside.example"


def round_trip(client, start: str = "/login/sso"):
    """"Sign in with …": to the provider (which approves at once) and back. Returns the
    callback's response and the callback URL the provider sent the browser to."""
    resp = client.get(start)
    assert resp.status_code == 302, resp.status_code
    authorize = resp.headers["Location"]
    at_provider = requests.get(authorize, allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    return client.get(f"{back.path}?{back.query}"), f"{back.path}?{back.query}"


def events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def refusal_reasons() -> list[str]:
    return [e.changes["reason"] for e in events("auth.sso_refused")]


def account(email: str = DANA) -> User | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


def memberships(user: User) -> set[str]:
    db.session.refresh(user)
    return {m.queue.slug for m in user.memberships}


def assert_signed_out(client) -> None:
    assert client.get("/agent/").status_code == 302  # to the sign-in page


# ---------------------------------------------------------------- signing in


def test_authorization_request_uses_pkce_nonce_and_state(client, ctx, queues, sso_on):
    resp = client.get("/login/sso")
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert resp.headers["Location"].startswith(f"{sso_on.issuer}/authorize?")
    assert query["response_type"] == ["code"] and query["client_id"] == ["riverside-helpdesk"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["nonce"][0] and query["state"][0] and query["nonce"] != query["state"]
    assert query["redirect_uri"] == ["http://127.0.0.1:5000/login/sso/callback"]
    assert "code_verifier" not in query  # the verifier only goes to the token endpoint


def test_good_login_creates_the_staff_account_with_mapped_role_and_queues(client, ctx, queues, sso_on, caplog):
    sso_on.user["groups"] = ["hd-agents", "hd-billing", "Domain Users"]
    caplog.set_level(logging.DEBUG)
    resp, callback = round_trip(client)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    user = account()
    assert user is not None and user.role == Role.AGENT and user.display_name == "Dana Reyes"
    assert user.password_hash is None and user.active and user.email_verified
    assert memberships(user) == {"billing"}
    identity = db.session.scalars(sa.select(SsoIdentity)).one()
    assert (identity.issuer, identity.subject, identity.user_id) == (sso_on.issuer, "u-1001", user.id)
    # the same server-side session as a password sign-in, marked single sign-on: no help desk code asked
    row = db.session.scalars(sa.select(AuthSession).where(AuthSession.user_id == user.id)).one()
    assert row.method == "sso" and row.mfa_passed and row.ended_at is None
    assert client.get("/agent/").status_code == 200
    assert client.get("/agent/tickets").status_code == 200
    # audited: the account, the link, the queue, the sign-in — and no code, state or token anywhere
    created = events("user.created")[0]
    assert created.object_id == str(user.id) and created.changes["via"] == "sso"
    signed_in = events("auth.sso_signed_in")[0]
    assert signed_in.changes == {"issuer": sso_on.issuer, "role": "agent", "queues": ["billing"]}
    assert [e.object_id for e in events("queue.member_added")] == ["billing"]
    code, state = parse_qs(urlsplit(callback).query)["code"][0], parse_qs(urlsplit(callback).query)["state"][0]
    every_change = " ".join(str(e.changes) for e in db.session.scalars(sa.select(AuditEvent)))
    # the help desk's own log lines (the provider's request log and the test's HTTP client aside)
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("helpdesk", "authlib"))
    for secret in (code, state, sso_on.nonces[0]):
        assert secret not in every_change and secret not in ours


def test_second_login_follows_the_groups(client, ctx, queues, sso_on, make_user):
    sso_on.user["groups"] = ["hd-agents", "hd-billing"]
    round_trip(client)
    user = account()
    from helpdesk.auth import services as accounts

    accounts.add_member(actor=None, queue=queues["triage"], user=user)  # given in the help desk: not managed
    client.post("/logout")
    sso_on.user["groups"] = ["hd-agents", "hd-supervisors", "hd-scheduling"]
    resp, _ = round_trip(client)
    assert resp.status_code == 302
    user = account()
    assert user.role == Role.SUPERVISOR  # the highest mapped role
    assert memberships(user) == {"scheduling", "triage"}  # billing removed, triage kept
    assert events("user.role_changed")[0].changes == {"role": {"before": "agent", "after": "supervisor"},
                                                      "via": "sso"}
    assert [e.object_id for e in events("queue.member_removed")] == ["billing"]
    assert len(db.session.scalars(sa.select(SsoIdentity)).all()) == 1  # the same identity, not a second account
    assert len(events("user.created")) == 1
    assert client.get("/supervisor/dashboard").status_code == 200


def test_an_existing_staff_account_is_linked_by_email(client, ctx, queues, sso_on, make_user):
    local = make_user(Role.AGENT, email=DANA, name="Dana Local")
    sso_on.user["groups"] = ["hd-admins"]
    resp, _ = round_trip(client)
    assert resp.status_code == 302
    user = account()
    assert user.id == local.id and user.role == Role.ADMIN and user.display_name == "Dana Local"
    assert events("auth.sso_linked")[0].object_id == str(local.id)


# ---------------------------------------------------------------- refused, audited, nothing created


@pytest.mark.parametrize(("misbehaviour", "reason"), [
    ("audience", "wrong_audience"),
    ("expired", "expired"),
    ("foreign_key", "bad_signature"),
])
def test_a_bad_id_token_is_refused_and_audited(client, ctx, queues, sso_on, misbehaviour, reason):
    setattr(sso_on.misbehave, misbehaviour, "another-client" if misbehaviour == "audience" else True)
    resp, _ = round_trip(client)
    assert resp.status_code == 403
    assert "You are not signed in" in resp.get_data(as_text=True)
    assert refusal_reasons() == [reason]
    assert events("auth.sso_refused")[0].severity == "warning"
    assert account() is None and not db.session.scalars(sa.select(SsoIdentity)).all()
    assert_signed_out(client)


def test_a_replayed_nonce_is_refused(client, ctx, queues, sso_on):
    round_trip(client)  # a first sign-in: its nonce is now spent
    client.post("/logout")
    sso_on.misbehave.replay_nonce = True  # the provider answers the next sign-in with the first one's nonce
    resp, _ = round_trip(client)
    assert resp.status_code == 403
    assert refusal_reasons() == ["nonce_mismatch"]
    assert_signed_out(client)


def test_a_replayed_callback_and_a_wrong_state_are_refused(client, ctx, queues, sso_on, app):
    resp, callback = round_trip(client)
    assert resp.status_code == 302
    client.post("/logout")
    assert client.get(callback).status_code == 403  # the state was used: this browser has none pending
    other = app.test_client()
    start = other.get("/login/sso").headers["Location"]
    back = urlsplit(requests.get(start, allow_redirects=False, timeout=10).headers["Location"])
    forged = back.query.replace("state=", "state=x")
    assert other.get(f"{back.path}?{forged}").status_code == 403
    assert refusal_reasons() == ["state_mismatch", "state_mismatch"]
    assert_signed_out(other)


def test_an_unknown_group_is_refused_without_creating_an_account(client, ctx, queues, sso_on):
    sso_on.user["groups"] = ["Domain Users", "Radiology"]
    resp, _ = round_trip(client)
    assert resp.status_code == 403
    assert "not in a group that may use the help desk" in resp.get_data(as_text=True)
    refused = events("auth.sso_refused")[0]
    assert refused.changes["reason"] == "unknown_group" and refused.changes["groups"] == ["Domain Users", "Radiology"]
    assert account() is None and not events("user.created")
    assert_signed_out(client)


def test_a_patient_address_is_not_taken_over(client, ctx, queues, sso_on, make_user):
    patient = make_user(Role.PATIENT, email=DANA)
    resp, _ = round_trip(client)
    assert resp.status_code == 403
    assert refusal_reasons() == ["email_in_use"]
    assert account().role == Role.PATIENT and account().id == patient.id


def test_an_address_reused_at_the_provider_does_not_take_over_a_linked_account(client, ctx, queues, sso_on):
    round_trip(client)  # Dana (subject u-1001) is linked
    client.post("/logout")
    sso_on.user["sub"] = "u-2002"  # someone else at the provider, now with Dana's address
    resp, _ = round_trip(client)
    assert resp.status_code == 403
    assert refusal_reasons() == ["email_in_use"]
    assert len(db.session.scalars(sa.select(SsoIdentity)).all()) == 1


def test_the_provider_saying_no_is_refused(client, ctx, queues, sso_on):
    client.get("/login/sso")
    with client.session_transaction() as session:
        state = session["sso_pending"]["state"]
    assert client.get(f"/login/sso/callback?error=access_denied&state={state}").status_code == 403
    assert refusal_reasons() == ["provider_error"]


def test_a_provider_that_cannot_be_reached_is_refused_and_audited(client, ctx, queues, sso_on, configure):
    configure(oidc_issuer="http://127.0.0.1:9")  # nothing listens there
    resp = client.get("/login/sso")
    assert resp.status_code == 503
    assert refusal_reasons() == ["provider_unreachable"]


# ---------------------------------------------------------------- the sign-in page, local passwords, sign-out


def test_the_button_shows_only_when_configured(client, ctx, oidc_provider, configure):
    assert "Sign in with" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/sso").status_code == 404
    assert client.get("/login/sso/callback?code=x&state=y").status_code == 404


def test_the_button_names_the_provider(client, ctx, sso_on):
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with Riverside ID" in page and 'href="/login/sso"' in page


def test_staff_passwords_can_be_turned_off(client, ctx, queues, sso_on, configure, agent, patient):
    configure(oidc_staff_local_passwords=False)
    resp = client.post("/login", data={"email": agent.email, "password": PASSWORD})
    assert resp.status_code == 403
    assert "Staff sign in with Riverside ID" in resp.get_data(as_text=True)
    refused = events("auth.sign_in_refused")[0]
    assert refused.object_id == str(agent.id) and refused.changes == {"reason": "local_password_disabled"}
    assert_signed_out(client)
    # patients keep their passwords
    assert client.post("/login", data={"email": patient.email, "password": PASSWORD}).status_code == 302
    assert client.get("/requests").status_code == 200


def test_staff_signing_in_locally_still_owe_the_second_factor(client, ctx, queues, sso_on, agent):
    resp = client.post("/login", data={"email": agent.email, "password": PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/mfa/enrol")
    assert client.get("/agent/").status_code == 302  # kept on the second step
    row = db.session.scalars(sa.select(AuthSession).where(AuthSession.user_id == agent.id)).one()
    assert row.method == "password" and not row.mfa_passed


def test_sign_out_ends_the_session_here_and_at_the_provider(client, ctx, queues, sso_on):
    round_trip(client)
    resp = client.post("/logout")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    logout = sso_on.logout_query(client_id="riverside-helpdesk",
                                 post_logout_redirect_uri="http://127.0.0.1:5000/login")
    assert logout.replace("&", "&amp;") in page and 'http-equiv="refresh"' in page
    row = db.session.scalars(sa.select(AuthSession)).one()
    db.session.refresh(row)
    assert row.ended_at is not None and row.end_reason == "signed_out"
    assert_signed_out(client)


def test_sign_out_stays_local_when_the_provider_has_no_end_session_endpoint(client, ctx, queues, sso_on):
    sso_on.end_session = False
    round_trip(client)
    resp = client.post("/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert_signed_out(client)


def test_sign_out_of_a_password_session_stays_local(client, ctx, queues, sso_on, patient):
    client.post("/login", data={"email": patient.email, "password": PASSWORD})
    resp = client.post("/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"


def test_the_users_page_says_who_signs_in_with_single_sign_on(client, ctx, queues, sso_on, admin, make_user):
    round_trip(client)
    client.post("/logout")
    make_user(Role.AGENT, name="Invited Ivy")  # has a password: no invitation either way
    from tests.factories import login

    page = login(client, admin).get("/admin/users").get_data(as_text=True)
    dana_row = next(line for line in page.split("<tr>") if "Dana Reyes" in line)
    assert "Single sign-on" in dana_row and "Send the invitation again" not in dana_row
