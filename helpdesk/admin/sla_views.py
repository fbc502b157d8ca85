"""Admin pages for SLA policies (an editor with a preview and versions) and per-queue
settings (name, Spanish name, calendar, default policy, assignment, active)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from helpdesk.admin.forms import QueueSettingsForm, SlaPolicyForm
from helpdesk.auth.models import Role
from helpdesk.errors import DomainError, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.formutil import choices
from helpdesk.permissions import role_required
from helpdesk.sla import calendars, policy_admin
from helpdesk.sla.models import SlaPolicy
from helpdesk.tickets.models import Assignment, Channel, Queue

bp = Blueprint("sla_admin", __name__, url_prefix="/admin")

ASSIGNMENT_LABELS = {
    Assignment.MANUAL: "Manual: new requests stay unassigned",
    Assignment.ROUND_ROBIN: "Round robin: the next available member in turn",
    Assignment.LEAST_LOADED: "Least loaded: the available member with the fewest open requests",
}


def _me():
    return current_user._get_current_object()


def _int_or_none(text: str | None) -> Any:
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text  # a non-number is refused by the service with its field


def _policy_form(policy: SlaPolicy | None) -> SlaPolicyForm:
    form = SlaPolicyForm()
    queues = db.session.scalars(sa.select(Queue).order_by(Queue.name))
    form.queue_id.choices = choices([("", "Every queue")] + [(str(q.id), q.name) for q in queues])
    form.priority.choices = choices([("", "Every priority")] + [(p, p.capitalize()) for p in
                                                                policy_admin.PRIORITY_KEYS if p != "*"])
    form.channel.choices = choices([("", "Every channel")] + [(c.value, c.value) for c in Channel])
    form.calendar_id.choices = choices([("", f"The queue's calendar (else Monday–Friday 08:00–18:00, {_site_zone()})")]
                                       + [(str(c.id), c.name) for c, _ in calendars.all_with_usage()])
    if request.method == "GET" and policy is not None:
        form.name.data, form.queue_id.data = policy.name, str(policy.queue_id or "")
        form.priority.data, form.channel.data = policy.priority or "", policy.channel or ""
        form.position.data, form.calendar_id.data = str(policy.position), str(policy.calendar_id or "")
        form.warn_percent.data, form.active.data = f"{policy.warn_fraction * 100:g}", policy.active
    return form


def _draft(form: SlaPolicyForm) -> tuple[dict[str, Any], dict[str, list[str]]]:
    targets, errors = policy_admin.targets_from_form(request.form)
    try:
        warn: Any = float(form.warn_percent.data or "75") / 100
    except ValueError:
        warn = "x"
    position = (form.position.data or "").strip()
    data = {"name": form.name.data, "queue_id": _int_or_none(form.queue_id.data),
            "priority": form.priority.data or None, "channel": form.channel.data or None,
            "position": int(position) if position.isdigit() else position, "calendar_id": _int_or_none(
                form.calendar_id.data), "warn_fraction": warn, "active": bool(form.active.data), "targets": targets}
    return data, errors


_FORM_FIELD = {"warn_fraction": "warn_percent"}


def _show_errors(form: SlaPolicyForm, err: DomainError, grid: dict[str, list[str]]) -> None:
    rest = []
    for key, msgs in (err.fields or {}).items():
        target = getattr(form, _FORM_FIELD.get(key, key), None)
        if target is not None and hasattr(target, "errors"):
            target.errors = [*target.errors, *msgs]
        elif not key.startswith("targets.") or key == "targets":
            rest.extend(msgs)
    if err.fields and "targets" in err.fields:
        grid.setdefault("targets", err.fields["targets"])
    flash(" ".join([err.message, *rest]), "error")


def _editor(policy: SlaPolicy | None):
    form = _policy_form(policy)
    grid_errors: dict[str, list[str]] = {}
    rows = None
    values = policy_admin.form_values(policy) if request.method == "GET" else dict(request.form)
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        data, grid_errors = _draft(form)
        try:
            if grid_errors:
                raise ValidationFailed(policy_admin.SAVE_FAILED, fields={})
            if request.form.get("action") == "preview":
                rows = policy_admin.preview(data)
            elif policy is None:
                policy = policy_admin.create_policy(actor_id=_me().id, data=data)
                flash(f"Policy {policy.name} created (version 1): it applies to new tickets.", "success")
                return redirect(url_for("sla_admin.policy_edit", policy_id=policy.id))
            else:
                policy_admin.update_policy(actor_id=_me().id, policy=policy, data=data)
                flash(f"Policy saved as version {policy.version}: new tickets get it; tickets that started "
                      "under an earlier version keep theirs.", "success")
                return redirect(url_for("sla_admin.policy_edit", policy_id=policy.id))
        except DomainError as err:
            _show_errors(form, err, grid_errors)
            status = err.status
    elif request.method == "POST":
        status = 422
    return render_template("admin/sla_policy.html", policy=policy, form=form, values=values, grid_errors=grid_errors,
                           preview=rows, priorities=policy_admin.PRIORITY_KEYS, metrics=policy_admin.METRICS,
                           field_key=policy_admin.field_key, priority_label=policy_admin.priority_label,
                           versions=policy_admin.versions_of(policy) if policy else []), status


def _site_zone() -> str:
    """The zone of business hours where no calendar is chosen (``SITE_TIMEZONE``)."""
    return current_app.config["HELPDESK"].site_timezone


@bp.get("/sla-policies")
@role_required(Role.ADMIN)
def policy_list():
    queues = dict(db.session.execute(sa.select(Queue.id, Queue.name)).all())
    return render_template("admin/sla_policies.html", rows=policy_admin.all_policies(), queues=queues,
                           calendars={c.id: c.name for c, _ in calendars.all_with_usage()})


@bp.route("/sla-policies/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def policy_new():
    return _editor(None)


@bp.route("/sla-policies/<int:policy_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def policy_edit(policy_id: int):
    return _editor(policy_admin.get_policy(policy_id))


@bp.route("/queues/<int:queue_id>/settings", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def queue_settings(queue_id: int):
    queue = db.session.get(Queue, queue_id)
    if queue is None:
        raise NotFound("No such queue.")
    form = QueueSettingsForm()
    form.calendar_id.choices = choices([("", f"None: each policy's own (else Monday–Friday 08:00–18:00, {_site_zone()})")]
                                       + [(str(c.id), c.name) for c, _ in calendars.all_with_usage()])
    form.default_policy_id.choices = choices(
        [("", "None: the policies for every queue apply")]
        + [(str(p.id), p.name + ("" if p.active else " (inactive)")) for p in policy_admin.default_policy_choices(queue)])
    form.assignment.choices = choices((a.value, label) for a, label in ASSIGNMENT_LABELS.items())
    status = 200
    if request.method == "GET":
        current = policy_admin.queue_settings(queue)
        form.name.data, form.name_es.data = current["name"], current["name_es"]
        form.calendar_id.data = str(current["calendar_id"] or "")
        form.default_policy_id.data = str(current["default_policy_id"] or "")
        form.assignment.data, form.active.data = current["assignment"], current["active"]
    elif form.validate_on_submit():
        try:
            policy_admin.update_queue_settings(actor=_me(), queue=queue, data={
                "name": form.name.data, "name_es": form.name_es.data,
                "calendar_id": _int_or_none(form.calendar_id.data),
                "default_policy_id": _int_or_none(form.default_policy_id.data),
                "assignment": form.assignment.data, "active": bool(form.active.data)})
        except DomainError as err:
            for key, msgs in (err.fields or {}).items():
                field = getattr(form, key, None)
                if field is not None:
                    field.errors = [*field.errors, *msgs]
            flash(err.message, "error")
            status = err.status
        else:
            flash("Queue settings saved.", "success")
            return redirect(url_for("sla_admin.queue_settings", queue_id=queue.id))
    else:
        status = 422
    return render_template("admin/queue_settings.html", queue=queue, form=form), status

