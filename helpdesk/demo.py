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
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from helpdesk import policy
from helpdesk.auth import mfa
from helpdesk.auth import services as accounts
from helpdesk.auth.models import Role, User
from helpdesk.clinical import services as clinical
from helpdesk.clinical.models import OnCallMember
from helpdesk.db import commit
from helpdesk.extensions import db
from helpdesk.i18n.models import NameKind
from helpdesk.i18n.names import known_keys, names_of, set_name
from helpdesk.kb.seed import seed_articles
from helpdesk.permissions import member_queue_ids
from helpdesk.sla import rollup
from helpdesk.sla import services as sla
from helpdesk.sla.policies import seed_defaults
from helpdesk.tickets import services as tickets
from helpdesk.tickets.macro_seed import seed_macros
from helpdesk.tickets.models import Assignment, Channel, Queue, Status
from helpdesk.timeutil import simulated_clock, utcnow

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
#: The queues' names in Spanish (helpdesk.i18n.names): what a Spanish page calls them.
QUEUE_NAMES = {"es": {
    "account-access": "Acceso a la cuenta", "scheduling": "Citas", "billing": "Facturación",
    "records": "Expedientes médicos", "prescriptions": "Recetas", "technical": "Soporte técnico",
    "general": "General", "triage": "Clasificación", "clinical-escalation": "Atención clínica urgente",
}}


