"""In a real browser, an admin: sets a retention period, dry-runs, places a legal hold, runs
the job; then finds a locked-out patient, opens the account, unlocks it and merges a duplicate."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpdesk.auth import throttle
from helpdesk.db import commit, unit_of_work
from helpdesk.extensions import db
from helpdesk.retention import services as retention
from helpdesk.tickets.models import Status
from helpdesk.timeutil import utcnow
from tests.e2e.test_patient_and_agent import sign_in
from tests.factories import run_jobs

pytestmark = pytest.mark.e2e


def test_admin_sets_a_period_dry_runs_holds_and_runs(browser, live_server, app, ctx, admin, make_ticket, artifacts):
    old, held = make_ticket(subject="Old bill question"), make_ticket(subject="Disputed bill")
    for t in (old, held):
        t.status, t.closed_at = Status.CLOSED, utcnow() - timedelta(days=60)
    commit()
    old_id, held_id = old.id, held.id
    bctx = browser.new_context()
    try:
        p = bctx.new_page()
        sign_in(p, live_server, admin)
        p.goto(f"{live_server}/admin/retention")
        assert p.locator("#retention-off").is_visible()
        p.get_by_label("Closed requests (days)").fill("30")
        p.get_by_role("button", name="Save periods").click()
        p.wait_for_selector("text=Retention periods saved.")
        assert p.locator("#retention-off").count() == 0
        p.get_by_role("button", name="Dry run (count only)").click()
        p.wait_for_selector("text=Dry run: nothing was deleted")
        assert "Closed requests: 2" in p.locator("#dry_run-summary").inner_text()
        p.get_by_label("Request reference").fill(held.reference)
        p.get_by_label("Reason").fill("Billing dispute, counsel letter of 3 May")
        p.get_by_role("button", name="Place hold").click()
        p.wait_for_selector("text=Legal hold placed")
        assert held.reference in p.locator("#holds").inner_text()
        p.get_by_role("button", name="Dry run (count only)").click()
        p.wait_for_selector("text=Dry run: nothing was deleted")
        assert "Closed requests: 1" in p.locator("#dry_run-summary").inner_text()
        p.get_by_role("button", name="Run now (purges)").click()
        p.wait_for_selector("text=Retention run started")
        run_jobs()  # the background job: inline without Redis, a burst of the worker with it
        p.reload()
        p.wait_for_selector("#real-summary")
        assert "Closed requests: 1" in p.locator("#real-summary").inner_text()
        p.screenshot(path=str(artifacts / "admin-retention.png"), full_page=True)
    finally:
        bctx.close()
    db.session.expire_all()
    assert db.session.get(type(old), old_id).subject == retention.REMOVED_SUBJECT
    assert db.session.get(type(old), held_id).subject == "Disputed bill"


def test_admin_finds_unlocks_and_merges_patient_accounts(browser, live_server, app, ctx, admin, patient,
                                                         make_user, make_ticket, artifacts):
    duplicate = make_user(name="Maria Lopez-Dup", email="maria.dup@example.net")
    make_ticket(requester=duplicate)
    with unit_of_work():  # the failed sign-ins (the live server's forms need a CSRF token)
        for _ in range(throttle.ACCOUNT.max_failures):
            throttle.record_failure([throttle.account_key(patient.email)])
    bctx = browser.new_context()
    try:
        p = bctx.new_page()
        sign_in(p, live_server, admin)
        p.goto(f"{live_server}/admin/patients")
        p.get_by_label("Name, e-mail address, medical record number or external id").fill("lopez")
        p.get_by_role("button", name="Find").click()
        p.get_by_role("link", name=patient.display_name, exact=True).click()
        p.wait_for_selector("text=Locked until")
        p.get_by_role("button", name="Unlock").click()
        p.wait_for_selector("text=Unlocked: the failed sign-ins on this account are forgotten.")
        assert p.get_by_text("Not locked").is_visible()
        p.goto(f"{live_server}/admin/patients/{duplicate.id}")
        p.get_by_text("Merge this account into another").click()
        p.get_by_label("E-mail address of the account to keep").fill(patient.email)
        p.get_by_label("I checked both accounts are the same person", exact=False).check()
        p.get_by_role("button", name="Merge").click()
        p.wait_for_selector("text=Merged: 1 request moved here")
        p.screenshot(path=str(artifacts / "admin-patient-merged.png"), full_page=True)
    finally:
        bctx.close()
    db.session.expire_all()
    assert db.session.get(type(duplicate), duplicate.id).merged_into_id == patient.id
