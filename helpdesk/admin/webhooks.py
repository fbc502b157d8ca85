"""Admin pages of the webhooks: endpoints (create, edit, rotate the secret) and each
endpoint's delivery log with replay. Every change goes through
``helpdesk.webhooks.services``, which audits it."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from helpdesk.auth.models import Role, User
from helpdesk.errors import DomainError
from helpdesk.extensions import db
from helpdesk.permissions import role_required
from helpdesk.webhooks import services
from helpdesk.webhooks.events import EVENTS
from helpdesk.webhooks.models import WebhookEndpoint

from .forms import ActionForm, WebhookForm

bp = Blueprint("admin_webhooks", __name__, url_prefix="/admin/webhooks")


def _me() -> User:
    return current_user._get_current_object()


def _flash_error(err: DomainError) -> None:
    details = "; ".join(m for msgs in (err.fields or {}).values() for m in (msgs if isinstance(msgs, list) else [str(msgs)]))
    flash(f"{err.message} {details}".strip(), "error")


def _detail(endpoint: WebhookEndpoint, *, form: WebhookForm | None = None, secret: str | None = None,
            chosen: list[str] | None = None, status: int = 200):
    if form is None:
        form = WebhookForm(formdata=None, url=endpoint.url, description=endpoint.description,
                           allow_phi=endpoint.allow_phi, active=endpoint.active)
    before = request.args.get("before", type=int)
    rows, next_before = services.deliveries(endpoint.id, before=before)
    return render_template("admin/webhook.html", endpoint=endpoint, form=form, secret=secret, events=EVENTS,
                           chosen=chosen if chosen is not None else endpoint.events, deliveries=rows,
                           next_before=next_before, action=ActionForm()), status


@bp.route("", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def endpoints():
    form = WebhookForm()
    chosen = request.form.getlist("events") if request.method == "POST" else []
    status = 200
    if form.validate_on_submit():
        try:
            endpoint, secret = services.create_endpoint(
                actor=_me(), url=form.url.data, events=chosen, description=form.description.data or "",
                allow_phi=form.allow_phi.data, active=form.active.data)
        except DomainError as err:
            _flash_error(err)
            status = 422
        else:
            flash("Webhook created. Copy its signing secret now: it won't be shown again.", "success")
            return _detail(endpoint, secret=secret)
    elif request.method == "POST":
        status = 422
    return render_template("admin/webhooks.html", endpoints=services.endpoints(), counts=services.delivery_counts(),
                           form=form, events=EVENTS, chosen=chosen), status


@bp.route("/<int:endpoint_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def endpoint(endpoint_id: int):
    endpoint = services.get_endpoint(endpoint_id)
    if request.method == "GET":
        return _detail(endpoint)
    form = WebhookForm()
    chosen = request.form.getlist("events")
    if not form.validate_on_submit():
        return _detail(endpoint, form=form, chosen=chosen, status=422)
    try:
        services.update_endpoint(endpoint, actor=_me(), url=form.url.data, events=chosen,
                                 description=form.description.data or "", allow_phi=form.allow_phi.data,
                                 active=form.active.data)
    except DomainError as err:
        _flash_error(err)
        return _detail(endpoint, form=form, chosen=chosen, status=err.status)
    flash("Webhook saved.", "success")
    return redirect(url_for("admin_webhooks.endpoint", endpoint_id=endpoint.id))


@bp.post("/<int:endpoint_id>/rotate-secret")
@role_required(Role.ADMIN)
def rotate_secret(endpoint_id: int):
    endpoint = services.get_endpoint(endpoint_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin_webhooks.endpoint", endpoint_id=endpoint.id))
    secret = services.rotate_secret(endpoint, actor=_me())
    flash("New signing secret in force. Copy it now: it won't be shown again.", "success")
    return _detail(endpoint, secret=secret)


@bp.post("/<int:endpoint_id>/deliveries/<int:delivery_id>/replay")
@role_required(Role.ADMIN)
def replay(endpoint_id: int, delivery_id: int):
    delivery = services.get_delivery(delivery_id, endpoint_id)
    if ActionForm().validate_on_submit():
        try:
            services.replay(delivery, actor=_me())
        except DomainError as err:
            _flash_error(err)
        else:
            db.session.refresh(delivery)  # inline, the job has run already; with Redis it is queued
            state = {"delivered": "delivered", "pending": "queued to be sent", "sending": "being sent",
                     "failed": "failed again"}[delivery.status.value]
            flash(f"Delivery {delivery.id} replayed: {state}.", "success")
    return redirect(url_for("admin_webhooks.endpoint", endpoint_id=endpoint_id))
