"""Ticket search on PostgreSQL: the new search next to the old phrase ILIKE, same run,
same data, same agent (target: p95 <= 50 ms at 1,000,000 tickets).

    .venv/bin/python bench/search.py [--tickets 100000] [--million] [--queries 40] [--old-queries 15]

Uses its own database (BENCH_SEARCH_DATABASE_URL, default helpdesk_search_bench on the
local PostgreSQL; created if missing, emptied, migrated). Seeds one patient per ten
tickets (English and Spanish names, accents included, e-mails, MRNs) and tickets with 1–4
messages of realistic text (80 % English, 20 % Spanish; one in five tickets with an
internal note), in bulk; then builds every ticket's search document with the statement
the services use (``helpdesk.tickets.search._PG_REINDEX``, in batches) and reports its
rate. Then it times, for several kinds of query, the whole search path of a list page
(``ticket_list`` with the agent's permissions, 25 rows, + the snippets) and the old query
(the phrase ``ILIKE`` on the subject and every message, newest first), and whether each
found the ticket the query was made from on its first page.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/helpdesk_search_bench"
TARGET_MS = 50.0

FIRST = ["Maria", "José", "Ana", "Luis", "Carmen", "Jorge", "Lucía", "Miguel", "Sofía", "Andrés", "Elena", "Raúl",
         "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Susan", "William",
         "Karen", "Thomas", "Nancy", "Daniel", "Lisa", "Matthew", "Emily", "Anthony", "Olivia", "Mark", "Grace",
         "Peter", "Hannah", "Kevin", "Chloe", "Brian", "Zoe", "Nguyen", "Wei", "Aisha", "Omar", "Fatima", "Ravi"]
LAST = ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Díaz",
        "Hernández", "Muñoz", "Álvarez", "Romero", "Jiménez", "Ruiz", "Castillo", "Ortega", "Domínguez", "Núñez",
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
        "Thomas", "Moore", "Jackson", "Martin", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
        "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams", "Baker", "Nelson",
        "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards",
        "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Peterson", "Cooper", "Reed",
        "Bailey", "Bell", "Kelly", "Howard", "Ward", "Cox", "Richardson", "Wood", "Watson", "Brooks", "Bennett",
        "Gray", "James", "Hughes", "Price", "Sanders", "Myers", "Long", "Ross", "Foster", "Kowalski", "Nakamura",
        "Okafor", "Haddad", "Petrov", "Schneider", "O'Brien", "Lindqvist", "Rossi", "Dubois", "Novak", "Kaur"]
DEPTS = ["cardiology", "dermatology", "pediatrics", "orthopedics", "oncology", "radiology", "maternity", "neurology",
         "urology", "physical therapy", "sleep medicine", "endocrinology", "allergy", "gastroenterology", "audiology",
         "ophthalmology", "nephrology", "rheumatology", "podiatry", "pulmonology"]
PLACES = ["Northside", "Lakeview", "Eastgate", "Hillcrest", "Maple Grove", "Cedar Park", "Harbor Point", "Oakwood"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
DRUGS = ["lisinopril", "metformin", "atorvastatin", "levothyroxine", "amlodipine", "omeprazole", "albuterol",
         "sertraline", "gabapentin", "losartan"]
SUBJECTS = [
    "Question about my bill", "Charged twice for my {dept} visit", "Reschedule my {dept} appointment",
    "Refill request for {drug}", "Lab results not showing", "Video visit won't connect", "Parking at {place}",
    "Can't sign in to the portal", "Referral to {dept}", "Insurance claim denied", "Copy of my medical records",
    "Interpreter for my {dept} visit", "Prior authorization for {drug}", "Update my address", "Payment plan",
]
BODIES = [
    "I was charged twice for my {dept} visit at {place} on {day}, the statement shows the same charge two times. "
    "Can you check and refund the duplicate?",
    "I need to move my {dept} appointment on {day} to another day next week, preferably in the morning.",
    "Please send a refill of {drug} to the pharmacy on Main Street, I have three pills left.",
    "My lab results from the {dept} clinic are not showing in the portal although the nurse said they were ready.",
    "The video visit link says my camera is blocked; I tried another browser and it still fails to connect.",
    "Where do I park for the {dept} clinic at {place}? The garage was full last {day}.",
    "I forgot my password and the reset e-mail never arrives, I checked the spam folder too.",
    "My doctor asked for a referral to {dept} at {place} but the insurance says it was never received.",
    "The insurance rejected the claim for my {dept} procedure, they say the code was wrong.",
    "I need a copy of my medical records from {dept} for a second opinion at another hospital.",
    "My mother needs a Spanish interpreter for her {dept} visit on {day} at {place}.",
]
BODIES_ES = [
    "Me cobraron dos veces la consulta de {dept} del {day} en {place}, por favor revisen la factura y devuelvan el "
    "cobro duplicado.",
    "Necesito cambiar mi cita médica de {dept} del próximo {day} por la mañana, no puedo asistir.",
    "Por favor envíen la receta de {drug} a la farmacia, me quedan pocas pastillas.",
    "No puedo entrar al portal, olvidé mi contraseña y el código de activación no llegó a mi correo.",
    "Los resultados de mis análisis de {dept} no aparecen en el portal, la enfermera dijo que ya estaban listos.",
    "Mi madre necesita un intérprete para su cita de {dept} en {place} el {day}.",
]
REPLIES = [
    "Thank you for writing. I checked your account: the second charge of the {dept} visit is a pre-authorisation "
    "that the bank releases within five business days. Nothing else is owed.",
    "I moved your {dept} appointment to {day} at 9:30 at {place}. You will get a confirmation by e-mail.",
    "The refill of {drug} was sent to your pharmacy; it should be ready tomorrow afternoon.",
    "Your results were released by the {dept} team this morning; please sign out and in again to see them.",
    "Please allow camera access in the browser settings and join the visit five minutes early.",
    "Gracias por escribirnos. Revisamos su cuenta y el segundo cobro de {dept} fue anulado; verá el reembolso "
    "en cinco días.",
    "Hemos cambiado su cita de {dept} al {day} a las nueve de la mañana en {place}.",
]
NOTES = [
    "Called the patient back, no answer; left a voicemail about the {dept} billing code.",
    "Duplicate of an older request about {drug}; checked with the pharmacy team.",
    "Escalated to the {dept} practice manager, waiting for the coding review.",
]
COMMON = ["appointment", "portal", "insurance", "factura", "refund"]


def ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(sorted(values), n=100)[q - 1] * 1000 if len(values) > 1 else values[0] * 1000


def fill(rng: random.Random, template: str) -> str:
    return template.format(dept=rng.choice(DEPTS), place=rng.choice(PLACES), day=rng.choice(DAYS),
                           drug=rng.choice(DRUGS))


def typo(rng: random.Random, word: str) -> str:
    """One edit: a letter dropped, doubled, swapped with the next or replaced."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + rng.choice("aeiousnrtl") + word[i + 1:]


