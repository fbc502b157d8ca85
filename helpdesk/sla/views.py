"""SLA pages: the supervisors' dashboard (HTML, JSON, CSV, SVG). Staff notifications
live in helpdesk.notify."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pygal
import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_login import current_user
from pygal.style import CleanStyle

from helpdesk.audit import record_export
from helpdesk.auth.models import Role
from helpdesk.csv_export import dict_rows_to_csv
from helpdesk.errors import NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import acting_user, dashboard_queue_ids, role_required
from helpdesk.security import CSP, talisman
from helpdesk.sla import dashboard, services
from helpdesk.tickets.models import Queue

bp = Blueprint("sla", __name__)

CHART_CSP = {**CSP, "style-src": "'self' 'unsafe-inline'", "default-src": "'none'"}


@bp.app_template_global()
def sla_badges(tickets: Any) -> dict[int, dict[str, Any]]:
    """Badges for the tickets on a page (one query)."""
    return services.badges(t.id for t in tickets)


@bp.app_template_filter("sla_duration")
def sla_duration(seconds: float) -> str:
    """A clock's duration, e.g. ``4h 00m`` or ``2d 3h``."""
    return services.fmt_duration(seconds)


# ----------------------------------------------------------------------------- dashboard


def _scope() -> set[int] | None:
    user = acting_user()
    return dashboard_queue_ids(user)


def _period() -> dashboard.Period:
    args = request.args
    preset = args.get("period", "7d")
    today = services.now().astimezone(UTC).date()
    if preset == "today":
        start, end = today, today
    elif preset == "30d":
        start, end = today - timedelta(days=29), today
    elif preset == "custom":
        try:
            start = date.fromisoformat(args.get("start", ""))
            end = date.fromisoformat(args.get("end", ""))
        except ValueError:
            raise ValidationFailed("Give start and end dates (YYYY-MM-DD).",
                                   fields={"start": ["YYYY-MM-DD"], "end": ["YYYY-MM-DD"]}) from None
        if end < start or (end - start).days > 366:
            raise ValidationFailed("The end must follow the start, within a year.", fields={"end": ["Invalid range."]})
    elif preset == "7d":
        start, end = today - timedelta(days=6), today
    else:
        raise ValidationFailed("Unknown period.", fields={"period": ["today, 7d, 30d or custom"]})
    queue_ids = _scope()
    slug = args.get("queue") or None
    if slug:
        qid = db.session.scalar(sa.select(Queue.id).where(Queue.slug == slug[:40]))
        if qid is None or (queue_ids is not None and qid not in queue_ids):
            raise NotFound("No such queue.")
        queue_ids = {qid}
    return dashboard.Period(
        start=datetime.combine(start, time.min, tzinfo=UTC),
        end=datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
        queue_ids=queue_ids, preset=preset, queue=slug,
    )


def _queues() -> list[Any]:
    stmt = sa.select(Queue).order_by(Queue.name)
    scope = _scope()
    if scope is not None:
        stmt = stmt.where(Queue.id.in_(scope or {-1}))
    return list(db.session.scalars(stmt))


@bp.get("/supervisor/dashboard")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def dashboard_page():
    period = _period()
    return render_template("sla/dashboard.html", d=dashboard.full(period), period=period, queues=_queues(),
                           figures=dashboard.FIGURES, tables=dashboard.TABLES)


@bp.get("/supervisor/breaches")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def breaches():
    """Every breached (or at-risk) open clock in the supervisor's queues, page by page."""
    period = _period()
    state = request.args.get("state", "breached")
    if state not in dashboard.BREACH_STATES:
        raise ValidationFailed("Unknown state.", fields={"state": ["breached or at_risk"]})
    raw_page = request.args.get("page", "1")
    if not raw_page.isdigit() or not 0 < int(raw_page) < 1_000_000:
        raise ValidationFailed("Unknown page.", fields={"page": ["A page number."]})
    per_page = current_app.config["HELPDESK"].page_size
    data = dashboard.breach_page(period, state, int(raw_page), per_page)
    counts = {s: (data["total"] if s == state else dashboard.risk_count(period, s)) for s in dashboard.BREACH_STATES}
    return render_template("sla/breaches.html", b=data, counts=counts, period=period, queues=_queues())


def _audit_export(kind: str, period: dashboard.Period, **extra: str) -> None:
    record_export(kind, actor_id=current_user.id, filters={**_period_filters(period), **extra})


def _period_filters(period: dashboard.Period) -> dict[str, str | None]:
    return {"period": period.preset, "start": period.start.isoformat(), "end": period.end.isoformat(),
            "queue": period.queue}


@bp.get("/supervisor/dashboard/data.json")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def dashboard_json():
    period = _period()
    data = dashboard.full(period)
    _audit_export("sla_dashboard_json", period)
    return jsonify(data)


@bp.get("/supervisor/dashboard/<name>.json")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def figure_json(name: str):
    if name not in dashboard.FIGURES:
        raise NotFound("No such figure.")
    period = _period()
    data = dashboard.figure(name, period)
    _audit_export("sla_dashboard_json", period, figure=name)
    return jsonify(data)


@bp.get("/supervisor/dashboard/<name>.csv")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def figure_csv(name: str):
    if name not in dashboard.TABLES:
        raise NotFound("No such table.")
    period = _period()
    rows = dashboard.table(name, period)
    _audit_export("sla_dashboard_csv", period, table=name)
    return Response(dict_rows_to_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@bp.get("/supervisor/dashboard/<name>.svg")
@role_required(Role.SUPERVISOR, Role.ADMIN)
@talisman(content_security_policy=CHART_CSP)
def figure_svg(name: str):
    period = _period()
    if name == "volume":
        daily = dashboard.figure("daily", period)
        chart = pygal.Line(style=CleanStyle, height=320, width=900, js=[], legend_at_bottom=True,
                           x_label_rotation=45, title="Created, solved and backlog per day")
        chart.x_labels = [r["day"][5:] for r in daily]
        chart.add("Created", [r["created"] for r in daily])
        chart.add("Solved", [r["solved"] for r in daily])
        chart.add("Backlog (end of day)", [r["backlog"] for r in daily])
    elif name == "attainment":
        att = dashboard.figure("attainment", period)
        chart = pygal.Bar(style=CleanStyle, height=320, width=900, js=[], legend_at_bottom=True, range=(0, 100),
                          title="SLA attainment % per metric")
        chart.x_labels = [r["metric"].replace("_", " ") for r in att["by_metric"]]
        chart.add("Attainment %", [r["attainment_pct"] for r in att["by_metric"]])
    else:
        raise NotFound("No such chart.")
    return Response(chart.render(), mimetype="image/svg+xml")
