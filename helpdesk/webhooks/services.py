"""Webhook endpoints (registered by admins, every change audited) and deliveries.

Delivery (``deliver``, the job ``helpdesk.webhooks.tasks.deliver`` enqueued with each
delivery row) claims the row with a conditional UPDATE (one worker sends it, a second run
does nothing), POSTs the signed JSON body (``helpdesk.webhooks.signing``) with httpx —
``WEBHOOK_TIMEOUT_SECONDS`` (10 s), redirects not followed, the response's body never
read — and records the attempt. A 2xx is delivered. Anything else is retried after the
next wait of ``WEBHOOK_RETRY_SCHEDULE`` (10 s, 1 min, 5 min, 30 min, 2 h, 6 h by
default): with Redis the retry is an outbox job scheduled at that time (a row in the
database, pushed to RQ, so any worker on any host runs it); ``sweep`` (every minute
from ``flask scheduler``) is the timer in inline mode and, with Redis, the safety net
for deliveries overdue by a minute or claimed by a worker that died. After the last
retry the delivery is failed; an admin can replay it (a fresh series of attempts, with
the same delivery id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from helpdesk import audit, jobs
from helpdesk.auth.models import User
from helpdesk.config import Settings
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Conflict, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify.models import CsatSurvey
from helpdesk.permissions import require_admin
from helpdesk.tickets.models import Message, Ticket
from helpdesk.timeutil import utcnow
from helpdesk.webhooks import signing
from helpdesk.webhooks.events import CSAT_RECEIVED, DELIVER_JOB, EVENTS
from helpdesk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

UNSET: Any = object()
# A worker that claimed a delivery and vanished: the sweep gives it back after this.
STALE_CLAIM = timedelta(minutes=5)
# With Redis, the sweep leaves a due delivery to its own job for this long.
SWEEP_GRACE = timedelta(minutes=1)
PAGE = 50


def _settings() -> Settings:
    return current_app.config["HELPDESK"]


# ----------------------------------------------------------------------------- validation


def url_problem(url: str, settings: Settings) -> str | None:
    """Why ``url`` can't be an endpoint (None when it can): http(s) only, a host, no
    credentials in it, https only when WEBHOOK_REQUIRE_HTTPS (production's default)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a bad port
    except ValueError:
        return "Not a valid URL."
    del port
    if parts.scheme not in ("http", "https"):
        return "Only http:// and https:// addresses can receive webhooks."
    if settings.webhook_require_https and parts.scheme != "https":
        return "Webhook endpoints must be https:// addresses here."
    if not parts.hostname:
        return "The address needs a host name."
    if parts.username is not None or parts.password is not None:
        return "Put no user name or password in the address: deliveries are signed instead."
    if any(c.isspace() for c in url):
        return "The address can't contain spaces."
    return None


def clean_url(value: object) -> str:
    url = str(value or "").strip()
    if not url or len(url) > 500:
        raise ValidationFailed("Give the endpoint's address (at most 500 characters).",
                               fields={"url": ["Required, at most 500 characters."]})
    problem = url_problem(url, _settings())
    if problem:
        raise ValidationFailed(problem, fields={"url": [problem]})
    return url


def clean_events(values: Iterable[object] | None) -> list[str]:
    chosen = sorted({str(v).strip() for v in (values or []) if str(v).strip()})
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise ValidationFailed("Unknown event.", fields={"events": [f"One or more of: {', '.join(EVENTS)}."]})
    if not chosen:
        raise ValidationFailed("Choose at least one event.", fields={"events": ["Choose at least one event."]})
    return chosen


def clean_description(value: object) -> str:
    text = " ".join(str(value or "").split())
    if len(text) > 200:
        raise ValidationFailed("The description is too long (at most 200 characters).",
                               fields={"description": ["At most 200 characters."]})
    return text


# ----------------------------------------------------------------------------- endpoints


def _state(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"url": endpoint.url, "description": endpoint.description, "events": list(endpoint.events or []),
            "active": endpoint.active, "allow_phi": endpoint.allow_phi}


@transactional
def create_endpoint(*, actor: User | None, url: object, events: Iterable[object] | None, description: object = "",
                    allow_phi: bool = False, active: bool = True) -> tuple[WebhookEndpoint, str]:
    """A new endpoint; its secret is returned once (shown to the admin, then never again)."""
    require_admin(actor, "Only admins manage webhooks.")
    now = utcnow()
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(url=clean_url(url), events=clean_events(events), description=clean_description(description),
                               allow_phi=bool(allow_phi), active=bool(active), secret=secret, created_at=now,
                               updated_at=now, created_by_id=actor.id if actor else None)
    db.session.add(endpoint)
    db.session.flush()
    audit.record("webhook.created", "webhook_endpoint", endpoint.id, actor_id=actor.id if actor else None,
                 changes={k: {"before": None, "after": v} for k, v in _state(endpoint).items()},
                 severity="warning" if endpoint.allow_phi else "info")
    return endpoint, secret


@transactional
def update_endpoint(endpoint: WebhookEndpoint, *, actor: User | None, url: object = UNSET, events: Any = UNSET,
                    description: object = UNSET, allow_phi: Any = UNSET, active: Any = UNSET) -> WebhookEndpoint:
    require_admin(actor, "Only admins manage webhooks.")
    before = _state(endpoint)
    if url is not UNSET:
        endpoint.url = clean_url(url)
    if events is not UNSET:
        endpoint.events = clean_events(events)
    if description is not UNSET:
        endpoint.description = clean_description(description)
    if allow_phi is not UNSET:
        endpoint.allow_phi = bool(allow_phi)
    if active is not UNSET:
        endpoint.active = bool(active)
    changes = audit.diff(before, _state(endpoint))
    if not changes:
        raise ValidationFailed("Nothing changed.")
    endpoint.updated_at = utcnow()
    audit.record("webhook.updated", "webhook_endpoint", endpoint.id, actor_id=actor.id if actor else None,
                 changes=changes, severity="warning" if "allow_phi" in changes else "info")
    return endpoint


@transactional
def rotate_secret(endpoint: WebhookEndpoint, *, actor: User | None) -> str:
    """A new secret at once (the old one stops working): returned once."""
    require_admin(actor, "Only admins manage webhooks.")
    secret = signing.new_secret()
    endpoint.secret = secret
    endpoint.secret_rotated_at = endpoint.updated_at = utcnow()
    audit.record("webhook.secret_rotated", "webhook_endpoint", endpoint.id, actor_id=actor.id if actor else None)
    return secret


def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def get_delivery(delivery_id: int, endpoint_id: int | None = None) -> WebhookDelivery:
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None or (endpoint_id is not None and row.endpoint_id != endpoint_id):
        raise NotFound("No such delivery.")
    return row


def endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def delivery_counts() -> dict[int, dict[str, int]]:
    """Per endpoint: how many deliveries are in each state (one SQL aggregate)."""
    out: dict[int, dict[str, int]] = {}
    rows = db.session.execute(sa.select(WebhookDelivery.endpoint_id, WebhookDelivery.status, sa.func.count())
                              .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status))
    for endpoint_id, status, n in rows:
        out.setdefault(endpoint_id, {s.value: 0 for s in DeliveryStatus})[DeliveryStatus(status).value] = n
    return out