def seed_queue_names() -> None:
    """The demo queues' names in other languages (a name already saved is kept)."""
    existing = known_keys(NameKind.QUEUE)
    for language, names in QUEUE_NAMES.items():
        have = names_of(NameKind.QUEUE, language)
        for slug, name in names.items():
            if slug in existing and slug not in have:
                set_name(actor=None, kind=NameKind.QUEUE, key=slug, language=language, name=name)


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
    seed_defaults()  # business calendar and SLA policies per queue (existing ones are kept)
    commit()  # a script: the writes it made outside the services
    seed_queue_names()

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
    # identifiers on file for the agent's identity check (phone last 4: 0142, ZIP: 94110)
    patient.phone, patient.address_zip = "(555) 010-0142", "94110"
    agent = user("agent@example.org", "Alex Rivera", Role.AGENT, all_queues)
    supervisor = user("supervisor@example.org", "Sam Okafor", Role.SUPERVISOR, all_queues)
    user("admin@example.org", "Avery Chen", Role.ADMIN, [])
    # the clinician on call: a flagged request is assigned to them and alerts them (on duty all week)
    nurse = user("nurse@example.org", "Noor Haddad", Role.AGENT, ["clinical-escalation"])
    if db.session.scalar(sa.select(OnCallMember.id).where(OnCallMember.user_id == nurse.id)) is None:
        clinical.add_to_roster(actor=None, user=nurse, mode="on")
    agents = [agent]
    for email, name, member_of in [
        ("jordan@example.org", "Jordan Blake", ["account-access", "technical", "triage"]),
        ("priya.agent@example.org", "Priya Natarajan", ["billing", "records", "general"]),
        ("diego@example.org", "Diego Santos", ["scheduling", "prescriptions", "account-access", "technical"]),
    ]:
        agents.append(user(email, name, Role.AGENT, member_of))
    commit()  # a script: the writes it made outside the services

    patients = [patient]
    for i in range(40):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        email = f"{first.lower().replace('é', 'e')}.{last.lower()}{i}@example.net"
        p = db.session.scalar(sa.select(User).where(User.email == email))
        if p is None:
            p = User(email=email, display_name=f"{first} {last}", role=Role.PATIENT, active=True, email_verified_at=utcnow(),
                     date_of_birth=date(1940 + rng.randrange(65), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                     mrn=f"MRN-{300000 + i * 37}", phone=f"(555) 01{i:02d}-{2000 + i * 17:04d}",
                     address_zip=f"{94100 + i:05d}")  # no rng draw: the rest of the seed stays the same
            p.set_password(password)
            db.session.add(p)
        patients.append(p)
    commit()  # a script: the writes it made outside the services

    if train_model:
        from helpdesk.routing.training import retrain  # lazy: training imports scikit-learn

        echo("Training the routing model from the project's corpus…")
        report = retrain(progress=lambda _s: None)
        echo(f"  model {report.version}: evaluation-file macro-F1 {report.project_eval['macro_f1']:.3f}, "
             f"coverage {report.project_eval['coverage']:.3f}")

    echo(f"Knowledge base: {seed_articles(author=supervisor)} article(s) loaded.")
    seed_macros(echo=echo)

    portal = db.session.scalar(sa.select(User).where(User.role == Role.INTEGRATION))
    token_note = ""
    if portal is None:
        token, secret = accounts.create_api_token(actor=None, name="patient-portal")
        portal = token.user
        token_note = f"  API token for the patient portal (integration): {secret}"

    requests = json.loads(DATA.read_text(encoding="utf-8"))
    real_now = utcnow()
    sim = _Clock(real_now)
    created = 0
    # The history is written as it would have happened, under a simulated clock: tickets
    # over the last 30 days in US working hours, replies hours apart, so the SLA clocks,
    # breaches and the dashboard tell a true story.
    with simulated_clock(sim):
        for i in range(n_tickets):
            day = real_now - timedelta(days=30 - 30 * i / n_tickets)
            sim.now = min(day.replace(hour=13, minute=0, second=0, microsecond=0)
                          + timedelta(minutes=rng.randrange(0, 9 * 60)), real_now - timedelta(minutes=5))
            _seed_ticket(i, requests[i % len(requests)], rng, sim, real_now, patient=patient, patients=patients,
                         portal=portal, supervisor=supervisor, agent=agent, agents=agents, queues=queues)
            created += 1
    commit()  # a script: the writes it made outside the services
    fired = sla.sweep()
    days = rollup.refresh(max_days=None)
    echo(f"SLA: {fired} warning/breach event(s) fired; dashboard summaries for {days} day(s).")

    echo(f"Seeded {len(QUEUES)} queues, {len(patients)} patients, {created} requests.")
    echo("")
    echo("Demo accounts (password for all: " + password + "):")
    for email, role in [("patient@example.org", "patient"), ("agent@example.org", "agent (every queue)"),
                        ("nurse@example.org", "clinician on call (clinical escalation, on duty all week)"),
                        ("supervisor@example.org", "supervisor"), ("admin@example.org", "admin")]:
        account = db.session.scalar(sa.select(User).where(User.email == email))
        note = ""
        if account is not None and account.mfa_required:
            # staff must use two-step sign-in: give them an authenticator secret now
            if not account.mfa_enabled:
                mfa.provision(account)
            note = f"  authenticator key {account.mfa_secret} (or: make mfa-code EMAIL={email})"
        echo(f"  {email:<26} {role}{note}")
    if token_note:
        echo(token_note)


def _member_queues(user: User) -> set[int]:
    return member_queue_ids(user)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def later(self, rng: random.Random, lo_minutes: int, hi_minutes: int, limit: datetime) -> bool:
        """Move on by a random while; False (and no move) when that would pass ``limit``."""
        moment = self.now + timedelta(minutes=rng.randrange(lo_minutes, hi_minutes))
        if moment >= limit:
            return False
        self.now = moment
        return True


def _seed_ticket(i: int, item: dict, rng: random.Random, sim: _Clock, limit: datetime, *, patient: User,
                 patients: list[User], portal: User, supervisor: User, agent: User, agents: list[User],
                 queues: dict) -> None:
    requester = patient if i % 25 == 0 else rng.choice(patients[1:])
    channel = Channel.API if i % 3 == 0 else Channel.WEB
    t = tickets.create_ticket(
        requester=requester, subject=item["subject"], body=item["body"], channel=channel,
        created_by=portal if channel == Channel.API else requester, priority=item.get("priority"),
    )
    if t.queue.slug == "triage" and rng.random() < 0.7 and sim.later(rng, 5, 90, limit):
        tickets.update_ticket(t, actor=supervisor, queue_id=queues[item["queue"]].id,
                              reason="Triage: chose the queue", source="triage")
    worker = t.assignee or rng.choice([a for a in agents if t.queue_id in _member_queues(a)] or [agent])
    thread = item.get("thread", [])
    for j, msg in enumerate(thread):
        if (rng.random() < 0.15 and j > 0) or not sim.later(rng, 10, 7 * 60, limit):
            return
        if msg["role"] == "agent":
            public = msg.get("public", True)
            nxt = None
            if public and j + 1 < len(thread) and thread[j + 1]["role"] == "patient":
                nxt = Status.PENDING_PATIENT
            if t.queue_id not in _member_queues(worker):
                worker = agent
            # a reply states the policy in force when it was written: placeholders resolved now
            body = policy.resolve_text(msg["body"], strict=True)
            tickets.post_message(t, author=worker, body=body, public=public, next_status=nxt)
        else:
            tickets.post_message(t, author=t.requester, body=msg["body"])
    settled = limit - t.created_at > timedelta(days=5)  # most older requests are done by now
    if (t.status in (Status.OPEN, Status.PENDING_PATIENT) and rng.random() < (0.85 if settled else 0.35)
            and sim.later(rng, 10, 240, limit)):
        tickets.update_ticket(t, actor=agent, status=Status.RESOLVED)
        if rng.random() < 0.5 and sim.later(rng, 60, 48 * 60, limit):
            tickets.update_ticket(t, actor=t.requester, status=Status.CLOSED, source="patient")
