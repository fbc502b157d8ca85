"""The production shape, for real: two web hosts and two workers with their own working
directories and instance folders (no shared disk), an active scheduler and a standby, on
the real PostgreSQL and a Redis this test starts itself, each web host behind a small
proxy that appends the client's address to ``X-Forwarded-For``.

One scenario, in order: a ticket with an attachment goes in through host A and is read
and downloaded through host B; a retrain runs on a worker and both hosts route with the
new version; the active scheduler is killed and the standby takes over; Redis is stopped
and ``/readyz`` says so (503), then recovers (200)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLIENT_ADDRESS = "127.0.0.3"  # the "patient's" address; the proxies connect from 127.0.0.1
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="several hosts share PostgreSQL (SQLite is one host's file): .ci/run runs this"),
]


# ------------------------------------------------------------------ processes and ports


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, http.client.HTTPException):
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Processes:
    """Child processes of this test, each with its own working directory and log file;
    every one is stopped (its whole process group) when the test ends."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base, self.env = base, env
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], **extra_env: str) -> subprocess.Popen:
        home = self.base / name
        (home / "instance").mkdir(parents=True, exist_ok=True)
        env = {**self.env, "HELPDESK_INSTANCE_PATH": str(home / "instance"), **extra_env}
        with open(home / "log.txt", "ab") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(argv, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def run(self, name: str, argv: list[str]) -> str:
        home = self.base / name
        (home / "instance").mkdir(parents=True, exist_ok=True)
        env = {**self.env, "HELPDESK_INSTANCE_PATH": str(home / "instance")}
        done = subprocess.run(argv, cwd=home, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def log(self, name: str) -> str:
        return (self.base / name / "log.txt").read_text(errors="replace")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.procs):
            try:
                os.killpg(self.procs[name].pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for name, proc in list(self.procs.items()):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
            self.procs.pop(name)


def _start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: socket.create_connection(("127.0.0.1", port), timeout=0.5).close() or True, 20, "redis-server")
    return proc


# ------------------------------------------------------------------ the proxy


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int]

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"connection", "keep-alive"}}
        forwarded = self.headers.get("X-Forwarded-For")  # a client may send one: it is appended to
        headers["X-Forwarded-For"] = f"{forwarded}, {self.client_address[0]}" if forwarded else self.client_address[0]
        headers["X-Forwarded-Proto"] = "https"
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError:
            self.send_error(502)
            return
        finally:
            conn.close()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


