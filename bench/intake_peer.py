"""Intake side by side with the peer (django-helpdesk 2.6.1), in one run, on the same
PostgreSQL and the same load generator (the peer harness's ``load.py``), then the
background side: worker throughput, a 5,000-ticket burst and a fault run.

    PEER_DIR=/tmp/peer .venv/bin/python bench/intake_peer.py [--duration 10] [--burst 5000]

The peer must be set up first (``bash $PEER_DIR/setup_djhelpdesk.sh``, see
../shared/peer/README.md); it is started here with its own gunicorn (2 sync workers),
and this app with the same (2 sync workers), one after the other on the same 2 cores.
This app uses its own database (``BENCH_DATABASE_URL``, default ``helpdesk_bench``;
emptied) and a Redis server of its own (started here on a free port, so the fault run
can stop it). Durability is not traded: ``synchronous_commit`` stays on, and every
ticket writes its audit row, its SLA targets and its job in the transaction.

Figures (each printed with the peer's, or the app's own ceiling, and the ratio):

* trivial endpoint (peer ``/bench/ok``, app ``/livez``), c=4;
* API create, c=4 (one RQ worker and the scheduler running, as in production);
* web form submission (GET the form + POST it), c=4: the peer's public form, the app's
  signed-in patient form ``/help``;
* one worker's drain rate of follow-up work (tickets/s), measured on a backlog;
* a burst of ``--burst`` tickets with two workers: seconds from the last response until
  the backlog is empty;
* fault run: during a burst, one worker is killed (SIGKILL) and Redis stopped for a few
  seconds, then both come back: tickets accepted vs stored (lost), 5xx, and the backlog
  drained (the outbox sweep re-pushes what Redis lost).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

print = partial(print, flush=True)  # noqa: A001 - progress as it happens

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/helpdesk_bench"
APP_PORT, PEER_PORT = 5117, 8117

PREPARE = r"""
import json, sys
import sqlalchemy as sa
from flask_migrate import upgrade
from helpdesk import create_app
from helpdesk.config import Settings
from helpdesk.extensions import db
app = create_app(Settings.from_env(json.loads(sys.argv[1])))
with app.app_context():
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    upgrade(directory="migrations")
    from helpdesk.auth import services as accounts
    from helpdesk.auth.mfa import signed_in_key
    from helpdesk.auth.models import Role
    from helpdesk.demo import QUEUES
    from helpdesk.routing.training import retrain
    from helpdesk.timeutil import utcnow
    for slug, name, desc in QUEUES:
        accounts.create_queue(actor=None, slug=slug, name=name, description=desc)
    retrain()
    _token, secret = accounts.create_api_token(actor=None, name="bench-portal")
    patient = accounts.create_user(actor=None, email="bench.patient@example.net", name="Bench Patient",
                                   role=Role.PATIENT, password="correct horse staple 4812")
    patient.email_verified_at = utcnow()
    db.session.commit()
    key = signed_in_key(patient)
    db.session.commit()  # the session row
    cookie = app.session_interface.get_signing_serializer(app).dumps({"_user_id": key, "_fresh": True})
    sync = db.session.execute(sa.text("SHOW synchronous_commit")).scalar()