def seed(app, n_tickets: int, rng: random.Random) -> dict:
    import sqlalchemy as sa
    from tqdm import tqdm

    from helpdesk.auth import services as accounts
    from helpdesk.auth.models import Role, User
    from helpdesk.demo import QUEUES
    from helpdesk.extensions import db
    from helpdesk.tickets import search
    from helpdesk.tickets.models import Message, Queue, Ticket, new_reference
    from helpdesk.timeutil import utcnow

    with app.app_context():
        queues = [accounts.create_queue(actor=None, slug=s, name=n, description=d) for s, n, d in QUEUES]
        agent = accounts.create_user(actor=None, email="bench.agent@example.org", name="Bench Agent",
                                     role=Role.AGENT, password="correct horse battery staple")
        worked = [q for q in queues if q.slug in ("billing", "scheduling", "account-access", "triage")]
        for q in worked:
            accounts.add_member(actor=None, queue=q, user=agent)
        queue_ids = [q.id for q in db.session.scalars(sa.select(Queue))]
        n_patients = max(10, n_tickets // 10)
        now = utcnow()
        users = []
        for i in range(n_patients):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            users.append({"email": f"{first}.{last}.{i}@example.net".lower().replace("'", ""),
                          "display_name": f"{first} {last}", "role": Role.PATIENT.value, "language": "en",
                          "mrn": f"MRN-{100000 + i}", "created_at": now, "email_verified_at": now})
        for start in tqdm(range(0, len(users), 5000), desc="patients", unit="batch", file=sys.stderr):
            db.session.execute(sa.insert(User.__table__), users[start:start + 5000])
        db.session.commit()
        patient_ids = list(db.session.scalars(sa.select(User.id).where(User.role == Role.PATIENT).order_by(User.id)))

        statuses = ["new", "open", "pending_patient", "resolved", "closed"]
        prios = [("low", 1), ("normal", 2), ("high", 3), ("urgent", 4)]
        refs: set[str] = set()
        msg_id = 0
        ticket_id = 0
        for start in tqdm(range(0, n_tickets, 5000), desc="tickets", unit="batch", file=sys.stderr,
                          total=(n_tickets + 4999) // 5000):
            tickets, messages = [], []
            for _ in range(min(5000, n_tickets - start)):
                ticket_id += 1
                ref = new_reference()
                while ref in refs:
                    ref = new_reference()
                refs.add(ref)
                spanish = rng.random() < 0.2
                created = now - timedelta(minutes=ticket_id)
                p, r = rng.choice(prios)
                tickets.append({"id": ticket_id, "reference": ref, "subject": fill(rng, rng.choice(SUBJECTS)),
                                "requester_id": rng.choice(patient_ids), "queue_id": rng.choice(queue_ids),
                                "status": rng.choice(statuses), "priority": p, "priority_rank": r, "channel": "web",
                                "created_at": created, "updated_at": created})
                bodies = [(fill(rng, rng.choice(BODIES_ES if spanish else BODIES)), True)]
                for _ in range(rng.randrange(0, 3)):
                    bodies.append((fill(rng, rng.choice(REPLIES)), True))
                if rng.random() < 0.2:
                    bodies.append((fill(rng, rng.choice(NOTES)), False))
                for k, (body, public) in enumerate(bodies):
                    msg_id += 1
                    messages.append({"id": msg_id, "ticket_id": ticket_id, "body": body, "public": public,
                                     "channel": "web", "created_at": created + timedelta(seconds=k)})
            db.session.execute(sa.insert(Ticket.__table__), tickets)
            db.session.execute(sa.insert(Message.__table__), messages)
            db.session.commit()
        for table in ("tickets", "messages"):
            db.session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                       f"(SELECT max(id) FROM {table}))"))
        db.session.commit()

        t0 = time.perf_counter()
        for start in tqdm(range(1, ticket_id + 1, 5000), desc="search documents", unit="batch", file=sys.stderr):
            search.reindex(range(start, min(start + 5000, ticket_id + 1)))
            db.session.commit()
        build_s = time.perf_counter() - t0
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))  # as autovacuum would: GIN pending lists merged
        size = db.session.scalar(sa.text("SELECT pg_size_pretty(pg_total_relation_size('ticket_search'))"))
        return {"agent_id": agent.id, "tickets": ticket_id, "patients": len(patient_ids), "messages": msg_id,
                "build_s": build_s, "size": size}