def _start_proxy(upstream_port: int) -> tuple[ThreadingHTTPServer, int]:
    handler = type("Proxy", (_ProxyHandler,), {"upstream": ("127.0.0.1", upstream_port)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class Client:
    """Requests to one proxy, from CLIENT_ADDRESS (a loopback address of its own)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port, self.token = port, token

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=(CLIENT_ADDRESS, 0))
        all_headers = dict(headers or {})
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, body=body, headers=all_headers)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        body = json.dumps(payload).encode() if payload is not None else None
        status, _, data = self.request(method, path, body, {"Content-Type": "application/json"} if body else None)
        return status, json.loads(data) if data else None

    def multipart(self, path: str, fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[int, Any]:
        boundary = uuid.uuid4().hex
        parts = []
        for key, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        for key, filename, data in files:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
                         f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        status, _, data = self.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return status, json.loads(data) if data else None


# ------------------------------------------------------------------ the deployment


@pytest.fixture
def deployment(tmp_path) -> Iterator[dict[str, Any]]:
    server = make_url(os.environ["DATABASE_URL"])
    name = f"helpdesk_multihost_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    database_url = server.set(database=name).render_as_string(hide_password=False)
    redis_port = _free_port()
    redis_proc = _start_redis(redis_port)
    env = {
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),  # each process runs in its own directory, with the code installed
        "FLASK_APP": "wsgi",
        "HELPDESK_ENV": "production",
        "SECRET_KEY": "multi-host-test-secret-key-0123456789",
        "EXTERNAL_URL": "https://help.multihost.invalid",
        "HELPDESK_PHONE": "(555) 010-0199",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "TRUSTED_PROXIES": "1",
        # the production defaults, shortened so the test does not wait minutes
        "ROUTING_MODEL_RECHECK_SECONDS": "2",
        "SCHEDULER_LEASE_SECONDS": "6",
        "SCHEDULER_RETRY_SECONDS": "1",
    }
    procs = Processes(tmp_path, env)
    engine = sa.create_engine(database_url)
    state: dict[str, Any] = {}
    try:
        procs.run("migrate", [str(BIN / "flask"), "db", "upgrade"])
        procs.run("migrate", [str(BIN / "flask"), "seed-demo", "--tickets", "0"])
        out = procs.run("migrate", [str(BIN / "flask"), "api-token", "create", "--name", "patient-portal"])
        token = out.strip().splitlines()[-1]
        hosts = {}
        for host in ("web-a", "web-b"):
            port = _free_port()
            procs.start(host, [str(BIN / "gunicorn"), "-c", "python:helpdesk.gunicorn_conf", "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"])
            proxy, proxy_port = _start_proxy(port)
            hosts[host] = {"port": port, "proxy": proxy, "client": Client(proxy_port, token)}
        for worker in ("worker-1", "worker-2"):
            procs.start(worker, [str(BIN / "flask"), "worker"])
        for host in hosts.values():
            _wait(lambda h=host: h["client"].request("GET", "/healthz")[0] == 200, 60, "a web host to answer")
        state.update({"procs": procs, "hosts": hosts, "engine": engine, "redis_port": redis_port,
                      "redis": redis_proc, "env": env})
        yield state
    finally:
        procs.stop_all()
        for host in locals().get("hosts", {}).values():
            host["proxy"].shutdown()
            host["proxy"].server_close()
        engine.dispose()
        # the Redis running now: the first one, or the one the test restarted
        redis_now = state.get("redis") or redis_proc
        if redis_now is not None and redis_now.poll() is None:
            redis_now.terminate()
            redis_now.wait(timeout=10)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_two_hosts_two_workers_and_a_standby_scheduler_share_nothing_but_the_database_and_redis(deployment):
    procs, hosts, engine = deployment["procs"], deployment["hosts"], deployment["engine"]
    a, b = hosts["web-a"]["client"], hosts["web-b"]["client"]
    for client in (a, b):
        status, ready = client.json("GET", "/readyz")
        assert status == 200, ready

    # 1. in through A (a client-sent X-Forwarded-For is not believed), with a photo
    status, created = a.json("POST", "/api/v1/tickets", {
        "subject": "Cannot sign in", "body": "The portal says my password is wrong after I reset it.",
        "requester": {"email": "rosa.multihost@example.net", "name": "Rosa Diaz"}})
    assert status == 201, created
    ref = created["reference"]
    status, posted = a.multipart(f"/api/v1/tickets/{ref}/messages/with-attachments",
                                 {"body": "A photo of the error screen."}, [("attachments", "screen.png", PNG)])
    assert status == 201, posted
    # the web requests' audit rows carry the patient's address (jobs' rows have none)
    ips = set(_all(engine, "SELECT DISTINCT ip FROM audit_events WHERE object_id = :ref AND ip IS NOT NULL", ref=ref))
    assert ips == {CLIENT_ADDRESS}, ips

    # 2. read and downloaded through B, which never saw the upload
    status, ticket = b.json("GET", f"/api/v1/tickets/{ref}")
    assert status == 200
    attachments = [att for message in ticket["messages"] for att in message.get("attachments", [])]
    assert len(attachments) == 1
    status, headers, data = b.request("GET", f"/api/v1/attachments/{attachments[0]['id']}")
    assert status == 200 and data == PNG
    assert not list((procs.base / "web-b").rglob("*.png")) and not list((procs.base / "web-a").rglob("*.png"))

    # 3. a retrain runs on a worker; both web hosts route with the new version
    before = _scalar(engine, "SELECT id FROM routing_models WHERE active")
    # (forced: on the same examples a fresh model need not beat the active one, and is kept inactive)
    _enqueue(deployment, "helpdesk.routing.training.retrain", force=True)
    new = _wait(lambda: _scalar(engine, "SELECT id FROM routing_models WHERE active AND id <> :b", b=before or 0),
                180, "the retrain on a worker to activate a new version", every=1)
    version = _scalar(engine, "SELECT version FROM routing_models WHERE id = :i", i=new)
    # routing runs in the jobs a ticket enqueues: a ticket through either host is routed with
    # the new version once the workers have noticed it (ROUTING_MODEL_RECHECK_SECONDS)
    for client in (a, b):
        def routed_with_new_version(client=client) -> bool:
            status, body = client.json("POST", "/api/v1/tickets", {
                "subject": "Question about my bill", "body": "I was charged twice for one visit.",
                "requester": {"email": "rosa.multihost@example.net", "name": "Rosa Diaz"}})
            assert status == 201, body
            used = _wait(lambda: _scalar(engine, "SELECT d.model_version FROM routing_decisions d JOIN tickets t "
                                                 "ON t.id = d.ticket_id WHERE t.reference = :r", r=body["reference"]),
                         30, "a worker to route the ticket")
            return used == version
        _wait(routed_with_new_version, 60, "tickets through each host to be routed with the new version", every=1)
    # and each web host has loaded it too (its readiness names the version it serves)
    for client in (a, b):
        _wait(lambda client=client: client.json("GET", "/readyz")[1]["checks"]["model"] == f"ok ({version})",
              10, "each web host to load the new version")

    # 4. two schedulers: one leads; killed, the standby takes over within the lease
    procs.start("scheduler-1", [str(BIN / "flask"), "scheduler"])
    procs.start("scheduler-2", [str(BIN / "flask"), "scheduler"])
    leader = _wait(lambda: _leader(procs), 30, "one scheduler to take the lease")
    time.sleep(2)
    assert sum("lease acquired" in procs.log(n) for n in ("scheduler-1", "scheduler-2")) == 1
    standby = "scheduler-2" if leader == "scheduler-1" else "scheduler-1"
    killed_at = time.monotonic()
    procs.kill(leader)
    _wait(lambda: "lease acquired" in procs.log(standby), 30, "the standby to take over")
    took = time.monotonic() - killed_at
    lease, retry = (float(deployment["env"][k]) for k in ("SCHEDULER_LEASE_SECONDS", "SCHEDULER_RETRY_SECONDS"))
    assert took <= lease + retry + 2, f"the standby took {took:.1f} s"  # the documented bound, plus start-up
    print(f"standby took over {took:.1f} s after the leader was killed (lease {lease:g} s, retry {retry:g} s)")

    # 5. Redis stops: not ready (503, saying why); Redis back: ready again
    deployment["redis"].terminate()
    deployment["redis"].wait(timeout=10)
    status, body = a.json("GET", "/readyz")
    assert status == 503 and "redis" in json.dumps(body).lower(), body
    assert a.request("GET", "/healthz")[0] == 200  # the process itself is alive
    deployment["redis"] = _start_redis(deployment["redis_port"])
    _wait(lambda: a.json("GET", "/readyz")[0] == 200 and b.json("GET", "/readyz")[0] == 200, 30, "ready again")


def _all(engine: sa.Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params).scalars())


def _enqueue(deployment: dict[str, Any], func: str, **kwargs: Any) -> None:
    from redis import Redis
    from rq import Queue

    from helpdesk.jobs import QUEUE_NAME

    Queue(QUEUE_NAME, connection=Redis(port=deployment["redis_port"])).enqueue(func, job_timeout=600, **kwargs)


def _leader(procs: Processes) -> str | None:
    leaders = [n for n in ("scheduler-1", "scheduler-2") if "lease acquired" in procs.log(n)]
    return leaders[0] if len(leaders) == 1 else None
