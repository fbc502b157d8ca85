"""Structured logs: every request has an id, answered in X-Request-ID, carried by every
log line of the request and of the jobs it enqueued (inline, or in a real RQ worker);
JSON lines parse and carry no patient text."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpdesk import jobs
from helpdesk.extensions import db
from helpdesk.logging_setup import JsonFormatter, RedactingFilter, bound
from tests.factories import login, run_jobs

ROOT = Path(__file__).resolve().parents[2]
SUBJECT = "Zyxwv my bill is wrong"
BODY = "I was charged twice. MRN 55501234, maria.secret@example.net, 617-555-0199"
PHI_FRAGMENTS = ("Zyxwv", "55501234", "maria.secret", "617-555-0199")


@contextmanager
def json_lines(level: int = logging.INFO) -> Iterator[io.StringIO]:
    """The root logger also writes to a JSON handler set up as configure_logging does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _parse(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is one JSON object


def test_every_response_names_its_request_id(client):
    first, second = client.get("/login"), client.get("/login")
    for resp in (first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("hops", "given", "kept"),
    [
        (1, "7f3c2a9e-41d2-4b7a-9c55-0e2b1d4f8a61", True),   # the proxy's id (a UUID)
        (1, "a1b2c3d4e5f60718293a4b5c6d7e8f90", True),       # nginx's $request_id
        (1, "maria.secret@example.net", False),              # looks like personal data
        (1, "short", False),
        (1, "x" * 65, False),
        (1, "two words here", False),
        (0, "7f3c2a9e-41d2-4b7a-9c55-0e2b1d4f8a61", False),  # no trusted proxy: a client's id is not taken
    ],
)
def test_a_trusted_proxys_sane_request_id_is_kept(client, configure, hops, given, kept):
    configure(trusted_proxies=hops)
    answered = client.get("/login", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert (answered == given) is kept
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{32}", answered)


def test_the_request_id_is_in_the_requests_log_lines_and_its_jobs(app, client, ctx, patient):
    """Inline mode runs the jobs right after the commit; with Redis a real RQ worker
    (a burst of SimpleWorker, as in production) runs them: the lines carry the same id."""
    login(client, patient)
    with json_lines() as stream:
        resp = client.post("/help", data={"subject": SUBJECT, "body": BODY})
        assert resp.status_code == 302
        request_id = resp.headers["X-Request-ID"]
        if not jobs.inline_mode():
            pending = db.session.scalars(sa.select(jobs.OutboxJob.request_id)).all()
            assert pending and set(pending) == {request_id}  # the outbox rows remember it
        run_jobs()
    lines = _parse(stream)
    ours = [line for line in lines if line.get("request_id") == request_id]
    request_line = [line for line in ours if line["logger"] == "helpdesk.request"]
    assert request_line and request_line[0]["endpoint"] == "patient.get_help" and request_line[0]["status"] == 302
    done = [line for line in ours if line["logger"] == "helpdesk.jobs" and " done in " in line["message"]]
    assert any("helpdesk.tickets.tasks.after_create" in line["message"] for line in done)
    assert all(line["job"].startswith("outbox-") for line in done)
    text = stream.getvalue()
    for fragment in PHI_FRAGMENTS:
        assert fragment not in text


def test_a_job_enqueued_by_a_job_keeps_the_id(app, ctx):
    with bound(request_id="feedfacecafebeef0123"):
        row = jobs.enqueue("helpdesk.routing.tasks.route_ticket", 1)
    db.session.commit()
    jobs.discard_pending()
    assert row.request_id == "feedfacecafebeef0123"
    db.session.delete(row)
    db.session.commit()


def test_json_lines_have_fixed_fields_and_no_extras_or_exception_text():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("helpdesk.test_json")
    log.addHandler(handler)
    log.propagate = False
    try:
        with bound(request_id="0123456789abcdef", job="outbox-7"):
            log.warning("mail to %s failed", "rosa.private@example.net", extra={"body": BODY, "status": 502})
            try:
                raise ValueError(f"bad value {BODY}")
            except ValueError:
                log.exception("job failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    first, second = _parse(stream)
    assert first["message"] == "mail to [email] failed" and first["level"] == "WARNING"
    assert first["request_id"] == "0123456789abcdef" and first["job"] == "outbox-7" and first["status"] == 502
    assert "body" not in first  # an arbitrary extra= is never written
    assert set(first) == {"time", "level", "logger", "message", "request_id", "job", "status"}
    assert "ValueError: [message withheld]" in second["exc"]
    for fragment in PHI_FRAGMENTS:
        assert fragment not in stream.getvalue()


@pytest.mark.redis
def test_a_real_worker_process_logs_json_lines_with_the_requests_id(app, client, ctx, patient, settings):
    """`flask worker --burst` in its own process, LOG_FORMAT=json: the lines about the
    request's jobs carry its id, and every line parses."""
    if jobs.inline_mode():
        pytest.skip("needs REDIS_URL (and DATABASE_URL): jobs run inline otherwise")
    login(client, patient)
    resp = client.post("/help", data={"subject": SUBJECT, "body": BODY})
    request_id = resp.headers["X-Request-ID"]
    env = {**{k: v for k, v in os.environ.items() if k not in ("HELPDESK_ENV", "LOG_FORMAT", "LOG_LEVEL")},
           "HELPDESK_ENV": "testing", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "FLASK_APP": "wsgi",
           "DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
           "HELPDESK_INSTANCE_PATH": str(settings.instance_path)}
    done = subprocess.run([sys.executable, "-m", "flask", "worker", "--burst"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]  # all JSON
    ours = [line for line in lines if line.get("request_id") == request_id]
    assert any(line["logger"] == "helpdesk.jobs" and "after_create" in line["message"] for line in ours)
    # RQ's own line about the job that ran it: a drain, which serves many requests, so it
    # carries none of their ids (each row's own line above carries its request's)
    assert any(line["logger"] == "rq.worker" and "Job OK" in line["message"] and line.get("job", "").startswith("drain-")
               and "request_id" not in line for line in lines)
    for fragment in PHI_FRAGMENTS:
        assert fragment not in done.stderr