def queries(app, info: dict, rng: random.Random, n: int) -> dict[str, list[tuple[str, int]]]:
    """(query, the ticket it was made from) for each kind, from tickets the agent may see."""
    import sqlalchemy as sa

    from helpdesk.auth.models import User
    from helpdesk.extensions import db
    from helpdesk.permissions import ticket_scope
    from helpdesk.tickets import search_text
    from helpdesk.tickets.models import Message, Ticket

    with app.app_context():
        agent = db.session.get(User, info["agent_id"])
        pool = list(db.session.execute(
            sa.select(Ticket.id, Ticket.reference, User.display_name, User.email)
            .join(User, User.id == Ticket.requester_id).where(ticket_scope(agent))
            .order_by(sa.func.random()).limit(n * 4)))
        kinds: dict[str, list[tuple[str, int]]] = {k: [] for k in (
            "reference, no prefix", "misspelt surname", "two words of a reply", "patient e-mail",
            "spanish, no accents", "one common word")}
        for tid, ref, name, email in pool[:n]:
            kinds["reference, no prefix"].append((ref[3:].lower(), tid))
            surname = search_text.fold(name.split()[-1])
            kinds["misspelt surname"].append((typo(rng, surname) if len(surname) > 4 else surname, tid))
            kinds["patient e-mail"].append((email, tid))
        for tid, body in db.session.execute(
                sa.select(Message.ticket_id, Message.body).where(
                    Message.ticket_id.in_([p[0] for p in pool]), Message.public.is_(True),
                    Message.created_at > Ticket.created_at)  # replies, not the first message
                .join(Ticket, Ticket.id == Message.ticket_id).order_by(Message.id.desc())):
            words = [w for w in search_text.words(body) if w not in search_text.stopwords() and len(w) > 3]
            if len(words) < 6:
                continue
            if any(ch in body for ch in "áéíóúñ") and len(kinds["spanish, no accents"]) < n:
                accented = [w for w in search_text.words(body) if len(w) > 3 and w not in search_text.stopwords()]
                kinds["spanish, no accents"].append((" ".join(rng.sample(accented, 2)), tid))
            elif len(kinds["two words of a reply"]) < n:
                kinds["two words of a reply"].append((f"{words[-1]} {words[1]}", tid))
        kinds["one common word"] = [(rng.choice(COMMON), 0) for _ in range(n)]
        return kinds