def deliveries(endpoint_id: int, *, before: int | None = None, limit: int = PAGE) -> tuple[list[WebhookDelivery], int | None]:
    """An endpoint's delivery log, newest first, a page at a time (keyset on the id)."""
    stmt = sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    rows = list(db.session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


@transactional
def replay(delivery: WebhookDelivery, *, actor: User | None) -> WebhookDelivery:
    """Send a delivered or failed delivery again: a fresh series of attempts, now, with the
    same delivery id (a receiver that processed it already ignores it)."""
    require_admin(actor, "Only admins manage webhooks.")
    if delivery.status not in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        raise Conflict("This delivery is still being attempted; it can be replayed once it is delivered or failed.")
    if not delivery.endpoint.active:
        raise Conflict("This endpoint is inactive: make it active, then replay the delivery.")
    audit.record("webhook.delivery_replayed", "webhook_endpoint", delivery.endpoint_id,
                 actor_id=actor.id if actor else None,
                 changes={"delivery_id": delivery.id, "event": delivery.event,
                          "status": {"before": delivery.status.value, "after": DeliveryStatus.PENDING.value},
                          "attempts_before": delivery.attempts, "response_code_before": delivery.response_code})
    delivery.status, delivery.attempts, delivery.next_attempt_at = DeliveryStatus.PENDING, 0, utcnow()
    delivery.last_error = None
    jobs.enqueue(DELIVER_JOB, delivery.uid)
    return delivery


# ----------------------------------------------------------------------------- delivery


def _with_phi(delivery: WebhookDelivery) -> tuple[dict[str, Any], Ticket | None]:
    """The payload for an endpoint allowed PHI: the stored one plus the request's subject,
    its emergency category, the message named and a survey comment, read now."""
    payload = {**delivery.payload, "data": {**delivery.payload.get("data", {})}}
    data = payload["data"]
    ticket_part = data.get("ticket")
    ticket = db.session.get(Ticket, ticket_part["id"]) if isinstance(ticket_part, dict) else None
    if ticket is None:
        return payload, None
    data["ticket"] = {**ticket_part, "subject": ticket.subject, "emergency_category": ticket.emergency}
    message_id = data.get("message_id")
    if message_id is not None:
        message = db.session.get(Message, message_id)
        if message is not None and message.ticket_id == ticket.id and message.public:
            data["message"] = {"id": message.id, "body": message.current_body}
    if delivery.event == CSAT_RECEIVED:
        survey = db.session.scalar(sa.select(CsatSurvey).where(CsatSurvey.ticket_id == ticket.id))
        data["comment"] = survey.comment if survey is not None else None
    return payload, ticket


def deliver(uid: str) -> str | None:
    """Attempt one delivery (the job). Safe to run twice, early, or for a row that is gone:
    only a pending delivery whose attempt is due is claimed, by one worker."""
    settings = _settings()
    now = utcnow()
    with unit_of_work():  # the claim is committed before the request goes out
        claimed = db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.uid == uid, WebhookDelivery.status == DeliveryStatus.PENDING,
                   sa.or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now))
            .values(status=DeliveryStatus.SENDING, claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    if not claimed:
        return None
    code: int | None = None
    error: str | None = None
    permanent = False
    phi_reference: str | None = None
    request: tuple[str, bytes, dict[str, str]] | None = None
    with unit_of_work():  # read what to send; the transaction ends before the request goes out
        row = db.session.scalar(sa.select(WebhookDelivery).where(WebhookDelivery.uid == uid))
        db.session.refresh(row)
        endpoint = row.endpoint
        db.session.refresh(endpoint)
        if not endpoint.active:
            error, permanent = "endpoint inactive", True
        elif problem := url_problem(endpoint.url, settings):
            error, permanent = f"address refused: {problem}"[:200], True
        else:
            payload = row.payload
            if endpoint.allow_phi:
                payload, phi_ticket = _with_phi(row)
                phi_reference = phi_ticket.reference if phi_ticket is not None else None
            body = signing.encode(payload)
            headers = signing.headers(secret=endpoint.secret, timestamp=int(time.time()), body=body,
                                      delivery_id=row.uid, event=row.event)
            request = (endpoint.url, body, headers)
    if request is not None:
        from helpdesk.webhooks import http  # lazy: httpx loads only in the process that delivers

        url, body, headers = request
        try:
            code = http.post(url, body=body, headers=headers, timeout=settings.webhook_timeout_seconds)
        except http.TransportError as exc:
            error = str(exc)  # the error's class name only: no text from the other side
        except (ValueError, OSError) as exc:
            error = type(exc).__name__
        else:
            if not 200 <= code < 300:
                error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    return _record_attempt(row, code=code, error=error, permanent=permanent, phi_reference=phi_reference,
                           settings=settings)


def _record_attempt(row: WebhookDelivery, *, code: int | None, error: str | None, permanent: bool,
                    phi_reference: str | None, settings: Settings) -> str:
    with unit_of_work():
        now = utcnow()
        row.claimed_at = None
        row.attempts += 1
        row.last_attempt_at, row.response_code = now, code
        if phi_reference is not None:
            # patient text left the help desk: a disclosure, audited like any read of it
            audit.record("webhook.phi_sent", "ticket", phi_reference, actor_id=None, severity="warning",
                         changes={"endpoint_id": row.endpoint_id, "delivery_id": row.id, "event": row.event,
                                  "response_code": code})
        if error is None:
            row.status, row.delivered_at, row.next_attempt_at, row.last_error = (
                DeliveryStatus.DELIVERED, now, None, None)
            return row.status.value
        row.last_error = error[:200]
        waits = settings.webhook_retry_seconds
        if permanent or row.attempts > len(waits):
            row.status, row.next_attempt_at = DeliveryStatus.FAILED, None
            log.warning("webhook delivery %s failed after %d attempt(s): %s", row.id, row.attempts, row.last_error)
            return row.status.value
        row.status = DeliveryStatus.PENDING
        row.next_attempt_at = now + timedelta(seconds=waits[row.attempts - 1])
        log.info("webhook delivery %s attempt %d failed (%s); next at %s", row.id, row.attempts, row.last_error,
                 row.next_attempt_at.isoformat())
        if not jobs.inline_mode():
            # with Redis, an outbox job scheduled at the retry time (any worker runs it);
            # inline, the sweep is the timer
            jobs.enqueue(DELIVER_JOB, row.uid, run_at=row.next_attempt_at)
        return row.status.value


def sweep(limit: int = 200) -> int:
    """Attempt the deliveries that are due (and give back stale claims). Inline: sends
    them here; with Redis: enqueues those overdue by a minute (their own job is late or
    lost). Returns how many."""
    now = utcnow()
    with unit_of_work():
        db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.SENDING, WebhookDelivery.claimed_at < now - STALE_CLAIM)
            .values(status=DeliveryStatus.PENDING, claimed_at=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    inline = jobs.inline_mode()
    due_by = now if inline else now - SWEEP_GRACE
    uids = list(db.session.scalars(
        sa.select(WebhookDelivery.uid)
        .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= due_by)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)
    ))
    if inline:
        for uid in uids:
            deliver(uid)
        return len(uids)
    with unit_of_work():
        for uid in uids:
            jobs.enqueue(DELIVER_JOB, uid)
    return len(uids)
