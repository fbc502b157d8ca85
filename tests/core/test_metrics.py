"""Prometheus /metrics: who may scrape it, the request latency histogram (by endpoint,
never by path), the gauges read from the database and Redis at scrape time, and
gunicorn's several worker processes adding up (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from helpdesk import create_app, jobs
from helpdesk.clinical.models import AlertLevel, ClinicalAlert
from helpdesk.config import Settings
from helpdesk.extensions import db
from helpdesk.routing.models import RoutingDecision
from helpdesk.sla.models import Metric, SlaMetric
from helpdesk.tickets.models import Channel
from helpdesk.timeutil import utcnow
from tests.factories import bearer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-scraper-secret-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, from the exposition text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def scrape(client, **headers) -> dict:
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.status_code
    assert resp.mimetype == "text/plain"
    return samples(resp.get_data(as_text=True))


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


# ---------------------------------------------------------------- access


def test_with_a_token_only_the_bearer_of_it_may_scrape(client, configure):
    configure(metrics_token=TOKEN)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer("wrong-" + TOKEN)).status_code == 401
    refused = client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 200


def test_without_a_token_it_is_open_outside_production(client):
    assert client.get("/metrics").status_code == 200


def production(tmp_path, **extra: str) -> Settings:
    return Settings.from_env({"HELPDESK_ENV": "production", "SECRET_KEY": "s" * 40,
                              "HELPDESK_INSTANCE_PATH": str(tmp_path), "EXTERNAL_URL": "https://help.example.org",
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}", "HELPDESK_PHONE": "+1 212 555 0199",
                              **extra})


@pytest.mark.pure
def test_in_production_without_a_token_metrics_do_not_exist(tmp_path):
    app = create_app(production(tmp_path))
    assert app.test_client().get("/metrics", base_url="https://help.example.org").status_code == 404


@pytest.mark.pure
def test_in_production_with_a_token_the_scraper_gets_them_even_when_the_database_is_down(tmp_path):
    """An empty SQLite file (no tables): the scrape says so instead of failing."""
    app = create_app(production(tmp_path, METRICS_TOKEN=TOKEN))
    client = app.test_client()
    assert client.get("/metrics", base_url="https://help.example.org").status_code == 401
    found = scrape(client, **bearer(TOKEN))
    assert value(found, "helpdesk_up", dependency="database") == 0


# ---------------------------------------------------------------- request latency


def test_latency_is_labelled_by_endpoint_method_and_status_class_never_the_path(client, ctx, make_ticket, agent):
    from tests.factories import login

    before = scrape(client)
    t = make_ticket()
    login(client, agent)
    client.get(f"/agent/tickets/{t.reference}")
    client.get("/agent/tickets/HD-NOPE0")  # a reference that does not exist
    client.get("/no/such/page/maria@example.net")
    after = scrape(client)
    name = "helpdesk_http_request_duration_seconds_count"
    labels = {dict(k[1]).get("endpoint") for k in after if k[0] == name}
    assert "unmatched" in labels  # the unknown path: counted, not named
    for key in after:
        if key[0].startswith("helpdesk_http_request_duration_seconds"):
            for label, val in key[1]:
                assert "/" not in val and "HD-" not in val and "@" not in val, (label, val)
                if label == "status":
                    assert val in {"1xx", "2xx", "3xx", "4xx", "5xx"}
    views = [k for k in after if k[0] == name and dict(k[1])["method"] == "GET"
             and dict(k[1])["endpoint"] not in ("metrics.metrics", "unmatched", "static")]
    assert sum(after[k] - before.get(k, 0) for k in views) >= 2  # the ticket page and the missing one


# ---------------------------------------------------------------- state from the database


def test_database_gauges_count_sla_routing_and_emergencies(client, ctx, make_ticket):
    empty = scrape(client)
    assert value(empty, "helpdesk_up", dependency="database") == 1
    assert value(empty, "helpdesk_emergencies_unacknowledged") == 0
    assert value(empty, "helpdesk_sla_open_clocks", metric="first_reply", status="breached") == 0
    assert value(empty, "helpdesk_routing_auto_route_ratio_last_24h") is None  # no decision: no ratio

    tickets = [make_ticket() for _ in range(3)]  # the router auto-routes these (billing)
    now = utcnow()
    triaged = tickets[2]
    db.session.execute(sa.update(RoutingDecision).where(RoutingDecision.ticket_id == triaged.id)
                       .values(auto_routed=False))
    db.session.execute(sa.update(RoutingDecision).where(RoutingDecision.ticket_id == tickets[1].id)
                       .values(created_at=now - timedelta(hours=30)))  # older than a day: not counted
    common = dict(queue_id=tickets[0].queue_id, priority="normal", target_seconds=3600, started_at=now)
    db.session.add_all([
        SlaMetric(ticket_id=tickets[0].id, metric=Metric.FIRST_REPLY, warned=True, breached=True, breached_at=now,
                  cycle=9, **common),
        SlaMetric(ticket_id=tickets[1].id, metric=Metric.FIRST_REPLY, warned=True, cycle=9, **common),
        SlaMetric(ticket_id=tickets[2].id, metric=Metric.RESOLUTION, warned=True, breached=True, cycle=9,
                  breached_at=now - timedelta(days=3), **common),
        ClinicalAlert(ticket_id=tickets[0].id, level=AlertLevel.CLINICIAN, due_at=now - timedelta(minutes=1)),
        ClinicalAlert(ticket_id=tickets[1].id, level=AlertLevel.CLINICIAN, due_at=now + timedelta(minutes=4)),
        ClinicalAlert(ticket_id=tickets[2].id, level=AlertLevel.NOBODY_ON_DUTY, due_at=now,
                      acknowledged_at=now),
    ])
    db.session.commit()

    found = scrape(client)
    assert value(found, "helpdesk_sla_open_clocks", metric="first_reply", status="breached") == 1
    assert value(found, "helpdesk_sla_open_clocks", metric="first_reply", status="warned") == 1
    assert value(found, "helpdesk_sla_open_clocks", metric="resolution", status="breached") == 1
    assert value(found, "helpdesk_sla_breaches_last_24h", metric="first_reply") == 1
    assert value(found, "helpdesk_sla_breaches_last_24h", metric="resolution") == 0  # three days ago
    assert value(found, "helpdesk_routing_decisions_last_24h", outcome="auto_routed") == 1
    assert value(found, "helpdesk_routing_decisions_last_24h", outcome="triage") == 1
    assert value(found, "helpdesk_routing_auto_route_ratio_last_24h") == 0.5
    assert value(found, "helpdesk_emergencies_unacknowledged") == 2
    assert value(found, "helpdesk_emergencies_unacknowledged_overdue") == 1
    assert value(found, "helpdesk_outbox_jobs", state="failed") == 0


# ---------------------------------------------------------------- state from Redis


def test_rq_gauges_and_job_failures_come_from_redis(app, client, ctx, configure, monkeypatch, patient):
    if jobs.inline_mode():
        found = scrape(client)
        assert value(found, "helpdesk_up", dependency="redis") is None  # no Redis: no RQ numbers
        assert not [k for k in found if k[0].startswith("helpdesk_job_queue_depth")]
        return
    from helpdesk.tickets import services

    services.create_ticket(requester=patient, subject="Billing question", body="Charged twice for one visit.",
                           channel=Channel.WEB, created_by=patient)
    found = scrape(client)
    assert value(found, "helpdesk_up", dependency="redis") == 1
    assert value(found, "helpdesk_job_queue_depth", queue=jobs.QUEUE_NAME) >= 1  # pushed, no worker yet

    import helpdesk.routing.tasks as tasks

    def broken(_ticket_id):
        raise RuntimeError("no patient text here")

    monkeypatch.setattr(tasks, "route_ticket", broken)
    jobs.Worker([jobs.QUEUE_NAME], connection=jobs.redis_connection()).work(burst=True)
    found = scrape(client)
    assert value(found, "helpdesk_job_failures_total", job="helpdesk.tickets.tasks.after_create") == 1
    assert value(found, "helpdesk_job_queue_depth", queue=jobs.QUEUE_NAME) == 0
    assert value(found, "helpdesk_jobs_scheduled", queue=jobs.QUEUE_NAME) >= 1  # RQ's retry, in 10 s

    with configure(redis_url=f"redis://127.0.0.1:{_free_port()}/0"):  # nothing listens there
        down = scrape(client)
    assert value(down, "helpdesk_up", dependency="redis") == 0
    assert value(down, "helpdesk_up", dependency="database") == 1


# ---------------------------------------------------------------- several gunicorn workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_several_gunicorn_workers_add_up_in_multiprocess_mode(settings, tmp_path):
    """Two workers, each recycled after 10 requests (so at least two processes serve the
    20 requests, one of them gone by the scrape): every scrape, whichever worker
    answers it, counts all 20."""
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    (multiproc / "stale_123.db").write_bytes(b"left by an earlier run")  # emptied at start
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "LOG_LEVEL")},
           "HELPDESK_ENV": "testing", "DATABASE_URL": settings.database_url,
           "HELPDESK_INSTANCE_PATH": str(settings.instance_path), "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:helpdesk.gunicorn_conf", "-w", "2", "--max-requests", "10",
         "--no-control-socket",
         "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/metrics", timeout=30)  # up (its own request is not a /livez one)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert not (multiproc / "stale_123.db").exists()
        for _ in range(20):  # a recycled worker takes a few seconds to boot: generous timeouts
            assert httpx.get(f"{base}/livez", timeout=60).status_code == 200
        counts = []
        for _ in range(4):
            found = samples(httpx.get(f"{base}/metrics", timeout=60).text)
            counts.append(value(found, "helpdesk_http_request_duration_seconds_count",
                                endpoint="core.livez", method="GET", status="2xx"))
        assert counts == [20, 20, 20, 20], (tmp_path / "gunicorn.log").read_text()[-3000:]
        assert len(list(multiproc.glob("histogram_*.db"))) >= 2  # one file per worker process that served
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
