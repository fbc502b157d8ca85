"""Demo data for ``make run``: queues, users, ~200 requests with threads, KB, a model.

Tickets are created and answered through the real services (so routing, audit and
history are authentic); only their timestamps are then spread over the last weeks,
which a demo needs and nothing else may do.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from helpdesk.auth import services as accounts
from helpdesk.auth.models import Role, User
from helpdesk.extensions import db
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Assignment, Channel, Message, Queue, Status, Ticket
from helpdesk.timeutil import utcnow

DATA = Path(__file__).resolve().parent / "demo_data" / "requests.json"
DEFAULT_PASSWORD = "portal-demo-2026"  # noqa: S105  (demo only; DEMO_PASSWORD overrides)

QUEUES = [
    ("account-access", "Account access", "Passwords, activation codes, locked accounts, proxy access."),
    ("scheduling", "Scheduling", "Booking, rescheduling and cancelling appointments; finding a provider."),
    ("billing", "Billing", "Statements, disputes, payments, refunds, insurance, estimates."),
    ("records", "Medical records", "Record requests, results not showing, release of information, corrections."),
    ("prescriptions", "Prescriptions", "Refills, pharmacy changes, prior authorisation status."),
    ("technical", "Technical support", "Errors, app problems, browsers, video-visit connections."),
    ("general", "General", "Everything else."),
    ("triage", "Triage", "Requests the router was unsure about: a person decides."),
    ("clinical-escalation", "Clinical escalation", "Requests describing a possible emergency: nurses review at once."),
]

FIRST = ["Maria", "James", "Aisha", "Luis", "Chen", "Fatima", "Robert", "Ana", "Tyrone", "Linh", "Sofia", "David",
         "Grace", "Miguel", "Priya", "Samuel", "Rosa", "Kevin", "Elena", "Omar", "Beatriz", "Hannah", "José", "Nadia"]
LAST = ["Lopez", "Carter", "Rahman", "Hernandez", "Wei", "Okafor", "Miller", "Gutierrez", "Brooks", "Nguyen",
        "Ramirez", "Kim", "Thompson", "Castillo", "Patel", "Johnson", "Morales", "Anderson", "Diaz", "Haddad"]


def seed(n_tickets: int = 200, echo: Callable[[str], None] = print, train_model: bool = True) -> None:
    rng = random.Random(7)
    password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD

    queues = {}
    for slug, name, description in QUEUES:
        queues[slug] = db.session.scalar(sa.select(Queue).where(Queue.slug == slug)) or accounts.create_queue(
            actor=None, slug=slug, name=name, description=description
        )
    queues["account-access"].assignment = Assignment.ROUND_ROBIN
    queues["technical"].assignment = Assignment.LEAST_LOADED
    from helpdesk.sla.policies import seed_defaults

    seed_defaults()  # business calendar and SLA policies per queue (existing ones are kept)
    db.session.commit()

    def user(email: str, name: str, role: Role, member_of: list[str]) -> User:
        existing = db.session.scalar(sa.select(User).where(User.email == email))
        if existing:
            return existing
        u = accounts.create_user(actor=None, email=email, name=name, role=role, password=password)
        for slug in member_of:
            accounts.add_member(actor=None, queue=queues[slug], user=u)
        return u

    all_queues = [q[0] for q in QUEUES]
    patient = user("patient@example.org", "Maria Lopez", Role.PATIENT, [])
    patient.date_of_birth, patient.mrn = date(1984, 3, 14), "MRN-204815"
    agent = user("agent@example.org", "Alex Rivera", Role.AGENT, all_queues)
    supervisor = user("supervisor@example.org", "Sam Okafor", Role.SUPERVISOR, all_queues)
    user("admin@example.org", "Avery Chen", Role.ADMIN, [])
    agents = [agent]
    for email, name, member_of in [
        ("jordan@example.org", "Jordan Blake", ["account-access", "technical", "triage"]),
        ("priya.agent@example.org", "Priya Natarajan", ["billing", "records", "general"]),
        ("diego@example.org", "Diego Santos", ["scheduling", "prescriptions", "account-access", "technical"]),
    ]:
        agents.append(user(email, name, Role.AGENT, member_of))
    db.session.commit()

    patients = [patient]
    for i in range(40):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        email = f"{first.lower().replace('é', 'e')}.{last.lower()}{i}@example.net"
        p = db.session.scalar(sa.select(User).where(User.email == email))
        if p is None:
            p = User(email=email, display_name=f"{first} {last}", role=Role.PATIENT, active=True,
                     date_of_birth=date(1940 + rng.randrange(65), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                     mrn=f"MRN-{300000 + i * 37}")
            p.set_password(password)
            db.session.add(p)
        patients.append(p)
    db.session.commit()

    if train_model:
        from helpdesk.routing.training import retrain

        echo("Training the routing model from the project's corpus…")
        report = retrain(progress=lambda _s: None)
        echo(f"  model {report.version}: evaluation-file macro-F1 {report.project_eval['macro_f1']:.3f}, "
             f"coverage {report.project_eval['coverage']:.3f}")

    from helpdesk.kb.seed import seed_articles

    echo(f"Knowledge base: {seed_articles(author=supervisor)} article(s) loaded.")

    portal = db.session.scalar(sa.select(User).where(User.role == Role.INTEGRATION))
    token_note = ""
    if portal is None:
        token, secret = accounts.create_api_token(actor=None, name="patient-portal")
        portal = token.user
        token_note = f"  API token for the patient portal (integration): {secret}"

    requests = json.loads(DATA.read_text(encoding="utf-8"))
    now = utcnow()
    created = 0
    for i in range(n_tickets):
        item = requests[i % len(requests)]
        requester = patient if i % 25 == 0 else rng.choice(patients[1:])
        channel = Channel.API if i % 3 == 0 else Channel.WEB
        t = tickets.create_ticket(
            requester=requester, subject=item["subject"], body=item["body"], channel=channel,
            created_by=portal if channel == Channel.API else requester, priority=item.get("priority"),
        )
        if t.queue.slug == "triage" and rng.random() < 0.7:
            staff = supervisor
            tickets.update_ticket(t, actor=staff, queue_id=queues[item["queue"]].id,
                                  reason="Triage: chose the queue", source="triage")
        worker = t.assignee or rng.choice([a for a in agents if t.queue_id in _member_queues(a)] or [agent])
        thread = item.get("thread", [])
        # older tickets have progressed further
        for j, msg in enumerate(thread):
            if rng.random() < 0.15 and j > 0:
                break
            if msg["role"] == "agent":
                public = msg.get("public", True)
                nxt = None
                if public and j + 1 < len(thread) and thread[j + 1]["role"] == "patient":
                    nxt = Status.PENDING_PATIENT
                if t.queue_id not in _member_queues(worker):
                    worker = agent
                tickets.post_message(t, author=worker, body=msg["body"], public=public, next_status=nxt)
            else:
                tickets.post_message(t, author=t.requester, body=msg["body"])
        roll = rng.random()
        if t.status in (Status.OPEN, Status.PENDING_PATIENT) and roll < 0.45:
            tickets.update_ticket(t, actor=agent, status=Status.RESOLVED)
            if rng.random() < 0.5:
                tickets.update_ticket(t, actor=t.requester, status=Status.CLOSED, source="patient")
        _spread_in_time(t, now - timedelta(days=30 - 30 * i / n_tickets, hours=rng.randrange(0, 8)), rng)
        created += 1
    db.session.commit()

    echo(f"Seeded {len(QUEUES)} queues, {len(patients)} patients, {created} requests.")
    echo("")
    echo("Demo accounts (password for all: " + password + "):")
    for email, role in [("patient@example.org", "patient"), ("agent@example.org", "agent (every queue)"),
                        ("supervisor@example.org", "supervisor"), ("admin@example.org", "admin")]:
        echo(f"  {email:<26} {role}")
    if token_note:
        echo(token_note)


def _member_queues(user: User) -> set[int]:
    from helpdesk.permissions import member_queue_ids

    return member_queue_ids(user)


def _spread_in_time(ticket: Ticket, created, rng: random.Random) -> None:
    """Demo only: move a freshly made ticket's timestamps back so it starts at ``created``."""
    shift = ticket.created_at - created
    values = {"created_at": created, "updated_at": ticket.updated_at - shift}
    for col in ("first_response_at", "resolved_at", "closed_at"):
        value = getattr(ticket, col)
        if value is not None:
            values[col] = value - shift
    step = timedelta(hours=1 + rng.randrange(20))
    message_ids = list(db.session.scalars(sa.select(Message.id).where(Message.ticket_id == ticket.id).order_by(Message.id)))
    # spread the thread too, keeping every timestamp consistent with its order
    for k, message_id in enumerate(message_ids):
        db.session.execute(sa.update(Message).where(Message.id == message_id).values(created_at=created + step * k))
    last = created + step * max(len(message_ids) - 1, 0)
    for col in ("first_response_at", "resolved_at", "closed_at"):
        if col in values:
            values[col] = min(max(values[col], created + step), last + step)
    values["updated_at"] = max(values.get("resolved_at") or last, last)
    db.session.execute(sa.update(Ticket).where(Ticket.id == ticket.id).values(**values))
    from helpdesk.routing.models import RoutingDecision, RoutingLabel

    db.session.execute(sa.update(RoutingDecision).where(RoutingDecision.ticket_id == ticket.id)
                       .values(created_at=created + timedelta(seconds=2)))
    db.session.execute(sa.update(RoutingLabel).where(RoutingLabel.ticket_id == ticket.id)
                       .values(created_at=created + timedelta(minutes=30)))
