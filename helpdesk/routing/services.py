"""Routing in the app: the per-process model, decisions, triage and labels."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale

from helpdesk.clinical.services import patient_notice, patient_sentences
from helpdesk.extensions import db
from helpdesk.routing.emergency import EMERGENCY_MESSAGE, EMERGENCY_MESSAGE_ES
from helpdesk.routing.models import LabelSource, ModelVersion, RoutingDecision, RoutingLabel
from helpdesk.tickets.models import Ticket

log = logging.getLogger(__name__)

TRIAGE_QUEUE = "triage"
_RECHECK_SECONDS = 30.0


class _ModelCache:
    """The model is loaded once per process and reloaded only when another version
    becomes active (checked at most every 30 s)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.router: Any = None
        self.version: str | None = None
        self.error: str | None = None
        self.checked_at = 0.0

    def get(self) -> Any:
        now = time.monotonic()
        if now - self.checked_at < _RECHECK_SECONDS and (self.router is not None or self.error):
            return self.router
        with self.lock:
            active = db.session.execute(
                sa.select(ModelVersion.version, ModelVersion.path).where(ModelVersion.active.is_(True))
            ).first()
            self.checked_at = now
            if active is None:
                self.router, self.version, self.error = None, None, "no active model"
                return None
            if active.version == self.version and self.router is not None:
                return self.router
            from helpdesk.routing import compiled  # lazy: numpy loads in the worker that routes, not with the app

            try:
                self.router = _load_model(resolve_model_path(active.path), active.version)
                self.version, self.error = active.version, None
            except compiled.ModelLoadError as exc:
                log.error("routing model %s could not be loaded: %s", active.version, type(exc).__name__)
                self.router, self.version, self.error = None, None, f"model {active.version} unreadable"
            return self.router

    def reset(self) -> None:
        with self.lock:
            self.router, self.version, self.error, self.checked_at = None, None, None, 0.0


def _load_model(path: Path, version: str) -> Any:
    """The compiled model next to ``path`` (numpy only); the scikit-learn Router at
    ``path`` only when there is no compiled file (a model from before compiled files:
    it works, but importing scikit-learn costs the worker ~110 MB). A compiled file that
    is there but unreadable is a :class:`ModelLoadError`, never a reason to fall back."""
    from helpdesk.routing import compiled  # lazy: numpy loads in the worker that routes, not with the app

    twin = compiled.compiled_path(path)
    if twin.is_file() or not path.is_file():
        return compiled.load(twin)
    log.warning("routing model %s: no compiled file (FileNotFoundError); loading the scikit-learn model", version)
    # lazy: scikit-learn (~110 MB) only for an old model without a compiled twin
    from helpdesk.routing.classifier import load

    return load(path)


model_cache = _ModelCache()


def resolve_model_path(stored: str) -> Path:
    path = Path(stored)
    if path.is_absolute():
        return path
    return current_app.config["HELPDESK"].resolved_model_dir / path


def model_health() -> str:
    try:
        router = model_cache.get()
    except Exception as exc:  # the database itself is reported separately
        return f"unavailable ({type(exc).__name__})"
    if router is None:
        return f"degraded: {model_cache.error}; requests go to triage"
    return f"ok ({model_cache.version})"


def decide(text: str) -> dict[str, Any]:
    """The router's decision for ``text``; triage (not an error) when there is no model."""
    router = model_cache.get()
    if router is None:
        return {"queue": None, "auto_routed": False, "confidence": 0.0, "top3": [],
                "model_version": None, "note": "no_model"}
    settings = current_app.config["HELPDESK"]
    d = router.decide(text, threshold=settings.routing_threshold, margin=settings.routing_margin)
    return {
        "queue": d.queue, "auto_routed": d.auto_routed, "confidence": float(d.confidence),
        "top3": [[q, float(p)] for q, p in d.top3], "model_version": d.model_version,
        "note": None if d.auto_routed else "unsure",
    }


def ticket_text(ticket: Ticket) -> str:
    first = ticket.messages[0].body if ticket.messages else ""
    return f"{ticket.subject}\n{first}"


def routing_info(ticket: Ticket) -> RoutingDecision | None:
    return db.session.scalar(sa.select(RoutingDecision).where(RoutingDecision.ticket_id == ticket.id))


def emergency_notice(ticket: Ticket) -> dict[str, Any] | None:
    if not ticket.emergency:
        return None
    # what really happened, from the stored alert rows (the same words as the patient's page)
    notice = patient_notice(ticket)
    with force_locale("en"):
        sentences = patient_sentences(notice)
    with force_locale("es"):
        sentences_es = patient_sentences(notice)
    return {
        "message": EMERGENCY_MESSAGE, "message_es": EMERGENCY_MESSAGE_ES,
        "alert_status": notice.status,
        "alerted_at": notice.alerted_at.isoformat() if notice.alerted_at else None,
        "acknowledged_at": notice.acknowledged_at.isoformat() if notice.acknowledged_at else None,
        "notice": sentences, "notice_es": sentences_es, "helpdesk_phone": notice.phone,
    }


def add_label(ticket: Ticket, *, from_queue: str, to_queue: str, actor_id: int | None) -> None:
    """Record a human routing decision (no commit: part of the caller's move)."""
    source = LabelSource.TRIAGE if from_queue == TRIAGE_QUEUE else LabelSource.MOVE
    db.session.add(RoutingLabel(ticket_id=ticket.id, from_queue=from_queue, queue=to_queue,
                                source=source, actor_id=actor_id))
