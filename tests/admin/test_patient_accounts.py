"""Admins find patient accounts and fix what patients call about; every look is audited."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.auth import throttle
from helpdesk.auth.models import AuthSession, User
from helpdesk.auth.password_models import AuthThrottle
from helpdesk.db import commit
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from tests.factories import PASSWORD, login


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _fail_sign_ins(client, user: User, n: int) -> None:
    for _ in range(n):
        client.post("/login", data={"email": user.email, "password": "not the password"})
    client.get("/logout")


def test_an_admin_finds_patients_by_name_email_mrn_or_birth_date_and_each_search_is_audited(
        client, ctx, admin, patient, other_patient):
    patient.mrn, patient.date_of_birth = "MRN-4471", date(1980, 5, 17)
    commit()
    login(client, admin)
    for params in ({"q": "lopez"}, {"q": patient.email.upper()}, {"q": "MRN-4471"}, {"born": "1980-05-17"}):
        page = client.get("/admin/patients", query_string=params).get_data(as_text=True)
        assert "Maria Lopez" in page and "John Other" not in page, params
        results = page[page.index("<table"):page.index("</table>")]
        assert "MRN-4471" not in results and "1980" not in results  # identifiers on file are never listed
    searches = _events("patient.accounts_searched")
    assert len(searches) == 4 and all(e.actor_id == admin.id and e.changes["shown"] == [patient.id] for e in searches)
    assert searches[-1].changes["by"] == ["date_of_birth"]
    page = client.get("/admin/patients", query_string={"q": "nobody-like-this"}).get_data(as_text=True)
    assert "No patient account matches." in page
    resp = client.get("/admin/patients", query_string={"born": "17/05/1980"})
    assert resp.status_code == 422 and "YYYY-MM-DD" in resp.get_data(as_text=True)
    staff = client.get("/admin/patients", query_string={"q": "Ada"}).get_data(as_text=True)
    assert "No patient account matches." in staff  # staff accounts are not patient accounts


def test_the_account_page_shows_requests_sign_ins_and_lockout_and_is_an_audited_read(
        app, client, ctx, admin, patient, make_ticket):
    ticket = make_ticket()
    _fail_sign_ins(app.test_client(), patient, throttle.ACCOUNT.max_failures)
    login(client, admin)
    page = client.get(f"/admin/patients/{patient.id}").get_data(as_text=True)
    assert ticket.reference in page and "Locked until" in page and "sign in failed" in page
    assert ticket.subject not in page  # the request list is by reference and state
    (viewed,) = _events("patient.account_viewed")
    assert viewed.actor_id == admin.id and viewed.object_id == str(patient.id)


def test_unlock_forgets_the_failures_and_the_patient_can_sign_in_again(app, client, ctx, admin, patient):
    patient_client = app.test_client()
    _fail_sign_ins(patient_client, patient, throttle.ACCOUNT.max_failures)
    assert db.session.get(AuthThrottle, throttle.account_key(patient.email)).locked_until is not None
    login(client, admin)
    assert client.post(f"/admin/patients/{patient.id}/unlock").status_code == 302
    assert db.session.get(AuthThrottle, throttle.account_key(patient.email)) is None
    (event,) = _events("auth.unlocked")
    assert event.actor_id == admin.id and event.changes["before"]["failures"] == 0  # reset when the lock began
    resp = patient_client.post("/login", data={"email": patient.email, "password": PASSWORD})
    assert resp.status_code == 302 and "/login" not in resp.headers["Location"]
    # nothing to unlock: said so, nothing recorded
    page = client.post(f"/admin/patients/{patient.id}/unlock", follow_redirects=True).get_data(as_text=True)
    assert "Nothing to unlock" in page and len(_events("auth.unlocked")) == 1


def test_a_forced_reset_stops_the_password_ends_sessions_and_mails_a_link(app, client, ctx, admin, patient):
    patient_client = app.test_client()
    login(patient_client, patient)
    assert patient_client.get("/requests").status_code == 200
    login(client, admin)
    assert client.post(f"/admin/patients/{patient.id}/reset").status_code == 302
    db.session.refresh(patient)
    assert patient.password_hash is None and not patient.check_password(PASSWORD)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthSession).where(
        AuthSession.user_id == patient.id, AuthSession.ended_at.is_(None))) == 0
    assert patient_client.get("/requests").status_code == 302  # signed out
    mail = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "password_reset",
                                                             OutgoingEmail.to_addr == patient.email)).all()
    assert len(mail) == 1
    (event,) = _events("password.reset_forced")
    assert event.actor_id == admin.id and event.severity == "warning"


def test_deactivate_and_reactivate_from_the_account_page(client, ctx, admin, patient):
    login(client, admin)
    assert client.post(f"/admin/patients/{patient.id}/deactivate").status_code == 302
    db.session.refresh(patient)
    assert not patient.active
    page = client.post(f"/admin/patients/{patient.id}/reset", follow_redirects=True).get_data(as_text=True)
    assert "reactivate it first" in page and patient.password_hash is not None
    assert client.post(f"/admin/patients/{patient.id}/reactivate").status_code == 302
    db.session.refresh(patient)
    assert patient.active
    assert [e.action for e in _events("user.deactivated") + _events("user.activated")] == [
        "user.deactivated", "user.activated"]


def test_only_admins_and_only_patient_accounts(client, ctx, admin, supervisor, agent, patient, other_patient):
    for user in (supervisor, agent, patient):
        login(client, user)
        assert client.get("/admin/patients?q=a").status_code == 403
        assert client.get(f"/admin/patients/{other_patient.id}").status_code == 403
        assert client.post(f"/admin/patients/{other_patient.id}/deactivate").status_code == 403
    db.session.refresh(other_patient)
    assert other_patient.active and _events("patient.account_viewed") == []
    login(client, admin)
    assert client.get(f"/admin/patients/{agent.id}").status_code == 404  # staff are on Users, not here
    assert client.get("/admin/patients/999999").status_code == 404
    assert client.post(f"/admin/patients/{agent.id}/reset").status_code == 404
    token, _secret = accounts.create_api_token(actor=None, name="portal")
    assert client.get(f"/admin/patients/{token.user_id}").status_code == 404


# ---------------------------------------------------------------- merging duplicates


def test_merging_moves_requests_and_messages_and_leaves_a_tombstone(app, client, ctx, admin, patient, make_user,
                                                                   make_ticket):
    duplicate = make_user(name="Maria López", email="maria.old@example.org")
    kept_ticket, old_ticket = make_ticket(requester=patient), make_ticket(requester=duplicate)
    old_client = app.test_client()
    login(old_client, duplicate)
    login(client, admin)
    # not confirmed, or an unknown address: nothing changes
    for data in ({"into": patient.email}, {"into": "nobody@example.org", "confirm": "yes"}):
        page = client.post(f"/admin/patients/{duplicate.id}/merge", data=data, follow_redirects=True)
        assert "nothing was merged" in page.get_data(as_text=True)
    db.session.refresh(old_ticket)
    assert old_ticket.requester_id == duplicate.id
    resp = client.post(f"/admin/patients/{duplicate.id}/merge", data={"into": patient.email.upper(), "confirm": "yes"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/admin/patients/{patient.id}")
    db.session.refresh(old_ticket)
    db.session.refresh(duplicate)
    assert old_ticket.requester_id == patient.id
    assert all(m.author_id == patient.id for m in old_ticket.messages if m.author_id in (patient.id, duplicate.id))
    assert duplicate.merged_into_id == patient.id and not duplicate.active and duplicate.password_hash is None
    assert old_client.get("/requests").status_code == 302  # the duplicate's sessions ended
    away, into = _events("patient.merged_away"), _events("patient.merged_into")
    assert away[0].object_id == str(duplicate.id) and into[0].object_id == str(patient.id)
    assert into[0].changes["moved"]["tickets.requester_id"] == 1
    # the survivor sees both requests; the tombstone links to it and refuses everyday fixes
    survivor_client = app.test_client()
    login(survivor_client, patient)
    listing = survivor_client.get("/requests").get_data(as_text=True)
    assert kept_ticket.reference in listing and old_ticket.reference in listing
    page = client.get(f"/admin/patients/{duplicate.id}").get_data(as_text=True)
    assert "Merged into" in page and "Merge this account" not in page
    page = client.post(f"/admin/patients/{duplicate.id}/reactivate", follow_redirects=True).get_data(as_text=True)
    assert "was merged into another" in page
    db.session.refresh(duplicate)
    assert not duplicate.active
    again = client.post(f"/admin/patients/{duplicate.id}/merge", data={"into": patient.email, "confirm": "yes"},
                        follow_redirects=True).get_data(as_text=True)
    assert "already merged" in again


def test_every_reference_to_an_account_is_either_moved_or_kept_on_purpose():
    """A new table that points at users must say what a merge does with it."""
    from helpdesk.admin.patients import MERGE_MOVES, MERGE_STAYS

    refs = {f"{t.name}.{c.name}" for t in db.metadata.sorted_tables for c in t.columns
            for fk in c.foreign_keys if fk.column.table.name == "users"}
    assert not set(MERGE_MOVES) & set(MERGE_STAYS)
    assert refs == set(MERGE_MOVES) | set(MERGE_STAYS), refs ^ (set(MERGE_MOVES) | set(MERGE_STAYS))


@pytest.mark.parametrize("smtp_host", [None, "127.0.0.1"])
def test_the_reset_says_whether_the_link_was_e_mailed(client, ctx, admin, patient, configure, smtp_host):
    configure(smtp_host=smtp_host)
    login(client, admin)
    hint = client.get(f"/admin/patients/{patient.id}").get_data(as_text=True)
    page = client.post(f"/admin/patients/{patient.id}/reset", follow_redirects=True).get_data(as_text=True)
    if smtp_host:
        assert "e-mails a reset link to the address above" in hint
        assert "a reset link was e-mailed to the account&#39;s address" in page
    else:
        assert "prepares a reset link, which is NOT e-mailed" in hint and "e-mails a reset link" not in hint
        assert "a reset link was prepared but NOT e-mailed" in page and "was e-mailed" not in page
