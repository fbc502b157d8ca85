"""Retention: seeded old data, a dry run and a real run that agree, holds that protect,
nothing of the purged text left (messages, files, raw mail, search index), and an audit
chain that still verifies afterwards."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from helpdesk import audit, storage
from helpdesk.audit import AuditEvent
from helpdesk.db import commit
from helpdesk.extensions import db
from helpdesk.notify import inbound
from helpdesk.notify.attachments import Checked, attach
from helpdesk.notify.models import Attachment, InboundMail
from helpdesk.retention import services as retention
from helpdesk.retention.cli import retention_cli
from helpdesk.retention.models import PurgedTicket, RetentionRun
from helpdesk.tickets.models import Message, MessageVersion, Status, Ticket
from helpdesk.timeutil import utcnow
from tests.notify.samples import png

OLD = timedelta(days=400)


def _close(ticket: Ticket, ago: timedelta) -> None:
    ticket.status = Status.CLOSED
    ticket.closed_at = utcnow() - ago


def _attach(ticket: Ticket, data: bytes, ago: timedelta) -> Attachment:
    message = db.session.scalars(sa.select(Message).where(Message.ticket_id == ticket.id)).first()
    (row,) = attach(message, [Checked("scan.png", "image/png", data, hashlib.sha256(data).hexdigest())],
                    uploader_id=ticket.requester_id)
    row.created_at = utcnow() - ago
    return row


def _mail(sender: str, subject: str, body: str) -> InboundMail:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "help@example.org", subject
    msg["Message-ID"] = f"<{hashlib.sha256(body.encode()).hexdigest()}@example.org>"
    msg.set_content(body)
    return inbound.ingest(msg.as_bytes())


def _search_text(ticket_id: int) -> str:
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalar(sa.text("SELECT doc::text FROM ticket_search WHERE ticket_id = :id"),
                                 {"id": ticket_id}) or ""
    row = db.session.execute(sa.text("SELECT subject, public, notes FROM ticket_search WHERE rowid = :id"),
                             {"id": ticket_id}).one_or_none()
    return " ".join(x or "" for x in row) if row else ""


@pytest.fixture
def seeded(ctx, make_ticket, patient, other_patient, admin):
    """Old closed tickets (one held directly, one through its patient), a recent one,
    old attachments, old raw mail."""
    old = make_ticket(subject="Appendectomy invoice question")
    old_file = _attach(old, png(3, 3), OLD)
    held = make_ticket(subject="Held invoice dispute")
    _attach(held, png(4, 4), OLD)
    other = make_ticket(requester=other_patient, subject="Other patient invoice")
    recent = make_ticket(subject="Recent invoice question")
    open_ticket = make_ticket(subject="Still open invoice")
    open_file = _attach(open_ticket, png(5, 5), OLD)  # on an open request: kept
    recent_file = _attach(recent, png(6, 6), OLD)  # old file on a recently closed request
    mail = _mail(patient.email, "Mailed question", "My kidney results were billed twice, please help.")
    mail_ticket = db.session.get(Ticket, mail.ticket_id)
    mail.received_at = utcnow() - OLD
    stray = _mail("unknown@example.net", "Spam", "Buy now")
    stray.received_at = utcnow() - OLD
    for t in (old, held, other, mail_ticket):
        _close(t, OLD)
    _close(recent, timedelta(days=5))
    commit()
    retention.place_hold(actor=admin, ticket=held, reason="Litigation case 2026-17")
    retention.place_hold(actor=admin, patient=other_patient, reason="Records request, counsel")
    return {"old": old, "held": held, "other": other, "recent": recent, "open": open_ticket, "mail": mail,
            "mail_ticket": mail_ticket, "stray": stray, "old_file": old_file, "open_file": open_file,
            "recent_file": recent_file}


def test_retention_is_off_until_an_admin_sets_a_period(seeded):
    assert retention.policies() == {"closed_tickets": None, "attachments": None, "raw_mail": None}
    result = retention.run(dry_run=False)
    assert result.counts == {"closed_tickets": None, "attachments": None, "raw_mail": None}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PurgedTicket)) == 0


def test_dry_run_and_real_run_agree_holds_survive_and_the_audit_chain_verifies(seeded, admin, patient):
    for kind, days in (("closed_tickets", 365), ("attachments", 90), ("raw_mail", 180)):
        assert retention.set_policy(actor_id=admin.id, kind=kind, days=days, via="admin")
    s = seeded
    old_keys = {s["old_file"].sha256, s["recent_file"].sha256, s["mail"].raw_sha256, s["stray"].raw_sha256}
    old_id, mail_ticket_id = s["old"].id, s["mail_ticket"].id
    ids = {k: s[k].id for k in ("recent_file", "open_file", "stray", "held", "other")}
    dry = retention.run(dry_run=True, via="cli")
    # closed_tickets: the old one and the one made by mail (held and other patient's are held);
    # attachments: the recent request's old file (the old request's goes with it; open: kept);
    # raw mail: the stray one (the other belongs to a purged request)
    assert dry.counts == {"closed_tickets": 2, "attachments": 1, "raw_mail": 1}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PurgedTicket)) == 0  # a dry run changes nothing
    real = retention.run(dry_run=False, via="cli", batch_size=1)
    assert real.counts == dry.counts
    assert real.blobs_deleted == 4
    db.session.expire_all()

    old = db.session.get(Ticket, old_id)
    assert old.subject == retention.REMOVED_SUBJECT and old.reference and old.queue_id and old.closed_at
    for tid in (old_id, mail_ticket_id):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message).where(Message.ticket_id == tid)) == 0
        assert "appendectomi" not in _search_text(tid).lower() and "kidney" not in _search_text(tid).lower()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MessageVersion).join(Message).where(
        Message.ticket_id == old_id)) == 0
    backend = storage.current()
    assert not any(backend.exists(k) for k in old_keys)
    assert db.session.get(Attachment, ids["recent_file"]) is None
    assert db.session.get(Attachment, ids["open_file"]) is not None
    assert db.session.get(InboundMail, ids["stray"]) is None
    # held: directly and through the patient
    for key in ("held", "other"):
        t = db.session.get(Ticket, ids[key])
        assert t.subject != retention.REMOVED_SUBJECT and db.session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(Message.ticket_id == t.id)) >= 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment).where(
        Attachment.ticket_id == ids["held"])) == 1
    # one audit row per purged item, ids and kind only
    purged = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "retention.purged")))
    assert sorted((e.object_type, e.changes["kind"]) for e in purged) == [
        ("attachment", "attachments"), ("inbound_mail", "raw_mail"), ("ticket", "closed_tickets"),
        ("ticket", "closed_tickets")]
    assert all("invoice" not in str(e.changes).lower() for e in purged)
    # a second run finds nothing; both runs are recorded
    assert retention.run(dry_run=True).counts == {"closed_tickets": 0, "attachments": 0, "raw_mail": 0}
    runs = retention.last_runs()
    assert runs["real"].counts["closed_tickets"] == 2 and runs["dry_run"].counts["closed_tickets"] == 0
    # the audit log is untouched by the job, and its chain still verifies
    audit.seal()
    result = audit.verify()
    assert result.ok and result.pending == 0 and result.checked > 10


def test_a_released_hold_no_longer_protects(seeded, admin):
    retention.set_policy(actor_id=admin.id, kind="closed_tickets", days=30, via="admin")
    (hold,) = retention.holds_for_ticket(seeded["held"])
    retention.release_hold(actor=admin, hold_id=hold.id)
    assert retention.run(dry_run=True).counts["closed_tickets"] == 3
    with pytest.raises(Exception, match="already released"):
        retention.release_hold(actor=admin, hold_id=hold.id)


def test_bad_periods_and_reasons_are_refused(ctx, admin, make_ticket):
    from helpdesk.errors import Conflict, NotFound, ValidationFailed

    for bad in ("-1", "0", "1.5", "soon", "99999999"):
        with pytest.raises(ValidationFailed):
            retention.parse_days(bad)
    with pytest.raises(NotFound):
        retention.set_policy(actor_id=admin.id, kind="audit_log", days=30, via="admin")
    t = make_ticket()
    with pytest.raises(ValidationFailed):
        retention.place_hold(actor=admin, ticket=t, reason=" ")
    retention.place_hold(actor=admin, ticket=t, reason="Case 12")
    with pytest.raises(Conflict):
        retention.place_hold(actor=admin, ticket=t, reason="Case 13")


def test_cli_sets_periods_and_prints_the_same_counts_for_dry_and_real_runs(app, seeded):
    res = app.test_cli_runner().invoke(retention_cli, ["set", "closed_tickets", "365"])
    assert res.exit_code == 0, res.output
    res = app.test_cli_runner().invoke(retention_cli, ["set", "raw_mail", "soon"])
    assert res.exit_code != 0 and "whole number" in res.output
    dry = app.test_cli_runner().invoke(retention_cli, ["run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "closed_tickets: 2 would be purged" in dry.output and "raw_mail: no period set" in dry.output
    real = app.test_cli_runner().invoke(retention_cli, ["run"])
    assert "closed_tickets: 2 purged" in real.output, real.output
    shown = app.test_cli_runner().invoke(retention_cli, ["show"])
    assert "closed_tickets: 365 days" in shown.output and "attachments: kept: no period set" in shown.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RetentionRun)) == 2


def test_a_hold_on_a_merged_away_patient_follows_the_requests(ctx, admin, make_ticket, patient, make_user):
    from helpdesk.admin import patients as accounts

    duplicate = make_user(name="Maria Dup")
    t = make_ticket(requester=duplicate)
    _close(t, OLD)
    commit()
    retention.place_hold(actor=admin, patient=duplicate, reason="Counsel letter")
    retention.set_policy(actor_id=admin.id, kind="closed_tickets", days=30, via="cli")
    accounts.merge(actor=admin, duplicate=duplicate, survivor=patient)
    assert retention.run(dry_run=True).counts["closed_tickets"] == 0
    assert [h.patient_id for h in retention.holds_for_patient(patient)] == [patient.id]
