"""Supervisor page "Routing": the active model, coverage, overrides, confusion, corrections."""

from __future__ import annotations

import pygal
from flask import Blueprint, Response, jsonify, render_template
from flask_login import current_user
from pygal.style import CleanStyle

from helpdesk.audit import record_export
from helpdesk.auth.models import Role
from helpdesk.permissions import STAFF, dashboard_queue_ids, role_required
from helpdesk.routing import stats, triage_groups
from helpdesk.security import CSP, talisman

bp = Blueprint("routing_admin", __name__, url_prefix="/supervisor/routing")
# Agents who work triage label the router's unsure requests in bulk.
triage_bp = Blueprint("triage_groups", __name__, url_prefix="/agent/triage")

# pygal's SVG carries its own <style>; the chart is served as an image on its own URL.
CHART_CSP = {**CSP, "style-src": "'self' 'unsafe-inline'", "default-src": "'none'"}


def _scope() -> set[int] | None:
    """Admins see every queue; supervisors the queues they belong to."""
    user = current_user._get_current_object()
    return dashboard_queue_ids(user)


@bp.get("")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def overview():
    return render_template("routing/overview.html", data=stats.overview(_scope()))


@bp.get("/data.json")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def data():
    d = stats.overview(_scope())
    model = d.pop("model")
    d["model"] = None if model is None else {
        "version": model.version, "created_at": model.created_at.isoformat(), "n_examples": model.n_examples,
        "metrics": model.metrics,
    }
    record_export("routing_stats_json", actor_id=current_user.id)
    return jsonify(d)


@bp.get("/coverage.svg")
@role_required(Role.SUPERVISOR, Role.ADMIN)
@talisman(content_security_policy=CHART_CSP)
def coverage_chart():
    # Imported here, not at module level: pygal costs every web worker memory at start-up
    # for a chart only supervisors open.
    daily = stats.daily_coverage(30, _scope())
    chart = pygal.Bar(
        style=CleanStyle, height=320, width=900, js=[], show_legend=True, legend_at_bottom=True,
        x_label_rotation=45, title="Requests routed per day (last 30 days)", disable_xml_declaration=False,
    )
    chart.x_labels = [row["day"][5:] for row in daily]
    chart.add("Auto-routed", [row["auto_routed"] for row in daily])
    chart.add("Sent to triage", [row["tickets"] - row["auto_routed"] for row in daily])
    return Response(chart.render(), mimetype="image/svg+xml")


@triage_bp.get("/groups")
@role_required(*STAFF)
def groups():
    user = current_user._get_current_object()
    return render_template("routing/triage_groups.html", groups=triage_groups.triage_groups(user),
                           queues=triage_groups.target_queues(), days=triage_groups.DAYS,
                           limit=triage_groups.MAX_TICKETS)
