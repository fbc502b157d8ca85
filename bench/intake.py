"""API intake under concurrent clients against gunicorn + PostgreSQL (+ Redis), compared
in the same run with the ceiling: a trivial endpoint (/livez) of the same app on the same
server. Then the agent ticket list's p95 with 100,000 tickets.

    make bench            # or: .venv/bin/python bench/intake.py [--requests 2000] [--clients 16]

Uses its own database (BENCH_DATABASE_URL, default helpdesk_bench on the local
PostgreSQL; created if missing, and emptied) and REDIS_URL if set. Durability is not
traded for speed: synchronous_commit stays on and every ticket writes its audit row and
outbox job in the same transaction.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/helpdesk_bench"


def ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare(env: dict[str, str]) -> str:
    """Fresh schema, queues, a model and an integration token; returns the token."""
    from helpdesk import create_app
    from helpdesk.config import Settings

    settings = Settings.from_env(env)
    app = create_app(settings)
    import sqlalchemy as sa

    from helpdesk.extensions import db

    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
        from helpdesk.auth import services as accounts
        from helpdesk.demo import QUEUES
        from helpdesk.routing.training import retrain

        for slug, name, desc in QUEUES:
            accounts.create_queue(actor=None, slug=slug, name=name, description=desc)
        retrain()
        _token, secret = accounts.create_api_token(actor=None, name="bench-portal")
        synchronous = db.session.execute(sa.text("SHOW synchronous_commit")).scalar()
    print(f"database ready (synchronous_commit={synchronous})")
    return secret


class Result:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.lock = threading.Lock()


def load(port: int, n: int, clients: int, method: str, path: str, body_fn=None, headers=None) -> tuple[float, Result]:
    result = Result()
    per_client = n // clients

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local, errors = [], 0
        for i in range(per_client):
            body = json.dumps(body_fn(rng, seed, i)) if body_fn else None
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            resp.read()
            local.append(time.perf_counter() - t0)
            if resp.status >= 400:
                errors += 1
        conn.close()
        with result.lock:
            result.latencies += local
            result.errors += errors

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, result


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(sorted(values), n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


SUBJECTS = ["Can't sign in", "Question about my bill", "Reschedule my appointment", "Refill request",
            "Results not showing", "Video visit won't connect", "Parking question"]
BODIES = ["I forgot my password and the reset email never arrives.",
          "I was charged twice for my visit on March 3, please check.",
          "I need to move my appointment next Tuesday to another day.",
          "Please send a refill of my prescription to the pharmacy on Main St.",
          "My lab results from last week are not showing in the portal.",
          "The video visit link says my camera is blocked.",
          "Where do I park for the imaging center?"]


def ticket_body(rng: random.Random, seed: int, i: int) -> dict:
    k = rng.randrange(len(SUBJECTS))
    return {"subject": SUBJECTS[k], "body": BODIES[k] + f" (#{seed}-{i})",
            "requester": {"email": f"bench{seed}-{i % 50}@example.net", "name": f"Bench Patient {seed}"}}


def list_benchmark(env: dict[str, str], n_tickets: int) -> None:
    """Seed n tickets in bulk, then time the agent ticket list (first pages and filters)."""
    from helpdesk import create_app
    from helpdesk.config import Settings

    app = create_app(Settings.from_env(env))
    import sqlalchemy as sa

    from helpdesk.auth import services as accounts
    from helpdesk.auth.mfa import signed_in_key
    from helpdesk.auth.models import Role, User
    from helpdesk.extensions import db
    from helpdesk.tickets.models import Queue, Ticket
    from helpdesk.timeutil import utcnow

    with app.app_context():
        queues = list(db.session.scalars(sa.select(Queue)))
        agent = accounts.create_user(actor=None, email="bench.agent@example.org", name="Bench Agent",
                                     role=Role.AGENT, password="tidal-orchard-lantern-47")
        for q in queues:
            if q.slug in ("billing", "scheduling", "account-access", "triage"):
                accounts.add_member(actor=None, queue=q, user=agent)
        patient = db.session.scalar(sa.select(User).where(User.role == Role.PATIENT))
        have = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
        rng = random.Random(1)
        now = utcnow()
        from datetime import timedelta

        from tqdm import tqdm

        batch = []
        statuses = ["new", "open", "pending_patient", "resolved", "closed"]
        prios = [("low", 1), ("normal", 2), ("high", 3), ("urgent", 4)]
        for i in tqdm(range(max(0, n_tickets - have)), desc="seeding tickets", unit="ticket", file=sys.stderr):
            p, r = rng.choice(prios)
            batch.append({"reference": f"HD-B{i:08d}",  # never one of the random HD-xxxxxx
                          "subject": rng.choice(SUBJECTS),
                          "requester_id": patient.id, "queue_id": rng.choice(queues).id,
                          "status": rng.choice(statuses), "priority": p, "priority_rank": r, "channel": "api",
                          "created_at": now - timedelta(minutes=i), "updated_at": now - timedelta(minutes=i)})
            if len(batch) == 5000:
                db.session.execute(sa.insert(Ticket.__table__), batch)
                db.session.commit()
                batch = []
        if batch:
            db.session.execute(sa.insert(Ticket.__table__), batch)
            db.session.commit()
        agent_id = agent.id
    # what autovacuum does to a table in production (statistics, and the visibility map
    # that lets the counts read the index alone); VACUUM runs outside a transaction
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
        agent_key = signed_in_key(db.session.get(User, agent_id))  # a real server-side session

    client = app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = agent_key
        s["_fresh"] = True
    urls = ["/agent/tickets", "/agent/tickets?status=active", "/agent/tickets?sort=priority",
            "/agent/tickets?queue=billing&status=open", "/agent/tickets?assignee=unassigned&sort=oldest"]
    for u in urls:
        client.get(u)  # warm up
    timings = []
    for i in range(300):
        t0 = time.perf_counter()
        resp = client.get(urls[i % len(urls)])
        timings.append(time.perf_counter() - t0)
        assert resp.status_code == 200
    # deep pages: follow the cursor 20 pages in
    resp = client.get("/agent/tickets")
    print(f"agent ticket list with {total:,} tickets: p50 {pct(timings, 50):.1f} ms, p95 {pct(timings, 95):.1f} ms "
          f"(whole request through Flask, {len(timings)} requests over {len(urls)} filter/sort combinations)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker (overlap DB waits)")
    parser.add_argument("--list-tickets", type=int, default=100_000)
    args = parser.parse_args()

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    ensure_database(db_url)
    env = {"HELPDESK_ENV": "production", "SECRET_KEY": "bench-" + "x" * 32, "DATABASE_URL": db_url,
           "EXTERNAL_URL": "https://helpdesk.bench.invalid", "HELPDESK_PHONE": "+1 555 0100",
           "HELPDESK_INSTANCE_PATH": str(ROOT / "instance" / "bench")}
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    secret = prepare(env)

    port = 5099
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(args.workers), "--threads", str(args.threads),
         "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env={**os.environ, **env},
    )
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/livez")
                break
            except OSError:
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        load(port, 200, args.clients, "GET", "/livez")  # warm-up
        load(port, 200, args.clients, "POST", "/api/v1/tickets", ticket_body, auth)
        ceiling_s, ceiling = load(port, args.requests, args.clients, "GET", "/livez")
        intake_s, intake = load(port, args.requests, args.clients, "POST", "/api/v1/tickets", ticket_body, auth)
    finally:
        proc.terminate()
        proc.wait()

    c_rate = len(ceiling.latencies) / ceiling_s
    i_rate = len(intake.latencies) / intake_s
    jobs = "redis" if "REDIS_URL" in env else "inline (classification in the request)"
    print(f"gunicorn {args.workers} workers x {args.threads} threads, {args.clients} concurrent clients, "
          f"PostgreSQL (synchronous_commit on), jobs {jobs}; load generator on the same 2 cores")
    print(f"ceiling  GET /livez           {c_rate:8.0f} req/s   p50 {pct(ceiling.latencies, 50):6.1f} ms   "
          f"p99 {pct(ceiling.latencies, 99):6.1f} ms   errors {ceiling.errors}")
    print(f"intake   POST /api/v1/tickets {i_rate:8.0f} tickets/s p50 {pct(intake.latencies, 50):6.1f} ms   "
          f"p99 {pct(intake.latencies, 99):6.1f} ms   errors {intake.errors}")
    print(f"intake / ceiling = {i_rate / c_rate:.2f}  (target >= 0.50)")
    list_benchmark(env, args.list_tickets)


if __name__ == "__main__":
    main()
