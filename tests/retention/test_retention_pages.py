"""The admin's retention page and legal holds on the ticket and patient pages."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.db import commit
from helpdesk.extensions import db
from helpdesk.retention import services as retention
from helpdesk.retention.models import LegalHold
from helpdesk.tickets.models import Status
from helpdesk.timeutil import utcnow
from tests.factories import login, run_jobs


def _actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("retention.%"))
                                   .order_by(AuditEvent.id)))


def test_the_page_says_retention_is_off_until_a_period_is_set_then_runs(client, ctx, admin, make_ticket):
    from datetime import timedelta

    t = make_ticket()
    t.status, t.closed_at = Status.CLOSED, utcnow() - timedelta(days=40)
    commit()
    login(client, admin)
    page = client.get("/admin/retention").get_data(as_text=True)
    assert "Retention is off" in page and "None yet." in page
    resp = client.post("/admin/retention/periods", data={"closed_tickets": "abc"}, follow_redirects=True)
    assert "whole number of days" in resp.get_data(as_text=True)
    assert retention.policies()["closed_tickets"] is None
    client.post("/admin/retention/periods", data={"closed_tickets": "30", "attachments": "", "raw_mail": ""})
    assert retention.policies() == {"closed_tickets": 30, "attachments": None, "raw_mail": None}
    page = client.post("/admin/retention/dry-run", follow_redirects=True).get_data(as_text=True)
    assert "Dry run: nothing was deleted" in page and "Closed requests: 1" in page
    assert "Retention is off" not in page
    client.post("/admin/retention/run")
    run_jobs()  # the background job (inline without Redis)
    page = client.get("/admin/retention").get_data(as_text=True)
    assert 'id="real-summary"' in page and "Closed requests: 1" in page
    db.session.expire_all()
    assert t.subject == retention.REMOVED_SUBJECT
    assert _actions()[:1] == ["retention.policy_set"] and "retention.purged" in _actions()


def test_holds_from_the_ticket_page_and_the_patient_page(client, ctx, admin, supervisor, patient, make_ticket):
    t = make_ticket()
    login(client, supervisor)
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "No legal hold." in page and "Place legal hold" in page
    resp = client.post("/admin/retention/holds", data={"reference": t.reference, "reason": "", "back": "ticket"},
                       follow_redirects=True)
    assert "reason for the hold" in resp.get_data(as_text=True)
    resp = client.post("/admin/retention/holds", data={"reference": t.reference, "reason": "Case 88",
                                                        "back": "ticket"}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "On legal hold" in page and "Case 88" in page
    # supervisors: no patient holds
    assert client.post("/admin/retention/holds", data={"patient_id": patient.id, "reason": "x y z"}).status_code == 403
    login(client, admin)
    resp = client.post("/admin/retention/holds", data={"patient_id": patient.id, "reason": "Counsel request",
                                                        "back": "patient"}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "On legal hold" in page and "Counsel request" in page
    page = client.get("/admin/retention").get_data(as_text=True)
    assert t.reference in page and patient.email in page
    hold = db.session.scalar(sa.select(LegalHold).where(LegalHold.patient_id == patient.id))
    client.post(f"/admin/retention/holds/{hold.id}/release")
    assert client.post("/admin/retention/holds", data={"reference": "HD-NOPE00", "reason": "abc"}).status_code == 404
    assert [a for a in _actions()] == ["retention.hold_placed", "retention.hold_placed", "retention.hold_released"]


def test_a_purged_request_still_opens_for_staff_and_its_patient(client, ctx, supervisor, patient, make_ticket):
    from datetime import timedelta

    t = make_ticket(subject="Colonoscopy bill")
    t.status, t.closed_at = Status.CLOSED, utcnow() - timedelta(days=40)
    commit()
    retention.set_policy(actor_id=None, kind="closed_tickets", days=30, via="cli")
    assert retention.run(dry_run=False).counts["closed_tickets"] == 1
    login(client, supervisor)
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "De-identified under the retention policy" in page and "Colonoscopy" not in page
    listing = client.get("/agent/tickets", query_string={"q": "colonoscopy", "status": "closed"})
    assert listing.status_code == 200 and t.reference not in listing.get_data(as_text=True)
    login(client, patient)
    resp = client.get(f"/requests/{t.reference}")
    assert resp.status_code == 200 and "Colonoscopy" not in resp.get_data(as_text=True)
    assert "Removed under the data retention policy" in resp.get_data(as_text=True)
    assert "Removed under the data retention policy" in client.get("/requests").get_data(as_text=True)


def test_the_nightly_job_is_on_the_schedule_once(ctx):
    from helpdesk import periodic

    (entry,) = [e for e in periodic.SCHEDULE if e.func is periodic.retention_job]
    assert entry.cron == "30 2 * * *"
    periodic.retention_job()  # no period set: nothing runs, nothing is recorded
    assert retention.last_runs() == {"dry_run": None, "real": None}
