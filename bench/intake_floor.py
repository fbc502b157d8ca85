"""The floor under an API create: how fast can *any* Python web process write what a
new request must write, on this machine, with nothing of the application around it?

    PEER_DIR=/tmp/peer .venv/bin/python bench/intake_floor.py [--duration 10]

Three things are measured in one run, with the peer harness's load generator (c=4,
gunicorn with 2 sync workers each, the same PostgreSQL, everything on the same 2 cores):

* the peer (django-helpdesk 2.6.1, ../shared/peer): its trivial view and its API create;
* this app: its trivial endpoint (``/livez``) and its API create (``/api/v1/tickets``);
* **the floor**: a bare WSGI function (no Flask, no ORM, no validation, no emergency
  guard, no routing, no rate limit, no request log) that writes into this app's schema
  exactly the rows a new request for a new patient must have — the patient's account,
  the request, its first message, its search document, its two audit events (hashed), its
  two SLA clocks and their summary row, its follow-up job — as **one** SQL statement
  (one round trip, its own transaction, ``synchronous_commit`` on), then arms the
  follow-up drain with one Redis ``SET NX``, and answers a small JSON body.

The floor is not an implementation to ship (it skips every check a request needs); it
is the most any implementation could reach here. Where the floor itself is below a
target, no create path written in Python can meet that target on this machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

print = partial(print, flush=True)  # noqa: A001 - progress as it happens

ROOT = Path(__file__).resolve().parent.parent
FLOOR_PORT = 5119

# ---------------------------------------------------------------- the floor (a WSGI app)

_FLOOR_SQL = """
WITH u AS (
    INSERT INTO users (email, display_name, role, active, language, session_token, available, kb_editor,
                       created_at, email_verified_at)
    VALUES (%(email)s, %(name)s, 'patient', true, 'en', %(session)s, true, false, %(now)s, %(now)s)
    ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
    RETURNING id
), t AS (
    INSERT INTO tickets (reference, subject, requester_id, created_by_id, queue_id, status, priority,
                         priority_rank, channel, identity_unverified, created_at, updated_at)
    SELECT %(reference)s, %(subject)s, u.id, %(actor)s, %(queue)s, 'new', 'normal', 2, 'api', false,
           %(now)s, %(now)s FROM u
    RETURNING id, requester_id
), m AS (
    INSERT INTO messages (ticket_id, author_id, body, public, channel, created_at)
    SELECT t.id, t.requester_id, %(body)s, true, 'api', %(now)s FROM t
), s AS (
    INSERT INTO ticket_search (ticket_id, queue_id, status, doc)
    SELECT t.id, %(queue)s, 'new',
           setweight(to_tsvector('english', helpdesk_search_text(%(subject)s)), 'A')
           || setweight(to_tsvector('spanish', helpdesk_search_text(%(subject)s)), 'A')
           || setweight(to_tsvector('english', helpdesk_search_text(%(body)s)), 'B')
           || setweight(to_tsvector('spanish', helpdesk_search_text(%(body)s)), 'B')
    FROM t
), a AS (
    INSERT INTO audit_events (created_at, actor_id, action, object_type, object_id, changes, ip, severity, hash)
    SELECT %(now)s, %(actor)s, 'user.created', 'user', u.id::text, %(user_changes)s, '127.0.0.1', 'info', %(hash1)s
    FROM u
    UNION ALL
    SELECT %(now)s, %(actor)s, 'ticket.created', 'ticket', %(reference)s, %(ticket_changes)s, '127.0.0.1', 'info',
           %(hash2)s
), c AS (
    INSERT INTO sla_metrics (ticket_id, metric, cycle, queue_id, priority, target_seconds, business, warn_fraction,
                             started_at, running_since, elapsed_seconds, state, due_at, warn_at, next_check_at)
    SELECT t.id, x.metric, 1, %(queue)s, 'normal', x.target, true, 0.75, %(now)s, %(now)s, 0, 'running',
           x.due, x.warn, x.warn
    FROM t, (VALUES ('first_reply', 36000, %(due1)s::timestamptz, %(warn1)s::timestamptz),
                    ('resolution', 172800, %(due2)s::timestamptz, %(warn2)s::timestamptz)) AS x(metric, target, due, warn)
), ts AS (
    INSERT INTO ticket_sla (ticket_id, policy_name, next_due_at, scheduled_for, reopens, agent_replies)
    SELECT t.id, 'Built-in default', %(due1)s, %(warn1)s, 0, 0 FROM t
), o AS (
    INSERT INTO job_outbox (func, args, created_at, attempts, failed, request_id)
    SELECT 'helpdesk.tickets.tasks.after_create', json_build_array(t.id, %(key)s::text), %(now)s, 0, false, %(request_id)s::text
    FROM t
)
SELECT id FROM t
"""

_state: dict = {}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ234679"


def _connect() -> None:
    import psycopg
    import redis

    conn = psycopg.connect(os.environ["FLOOR_DATABASE_URL"], autocommit=True)
    tokens = dict(conn.execute("SELECT token_hash, user_id FROM api_tokens WHERE revoked_at IS NULL").fetchall())
    queue = conn.execute("SELECT id FROM queues WHERE slug = 'triage'").fetchone()[0]
    _state.update(conn=conn, tokens=tokens, queue=queue, redis=redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"]))


def _digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def application(environ, start_response):
    """POST /create (Bearer token, JSON subject/body/requester) -> 201 {"reference": ...}."""
    from psycopg.types.json import Json

    if not _state:
        _connect()
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    auth = environ.get("HTTP_AUTHORIZATION", "")
    actor = _state["tokens"].get(hashlib.sha256(auth.removeprefix("Bearer ").encode()).hexdigest())
    if actor is None:
        start_response("401 Unauthorized", [("Content-Length", "0")])
        return [b""]
    data = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    now = datetime.now(UTC)
    reference = "HD-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))
    user_changes = {"role": {"before": None, "after": "patient"}}
    ticket_changes = {"status": {"before": None, "after": "new"}, "priority": {"before": None, "after": "normal"},
                      "queue": {"before": None, "after": "triage"}, "channel": {"before": None, "after": "api"}}
    stamp = now.isoformat()
    row = _state["conn"].execute(_FLOOR_SQL, {
        "email": data["requester"]["email"], "name": data["requester"]["name"], "session": secrets.token_hex(16),
        "now": now, "reference": reference, "subject": data["subject"], "body": data["body"], "actor": actor,
        "queue": _state["queue"], "user_changes": Json(user_changes), "ticket_changes": Json(ticket_changes),
        "hash1": _digest({"at": stamp, "action": "user.created", "changes": user_changes}),
        "hash2": _digest({"at": stamp, "action": "ticket.created", "ref": reference, "changes": ticket_changes}),
        "due1": now + timedelta(hours=10), "warn1": now + timedelta(hours=7.5),
        "due2": now + timedelta(hours=48), "warn2": now + timedelta(hours=36),
        "key": secrets.token_hex(8), "request_id": secrets.token_hex(16),
    }).fetchone()
    _state["redis"].set("floor:drain:after_create", "1", nx=True, ex=30)
    body = json.dumps({"reference": reference, "id": row[0], "status": "new", "priority": "normal"}).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                   ("Location", f"/api/v1/tickets/{reference}")])
    return [body]


# ---------------------------------------------------------------- the run


def main() -> int:
    import argparse
    import subprocess

    sys.path.insert(0, str(ROOT / "bench"))
    import intake_peer as ip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    peer_dir = Path(os.environ.get("PEER_DIR", "/tmp/peer")).resolve()
    if not (peer_dir / "venv-dh").exists():
        print(f"the peer is not set up in {peer_dir}: bash {peer_dir}/setup_djhelpdesk.sh (see ../shared/peer)")
        return 2
    load = ip.load_module(peer_dir)
    redis = ip.Redis()
    redis.start()
    db_url = os.environ.get("BENCH_DATABASE_URL", ip.DEFAULT_DB)
    env = ip.app_env(ROOT, db_url, redis.url)
    app = ip.App(ROOT, env)
    subprocess.run([app.python, "-c", "import sys; sys.path.insert(0, 'bench'); from intake import ensure_database;"
                    f"ensure_database({db_url!r})"], cwd=ROOT, check=True)
    prepared = json.loads(app.run(ip.PREPARE))
    peer = ip.Peer(peer_dir)
    floor_env = {"FLOOR_DATABASE_URL": db_url.replace("postgresql+psycopg", "postgresql"), "FLOOR_REDIS_URL": redis.url}
    results: dict[str, dict] = {}
    try:
        peer.start()
        app.start_web()
        app.start_worker("worker")
        app.env.update(floor_env)  # the floor reads these; the app ignores them
        app.start("floor", [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", "2", "--worker-class", "sync",
                            "-b", f"127.0.0.1:{FLOOR_PORT}", "--log-level", "warning", "--no-control-socket",
                            "--pythonpath", str(ROOT / "bench"), "intake_floor:application"])
        ip.wait_http(FLOOR_PORT, "/", timeout=60)
        pbase, abase, fbase = (f"http://127.0.0.1:{p}" for p in (ip.PEER_PORT, ip.APP_PORT, FLOOR_PORT))
        c, d, token = args.clients, args.duration, prepared["token"]
        def app_count(prefix: str) -> int:
            return app.sql(f"SELECT count(*) FROM tickets WHERE subject LIKE '{prefix}-%'")

        app_post = ["json-post", "--token", token, "--expect-status", "201", "--body", ip.app_body()]
        phases = [
            ("peer_ok", load.Get, pbase, ["get", "--url", f"{pbase}/bench/ok"], None),
            ("app_ok", load.Get, abase, ["get", "--url", f"{abase}/livez"], None),
            ("floor_ok", load.Get, fbase, ["get", "--url", f"{fbase}/"], None),
            ("peer_api", load.JsonPost, pbase, peer.api_args(pbase), peer.count),
            ("app_api", load.JsonPost, abase, [*app_post, "--url", f"{abase}/api/v1/tickets"], app_count),
            ("floor_api", load.JsonPost, fbase, [*app_post, "--url", f"{fbase}/create"], app_count),
        ]
        for name, scenario, base, argv, stored in phases:
            results[name] = ip.measure(load, scenario, base, argv, d, c, stored=stored)
            print(f"{name}: {results[name]['rate']:.0f}/s, p50 {results[name]['p50']:.1f} ms, "
                  f"errors {results[name]['errors'] or 0}")
    finally:
        app.stop_all()
        peer.stop()
        redis.stop()

    r = {k: v["rate"] for k, v in results.items()}
    print(f"\nside by side, c={args.clients}, {args.duration:.0f} s each, gunicorn 2 sync workers each, same PostgreSQL")
    print(f"{'figure':46} {'peer':>8} {'this app':>9} {'floor':>8}")
    print(f"{'trivial endpoint (req/s)':46} {r['peer_ok']:8.0f} {r['app_ok']:9.0f} {r['floor_ok']:8.0f}")
    print(f"{'API create, new patient (tickets/s)':46} {r['peer_api']:8.0f} {r['app_api']:9.0f} {r['floor_api']:8.0f}")
    print(f"{'API create p50 (ms)':46} {results['peer_api']['p50']:8.1f} {results['app_api']['p50']:9.1f} "
          f"{results['floor_api']['p50']:8.1f}")
    print(f"{'API create / peer API create':46} {1:8.2f} {r['app_api'] / r['peer_api']:9.2f} "
          f"{r['floor_api'] / r['peer_api']:8.2f}   target >= 3")
    print(f"{'API create / this app trivial endpoint':46} {r['peer_api'] / r['peer_ok']:8.3f} "
          f"{r['app_api'] / r['app_ok']:9.3f} {r['floor_api'] / r['app_ok']:8.3f}   target >= 0.25")
    return 0


if __name__ == "__main__":
    sys.exit(main())
