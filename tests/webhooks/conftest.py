"""Webhook fixtures: a real HTTP receiver (Werkzeug's server on a free port, in a thread)
that checks each delivery's signature itself, and a way to let retries come due."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from helpdesk import jobs
from helpdesk.webhooks import services


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    answered: int


@dataclass
class Receiver:
    base: str = ""
    requests: list[Received] = field(default_factory=list)
    # per path: the statuses to answer, in order (then 200)
    plan: dict[str, list[int]] = field(default_factory=dict)
    # per path: the endpoint's secret, to check the signature with
    secrets: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def _signature_ok(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        """What a receiver does, written out here (not the app's own helper)."""
        secret = self.secrets.get(path)
        parts = dict(p.split("=", 1) for p in headers.get("X-Helpdesk-Signature", "").split(",") if "=" in p)
        if not secret or "t" not in parts or parts["t"] != headers.get("X-Helpdesk-Timestamp"):
            return False
        if abs(time.time() - int(parts["t"])) > 300:
            return False
        expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        headers = dict(request.headers)
        with self.lock:
            codes = self.plan.get(request.path) or []
            code = codes.pop(0) if codes else 200
            self.requests.append(Received(request.path, headers, body, self._signature_ok(request.path, headers, body),
                                          code))
        response = Response("receiver says: not this text in any log", status=code)
        if 300 <= code < 400:
            response.headers["Location"] = self.url("/elsewhere")
        return response(environ, start_response)


@pytest.fixture
def receiver():
    rec = Receiver()
    server = make_server("127.0.0.1", 0, rec, threaded=True)
    rec.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    thread.join(5)
    server.server_close()


@pytest.fixture
def fast_retries(configure):
    """Retries after 1 s (twice), then 1 s more: a test sees the whole series in seconds."""
    configure(webhook_retry_seconds=(1, 1, 1))


def retry_due(seconds: float = 1.0) -> None:
    """Let the retries that are due run: inline, the sweep (the scheduler's job) sends them;
    with Redis, a burst of a real RQ worker with its scheduler runs the scheduled jobs."""
    time.sleep(seconds + 0.3)
    if jobs.inline_mode():
        services.sweep()
    else:
        jobs.Worker([jobs.QUEUE_NAME], connection=jobs.redis_connection()).work(burst=True, with_scheduler=True)