print(json.dumps({"token": secret, "cookie": cookie, "synchronous_commit": sync}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answers on port {port}")


class Redis:
    """A redis-server of the bench's own (no persistence, like a cache host that dies)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class App:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.python = str(root / ".venv" / "bin" / "python")
        self.procs: dict[str, subprocess.Popen] = {}
        self.conn = None

    def run(self, script: str, *args: str) -> str:
        out = subprocess.run([self.python, "-c", script, json.dumps(self.env), *args], cwd=self.root,
                             env={**os.environ, **self.env}, capture_output=True, text=True, check=False)
        if out.returncode:
            sys.stderr.write(out.stderr)
            raise RuntimeError("app script failed")
        return out.stdout.strip().splitlines()[-1]

    def sql(self, query: str) -> int:
        """One count, over a connection the bench keeps (a process started per count, as
        before 7 December, took a core's worth of CPU from the workers being measured)."""
        import psycopg

        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.env["DATABASE_URL"].replace("postgresql+psycopg", "postgresql"),
                                        autocommit=True)
        return int(self.conn.execute(query).fetchone()[0])

    def start(self, name: str, argv: list[str]) -> None:
        logs = os.environ.get("BENCH_LOG_DIR")  # each process's log kept there (to find a failed request)
        out = open(Path(logs) / f"{name}.log", "ab") if logs else subprocess.DEVNULL  # noqa: SIM115
        self.procs[name] = subprocess.Popen(argv, cwd=self.root, env={**os.environ, **self.env, "FLASK_APP": "wsgi"},
                                            stdout=out, stderr=out)

    def start_web(self) -> None:
        self.start("web", [str(self.root / ".venv" / "bin" / "gunicorn"), "-w", "2", "--worker-class", "sync",
                           "-b", f"127.0.0.1:{APP_PORT}", "--log-level", "warning", "--no-control-socket", "wsgi:app"])
        wait_http(APP_PORT, "/livez", timeout=240)

    def start_worker(self, name: str) -> None:
        self.start(name, [str(self.root / ".venv" / "bin" / "flask"), "worker"])

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.send_signal(sig)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def backlog(self) -> int:
        return self.sql("SELECT count(*) FROM job_outbox WHERE NOT failed")


def load_module(peer_dir: Path):
    spec = importlib.util.spec_from_file_location("peer_load", peer_dir / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(load, scenario_cls, base: str, args: list[str], duration: float, clients: int,
            cookie: str | None = None, stored=None) -> dict:
    """One load.py phase (warm-up 2 s, then ``duration`` s at ``clients``). ``stored``
    (prefix -> rows in the database) checks what landed: the rate counts those rows."""
    parser_args = load_args(load, args + ["-c", str(clients), "-d", str(duration)])
    if cookie is not None:
        base_cls = scenario_cls

        class WithSession(base_cls):  # a signed-in patient's browser
            def setup_worker(self, client, worker):
                client.cookies["session"] = cookie
                return None

        scenario_cls = WithSession
    load.run_phase(scenario_cls(parser_args, "wu" + str(time.time_ns())), base, clients, 2.0, 60)
    prefix = "b" + str(time.time_ns())
    rec, elapsed, errors, _cpu = load.run_phase(scenario_cls(parser_args, prefix), base, clients, duration, 60)
    lat = sorted(rec.iter_lat)
    landed = stored(prefix) if stored is not None else rec.ok
    return {"rate": min(rec.ok, landed) / elapsed, "ok": rec.ok, "landed": landed, "fail": rec.fail, "errors": dict(rec.errors) | (
        {"setup": errors} if errors else {}), "p50": 1000 * load.pct(lat, 50) if lat else 0.0,
            "p95": 1000 * load.pct(lat, 95) if lat else 0.0}


def load_args(load, argv: list[str]):
    """load.py's own argument parser (so defaults match the harness)."""
    captured = {}
    real = load.argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):
        ns = real(self, args, namespace)
        captured["ns"] = ns
        raise SystemExit(0)

    load.argparse.ArgumentParser.parse_args = capture
    try:
        load.main(argv)
    except SystemExit:
        pass
    finally:
        load.argparse.ArgumentParser.parse_args = real
    return captured["ns"]


def app_body() -> str:
    return json.dumps({"subject": "{uniq} Can't sign in",
                       "body": "I forgot my password and the reset e-mail never arrives. Request {n}.",
                       "requester": {"email": "patient{n}@example.net", "name": "Bench Patient {n}"}})


def post_burst(port: int, secret: str, n: int, clients: int, tag: str) -> dict:
    """``n`` API creates from ``clients`` threads; counts 201, 5xx and connection errors."""
    counts = {"created": 0, "5xx": 0, "other": 0, "conn": 0}
    lock = threading.Lock()
    per = n // clients
    last = [0.0]

    def run(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local = {"created": 0, "5xx": 0, "other": 0, "conn": 0}
        for i in range(per):
            body = json.dumps({"subject": f"{tag}-{k}-{i} Question about my bill",
                               "body": "I was charged twice for my visit, please check.",
                               "requester": {"email": f"burst{k}-{i % 20}@example.net", "name": "Burst Patient"}})
            try:
                conn.request("POST", "/api/v1/tickets", body=body,
                             headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
            except OSError:
                local["conn"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            key = "created" if resp.status == 201 else "5xx" if resp.status >= 500 else "other"
            local[key] += 1
        with lock:
            for key, v in local.items():
                counts[key] += v
            last[0] = max(last[0], time.perf_counter())

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts["seconds"] = time.perf_counter() - start
    counts["last_response"] = last[0]
    return counts


def wait_drained(app: App, timeout: float) -> float | None:
    """Seconds until the outbox is empty (None: not within ``timeout``)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if app.backlog() == 0:
            return time.perf_counter() - start
        time.sleep(0.25)
    return None


def drain_rate(app: App, timeout: float = 300) -> tuple[float, int]:
    """Tickets/s of one worker on a backlog: from its first finished job to an empty outbox."""
    tickets = app.sql("SELECT count(DISTINCT (args->>0)) FROM job_outbox WHERE NOT failed")
    jobs_before = app.backlog()
    app.start_worker("drain")
    start = time.perf_counter()
    first = None
    while time.perf_counter() - start < timeout:
        left = app.backlog()
        if first is None and left < jobs_before:
            first, first_left = time.perf_counter(), left
        if left == 0:
            break
        time.sleep(0.1)
    end = time.perf_counter()
    app.stop("drain")
    if first is None or end - first <= 0:
        return 0.0, tickets
    done_jobs = first_left
    return tickets * (done_jobs / jobs_before) / (end - first), tickets


def app_env(root: Path, db_url: str, redis_url: str) -> dict[str, str]:
    """This app's production settings for a bench run."""
    return {"HELPDESK_ENV": "production", "SECRET_KEY": "bench-" + "x" * 32, "DATABASE_URL": db_url,
            "EXTERNAL_URL": "https://helpdesk.bench.invalid", "REDIS_URL": redis_url, "HELPDESK_PHONE": "+1 555 0100",
            "HELPDESK_INSTANCE_PATH": str(root / "instance" / "bench"),
            # the portal's token may make this many calls (the default, 600 a minute, is a
            # per-token guard; the peer has none): the bench measures the write path, not 429s
            "API_RATE_LIMIT": os.environ.get("BENCH_API_RATE_LIMIT", "1000000 per minute")}


class Peer:
    """django-helpdesk, set up by ../shared/peer, under its own gunicorn (2 sync workers)."""

    def __init__(self, peer_dir: Path) -> None:
        self.dir = peer_dir
        self.env = {**os.environ, "PEER_DH_DB": os.environ.get("PEER_DH_DB", "peer_dh"), "PEER_PG_HOST": "127.0.0.1",
                    "PEER_PG_PORT": "5432", "PEER_PG_USER": "peer", "PEER_PG_PASSWORD": "peer"}
        self.token = os.environ.get("PEER_API_TOKEN", "peerbenchtoken0000000000000000000000000a")
        self.queue_id = self.sql("select id from helpdesk_queue where slug='support'")
        self.proc: subprocess.Popen | None = None

    def sql(self, query: str) -> str:
        return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "peer", "-d", self.env["PEER_DH_DB"], "-Atqc", query],
                              env={**self.env, "PGPASSWORD": "peer"}, capture_output=True, text=True,
                              check=True).stdout.strip()

    def count(self, prefix: str) -> int:
        return int(self.sql(f"select count(*) from helpdesk_ticket where title like '{prefix}-%'"))

    def start(self) -> None:
        self.proc = subprocess.Popen([str(self.dir / "venv-dh" / "bin" / "gunicorn"), "peerdh.wsgi:application",
                                      "--workers", "2", "--worker-class", "sync", "--bind", f"127.0.0.1:{PEER_PORT}",
                                      "--timeout", "120", "--log-level", "warning", "--no-control-socket"],
                                     cwd=self.dir / "djhd_project", env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(PEER_PORT, "/bench/ok", timeout=240)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()

    def api_args(self, base: str) -> list[str]:
        """load.py's arguments for the peer's REST create."""
        return ["json-post", "--url", f"{base}/api/tickets/", "--token", self.token, "--expect-status", "201",
                "--body", json.dumps({"queue": int(self.queue_id), "title": "{uniq} api ticket",
                                      "description": "Created through the REST API, request {n}.",
                                      "submitter_email": "api{n}@example.org", "priority": 3, "status": 1})]


def ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}" if b else "  n/a"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument("--backlog", type=int, default=2000, help="tickets queued for the one-worker drain rate")
    parser.add_argument("--fault-tickets", type=int, default=1500)
    parser.add_argument("--app-root", default=str(ROOT), help="a checkout of this app (with .venv) to measure")
    args = parser.parse_args()

    peer_dir = Path(os.environ.get("PEER_DIR", ROOT.parent / "shared" / "peer"))
    if not (peer_dir / "venv-dh").exists():
        sys.exit(f"the peer is not set up in {peer_dir}: run setup_djhelpdesk.sh there first (PEER_DIR)")
    load = load_module(peer_dir)
    load_before = os.getloadavg()[0]
    redis = Redis()
    redis.start()
    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    root = Path(args.app_root).resolve()
    env = app_env(root, db_url, redis.url)
    app = App(root, env)
    subprocess.run([app.python, "-c", "import sys; sys.path.insert(0, 'bench'); from intake import ensure_database;"
                    f"ensure_database({db_url!r})"], cwd=ROOT, check=True)
    prepared = json.loads(app.run(PREPARE))
    print(f"app: {root} (git {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root, capture_output=True, text=True).stdout.strip()}), "
          f"database ready (synchronous_commit={prepared['synchronous_commit']}), Redis of its own on :{redis.port}, "
          f"API_RATE_LIMIT={env['API_RATE_LIMIT']!r}, LOOKUP_CACHE_SECONDS and SLA_POLICY_CACHE_SECONDS at their "
          "defaults (5)")

    peer = Peer(peer_dir)
    results: dict[str, dict] = {}
    try:
        peer.start()
        app.start_web()
        app.start_worker("worker")
        app.start("scheduler", [str(root / ".venv" / "bin" / "flask"), "scheduler"])
        pbase, abase = f"http://127.0.0.1:{PEER_PORT}", f"http://127.0.0.1:{APP_PORT}"
        c, d = args.clients, args.duration
        token = prepared["token"]
        def app_count(prefix: str) -> int:
            return app.sql(f"SELECT count(*) FROM tickets WHERE subject LIKE '{prefix}-%'")

        results["peer_ok"] = measure(load, load.Get, pbase, ["get", "--url", f"{pbase}/bench/ok"], d, c)
        results["app_ok"] = measure(load, load.Get, abase, ["get", "--url", f"{abase}/livez"], d, c)
        results["peer_api"] = measure(load, load.JsonPost, pbase, peer.api_args(pbase), d, c, stored=peer.count)
        results["app_api"] = measure(load, load.JsonPost, abase, [
            "json-post", "--url", f"{abase}/api/v1/tickets", "--token", token, "--expect-status", "201",
            "--body", app_body()], d, c, stored=app_count)
        results["peer_form"] = measure(load, load.FormPost, pbase, [
            "form-post", "--get-url", f"{pbase}/tickets/submit/", "--post-url", f"{pbase}/tickets/submit/",
            "--multipart", "--csrf-field", "csrfmiddlewaretoken", "--fields",
            json.dumps({"queue": peer.queue_id, "title": "{uniq} printer on fire",
                        "body": "Hello, my printer is on fire since this morning. Please help. Request {n}.",
                        "priority": "3", "due_date": "", "submitter_email": "customer{n}@example.org"})], d, c,
            stored=peer.count)
        results["app_form"] = measure(load, load.FormPost, abase, [
            "form-post", "--get-url", f"{abase}/help", "--post-url", f"{abase}/help", "--csrf-field", "csrf_token",
            "--expect-status", "302", "--fields",
            json.dumps({"subject": "{uniq} Question about my bill",
                        "body": "I was charged twice for my visit, please check. Request {n}.", "confirm": "1"})],
            d, c, cookie=prepared["cookie"], stored=app_count)
        backlog_after_load = app.backlog()
        print(f"load phases done: {results}")
        drained_after_load = wait_drained(app, 120)

        # one worker's drain rate, on a backlog made with no worker running
        app.stop("worker")
        app.stop("scheduler")
        post_burst(APP_PORT, token, args.backlog, c, "backlog")
        rate, queued = drain_rate(app)
        results["drain"] = {"rate": rate, "tickets": queued}
        print(f"drain: {results['drain']}")

        # a burst with two workers
        app.start_worker("w1")
        app.start_worker("w2")
        app.start("scheduler", [str(root / ".venv" / "bin" / "flask"), "scheduler"])
        time.sleep(3)
        burst = post_burst(APP_PORT, token, args.burst, c, "burst")
        after_last = time.perf_counter() - burst["last_response"]
        left = wait_drained(app, 180)
        results["burst"] = {**burst, "rate": burst["created"] / burst["seconds"],
                            "drained_after_last": None if left is None else left + after_last}
        print(f"burst: {results['burst']}")

        # fault run: a worker killed and Redis stopped mid-burst, both back after a few seconds
        tickets_before = app.sql("SELECT count(*) FROM tickets")

        def faults() -> None:
            time.sleep(2)
            app.stop("w1", signal.SIGKILL)
            redis.stop()
            time.sleep(3)
            redis.start()
            app.start_worker("w1")

        chaos = threading.Thread(target=faults)
        chaos.start()
        fault = post_burst(APP_PORT, token, args.fault_tickets, c, "fault")
        chaos.join()
        stored = app.sql("SELECT count(*) FROM tickets") - tickets_before
        # what Redis lost is re-pushed by the outbox sweep (rows older than its grace period)
        subprocess.run([str(root / ".venv" / "bin" / "flask"), "jobs", "sweep"], cwd=root,
                       env={**os.environ, **env, "FLASK_APP": "wsgi"}, capture_output=True, check=False)
        fault_left = wait_drained(app, 120)
        if fault_left is None:
            time.sleep(31)  # past the sweep's grace period
            subprocess.run([str(root / ".venv" / "bin" / "flask"), "jobs", "sweep"], cwd=root,
                           env={**os.environ, **env, "FLASK_APP": "wsgi"}, capture_output=True, check=False)
            fault_left = wait_drained(app, 120)
        no_routing = app.sql("SELECT count(*) FROM tickets t LEFT JOIN routing_decisions r ON r.ticket_id = t.id "
                             "WHERE r.id IS NULL")
        results["fault"] = {**fault, "stored": stored, "lost": fault["created"] - stored, "drained": fault_left,
                            "unrouted_after_drain": no_routing}
        results["backlog_after_load"] = {"jobs": backlog_after_load, "drained": drained_after_load}
    finally:
        app.stop_all()
        peer.stop()
        redis.stop()

    r = results
    print(f"\nload average (1 min) before the run {load_before:.1f}, after {os.getloadavg()[0]:.1f} "
          "(other processes share the 2 cores: figures move with it)")
    print(f"\nside by side, c={args.clients}, {args.duration:.0f} s each (2 s warm-up), gunicorn 2 sync workers each, "
          "same PostgreSQL, load generator on the same 2 cores")
    print(f"{'figure':38} {'peer':>12} {'this app':>12} {'app/peer':>9}")
    print(f"{'trivial endpoint (req/s)':38} {r['peer_ok']['rate']:12.0f} {r['app_ok']['rate']:12.0f} "
          f"{ratio(r['app_ok']['rate'], r['peer_ok']['rate']):>9}")
    print("(each API create names a new patient, by e-mail and name: the account is made in the same transaction)")
    print(f"{'API create (tickets/s)':38} {r['peer_api']['rate']:12.0f} {r['app_api']['rate']:12.0f} "
          f"{ratio(r['app_api']['rate'], r['peer_api']['rate']):>9}   target >= 3")
    print(f"{'API create p50 (ms)':38} {r['peer_api']['p50']:12.1f} {r['app_api']['p50']:12.1f} "
          f"{'':>9}   target app <= 10 ms")
    print(f"{'web form GET+POST (tickets/s)':38} {r['peer_form']['rate']:12.0f} {r['app_form']['rate']:12.0f} "
          f"{ratio(r['app_form']['rate'], r['peer_form']['rate']):>9}   target >= 3")
    print(f"{'API create / own trivial endpoint':38} {r['peer_api']['rate'] / r['peer_ok']['rate']:12.3f} "
          f"{r['app_api']['rate'] / r['app_ok']['rate']:12.3f} {'':>9}   target app >= 0.25")
    for k in ("peer_ok", "app_ok", "peer_api", "app_api", "peer_form", "app_form"):
        if r[k]["fail"]:
            print(f"  {k}: {r[k]['fail']} failed iterations {r[k]['errors']}")
        if r[k].get("landed", r[k]["ok"]) < r[k]["ok"]:
            print(f"  {k}: {r[k]['ok']} answered as created but only {r[k]['landed']} in the database")
    bl = r["backlog_after_load"]
    print(f"backlog after the load phases (1 worker running): {bl['jobs']} job(s), empty after "
          f"{bl['drained'] if bl['drained'] is None else round(bl['drained'], 1)} s")
    print(f"one worker drains {r['drain']['rate']:.0f} tickets/s of follow-up work "
          f"({r['drain']['tickets']} tickets queued with no worker)   target >= 300")
    b = r["burst"]
    drained = "NOT within 180 s" if b["drained_after_last"] is None else f"{b['drained_after_last']:.1f} s"
    print(f"burst of {args.burst} tickets, 2 workers: {b['rate']:.0f} tickets/s accepted, {b['5xx']} 5xx; "
          f"backlog empty {drained} after the last response   target <= 30 s")
    f = r["fault"]
    print(f"fault run ({args.fault_tickets} tickets; a worker SIGKILLed and Redis stopped 3 s mid-burst): "
          f"accepted {f['created']}, stored {f['stored']}, lost = {f['lost']}, 5xx = {f['5xx']}, "
          f"connection errors {f['conn']}, backlog "
          f"{'NOT drained' if f['drained'] is None else 'drained'}; tickets never routed: {f['unrouted_after_drain']}")


if __name__ == "__main__":
    main()
