"""Prometheus ``/metrics`` (prometheus_client).

Two kinds of numbers:

* **per process**, kept by prometheus_client: the request latency histogram, labelled by
  the Flask endpoint's name, the method and the status class (``2xx``) — never the path,
  which may carry a ticket reference or a token. Under gunicorn with several worker
  processes, set ``PROMETHEUS_MULTIPROC_DIR`` (before the app starts; the directory
  emptied at each start, ``helpdesk.gunicorn_conf``): every worker writes its values
  there and a scrape of any worker adds them all up (prometheus_client's multiprocess
  mode). Without it, the default registry of this one process (plus its process
  metrics) is served.
* **shared state**, read at scrape time by ``StateCollector`` with a few cheap, indexed
  queries, so every host answers the same: RQ queue depth and failed jobs, job failures
  (a Redis hash, ``helpdesk.jobs.FAILURES_KEY``), the outbox, open SLA clocks warned and
  breached, breaches of the last 24 h, the routing auto-route share of the last 24 h,
  and unacknowledged clinical emergencies. Without Redis the RQ numbers are absent; a
  database or Redis that does not answer is reported as ``helpdesk_up{dependency=…} 0``
  and the scrape still succeeds.

No label carries anything a person wrote or a person's identity: endpoint names, job
function names, queue, SLA metric and state names only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from helpdesk import jobs
from helpdesk.clinical.models import ClinicalAlert
from helpdesk.extensions import db
from helpdesk.permissions import may_scrape_metrics, metrics_hidden
from helpdesk.routing.models import RoutingDecision
from helpdesk.sla.models import Metric as SlaMetricKind
from helpdesk.sla.models import MetricState, SlaMetric
from helpdesk.timeutil import utcnow

REQUEST_LATENCY = Histogram(
    "helpdesk_http_request_duration_seconds",
    "Time to answer a web request, by Flask endpoint, method and status class.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DAY = timedelta(hours=24)

bp = Blueprint("metrics", __name__)


def init_metrics(app: Flask) -> None:
    """Time every request (register early: the clock starts before the other hooks)."""

    @app.before_request
    def _start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            REQUEST_LATENCY.labels(
                endpoint=request.endpoint or "unmatched",
                method=request.method if request.method in METHODS else "OTHER",
                status=f"{response.status_code // 100}xx",
            ).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


def _bearer_secret() -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() or None if scheme.lower() == "bearer" else None


@bp.get("/metrics")
def metrics() -> Response:
    settings = current_app.config["HELPDESK"]
    if metrics_hidden(settings):
        return Response("Not found.\n", status=404, mimetype="text/plain")
    if not may_scrape_metrics(settings, _bearer_secret()):
        return Response("Send the metrics token as 'Authorization: Bearer <token>'.\n", status=401,
                        mimetype="text/plain", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    registry = CollectorRegistry(auto_describe=False)
    if settings.prometheus_multiproc_dir is not None:
        MultiProcessCollector(registry, path=str(settings.prometheus_multiproc_dir))
    else:
        registry.register(_ThisProcess())
    registry.register(StateCollector())
    response = Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


class _ThisProcess(Collector):
    """The default registry of this process (latency histogram, process metrics)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class StateCollector(Collector):
    """Gauges read from PostgreSQL and Redis at scrape time (inside the request's app context)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("helpdesk_up", "Whether a dependency answered this scrape (1) or not (0).",
                               labels=["dependency"])
        try:
            families = list(_database_metrics())
            up.add_metric(["database"], 1)
        except SQLAlchemyError:
            db.session.rollback()  # the scrape's own reads failed: nothing to keep
            families = []
            up.add_metric(["database"], 0)
        if not jobs.inline_mode():
            try:
                families += list(_redis_metrics())
                up.add_metric(["redis"], 1)
            except RedisError:
                up.add_metric(["redis"], 0)
        yield up
        yield from families


def _redis_metrics() -> Iterator[Metric]:
    queue = jobs.rq_queue()
    depth = GaugeMetricFamily("helpdesk_job_queue_depth", "Jobs waiting in the RQ queue.", labels=["queue"])
    depth.add_metric([queue.name], queue.count)
    scheduled = GaugeMetricFamily("helpdesk_jobs_scheduled", "Jobs scheduled for later (RQ).", labels=["queue"])
    scheduled.add_metric([queue.name], queue.scheduled_job_registry.get_job_count(cleanup=False))
    running = GaugeMetricFamily("helpdesk_jobs_started", "Jobs running now (RQ).", labels=["queue"])
    running.add_metric([queue.name], queue.started_job_registry.get_job_count(cleanup=False))
    failed = GaugeMetricFamily("helpdesk_jobs_failed", "Jobs in RQ's failed-job registry (kept 7 days).",
                               labels=["queue"])
    failed.add_metric([queue.name], queue.failed_job_registry.get_job_count(cleanup=False))
    failures = CounterMetricFamily("helpdesk_job_failures", "Failed job runs (every attempt), by job function.",
                                   labels=["job"])
    for func, n in sorted(queue.connection.hgetall(jobs.FAILURES_KEY).items()):
        failures.add_metric([func.decode("utf-8", "replace")], int(n))
    yield from (depth, scheduled, running, failed, failures)


def _database_metrics() -> Iterator[Metric]:
    now = utcnow()
    counts = jobs.outbox_counts()
    outbox = GaugeMetricFamily("helpdesk_outbox_jobs", "Jobs in the outbox: pending (not done yet) or failed "
                               "(given up after every retry).", labels=["state"])
    for state in ("pending", "failed"):
        outbox.add_metric([state], counts[state])
    yield outbox

    # open clocks only (the partial index ix_sla_metrics_open)
    rows = db.session.execute(
        sa.select(SlaMetric.metric, SlaMetric.breached, sa.func.count())
        .where(SlaMetric.state != MetricState.FULFILLED, sa.or_(SlaMetric.warned, SlaMetric.breached))
        .group_by(SlaMetric.metric, SlaMetric.breached)
    ).all()
    found = {(str(metric), bool(breached)): n for metric, breached, n in rows}
    open_clocks = GaugeMetricFamily(
        "helpdesk_sla_open_clocks", "Running or paused SLA clocks past their warning (warned, not breached) "
        "or past their target (breached).", labels=["metric", "status"])
    for kind in SlaMetricKind:
        open_clocks.add_metric([kind.value, "warned"], found.get((kind.value, False), 0))
        open_clocks.add_metric([kind.value, "breached"], found.get((kind.value, True), 0))
    yield open_clocks

    breaches = {str(metric): n for metric, n in db.session.execute(
        sa.select(SlaMetric.metric, sa.func.count())
        .where(SlaMetric.metric.in_(list(SlaMetricKind)), SlaMetric.breached_at >= now - DAY)
        .group_by(SlaMetric.metric)
    )}
    recent = GaugeMetricFamily("helpdesk_sla_breaches_last_24h", "SLA targets breached in the last 24 hours.",
                               labels=["metric"])
    for kind in SlaMetricKind:
        recent.add_metric([kind.value], breaches.get(kind.value, 0))
    yield recent

    total, auto = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(RoutingDecision.auto_routed.is_(True)))
        .where(RoutingDecision.created_at >= now - DAY)
    ).one()
    decisions = GaugeMetricFamily("helpdesk_routing_decisions_last_24h", "Routing decisions of the last 24 hours: "
                                  "auto-routed to a queue, or left to triage.", labels=["outcome"])
    decisions.add_metric(["auto_routed"], auto or 0)
    decisions.add_metric(["triage"], (total or 0) - (auto or 0))
    yield decisions
    if total:
        yield GaugeMetricFamily("helpdesk_routing_auto_route_ratio_last_24h",
                                "Share of the last 24 hours' routing decisions that were auto-routed "
                                "(absent when there was none).", value=(auto or 0) / total)

    unacknowledged, overdue = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(ClinicalAlert.due_at <= now))
        .where(ClinicalAlert.acknowledged_at.is_(None))
    ).one()
    yield GaugeMetricFamily("helpdesk_emergencies_unacknowledged",
                            "Clinical emergency alerts nobody has acknowledged yet.", value=unacknowledged or 0)
    yield GaugeMetricFamily("helpdesk_emergencies_unacknowledged_overdue",
                            "Unacknowledged clinical emergency alerts past their escalation time.",
                            value=overdue or 0)