def time_kinds(app, info: dict, kinds: dict, n_old: int) -> list[tuple]:
    import sqlalchemy as sa
    from sqlalchemy.orm import joinedload

    from helpdesk.auth.models import User
    from helpdesk.extensions import db
    from helpdesk.permissions import ticket_scope
    from helpdesk.tickets import search
    from helpdesk.tickets.models import Message, Ticket
    from helpdesk.tickets.queries import TicketFilters, ticket_list

    def new(agent, q: str) -> list[int]:
        rows, _ = ticket_list(agent, TicketFilters(q=q, sort="relevance", limit=25))
        search.attach_snippets(agent, rows, q)
        return [t.id for t in rows]

    def old(agent, q: str) -> list[int]:
        """The query this replaces (helpdesk/tickets/queries.py before #18)."""
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        in_body = sa.select(Message.id).where(Message.ticket_id == Ticket.id, Message.body.ilike(pattern, escape="\\"))
        stmt = (sa.select(Ticket).where(ticket_scope(agent))
                .where(sa.or_(Ticket.subject.ilike(pattern, escape="\\"), in_body.exists()))
                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(26)
                .options(joinedload(Ticket.requester), joinedload(Ticket.queue), joinedload(Ticket.assignee)))
        return [t.id for t in db.session.scalars(stmt).unique()][:25]

    results = []
    with app.test_request_context():
        agent = db.session.get(User, info["agent_id"])
        for kind, items in kinds.items():
            row = [kind, len(items)]
            for fn, sample in ((new, items), (old, items[:n_old])):
                timings, found = [], 0
                fn(agent, sample[0][0])  # warm-up
                for q, target in sample:
                    t0 = time.perf_counter()
                    ids = fn(agent, q)
                    timings.append(time.perf_counter() - t0)
                    found += (target in ids) if target else bool(ids)
                    db.session.rollback()  # one request, one transaction
                row += [pct(timings, 50), pct(timings, 95), found, len(sample)]
            results.append(row)
            print(f"  {kind:24} new p50 {row[2]:7.1f} ms  p95 {row[3]:7.1f} ms  on page 1 {row[4]}/{row[5]}   |   "
                  f"old ILIKE p50 {row[6]:8.1f} ms  p95 {row[7]:8.1f} ms  on page 1 {row[8]}/{row[9]}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="seed 1,000,000 tickets")
    parser.add_argument("--queries", type=int, default=40, help="queries of each kind for the new search")
    parser.add_argument("--old-queries", type=int, default=15, help="of those, how many the old ILIKE runs")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    n = 1_000_000 if args.million else args.tickets

    from helpdesk import create_app
    from helpdesk.config import Settings

    url = os.environ.get("BENCH_SEARCH_DATABASE_URL", DEFAULT_DB)
    ensure_database(url)
    workdir = ROOT / "instance" / "bench-search"
    app = create_app(Settings.for_testing(instance_path=workdir, database_url=url, redis_url=None))
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from helpdesk.extensions import db

    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        upgrade(directory=str(ROOT / "migrations"))
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    info = seed(app, n, rng)
    print(f"seeded {info['tickets']:,} tickets, {info['messages']:,} messages, {info['patients']:,} patients "
          f"in {time.perf_counter() - t0:.0f} s; search documents built in {info['build_s']:.1f} s "
          f"({info['tickets'] / info['build_s']:,.0f} tickets/s through the services' statement), "
          f"ticket_search {info['size']}")
    kinds = queries(app, info, rng, args.queries)
    from helpdesk.demo import QUEUES

    print(f"search as an agent of 4 of {len(QUEUES)} queues, first page of 25 (+ snippets for the new search); "
          f"target p95 <= {TARGET_MS:.0f} ms at 1,000,000 tickets:")
    rows = time_kinds(app, info, kinds, args.old_queries)
    worst = max(r[3] for r in rows)
    print(f"new search, worst p95 over the kinds: {worst:.1f} ms at {info['tickets']:,} tickets "
          f"({'within' if worst <= TARGET_MS else 'over'} the {TARGET_MS:.0f} ms target)")


if __name__ == "__main__":
    main()
