"""Routing in the app: the per-process model, decisions, triage and labels."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from werkzeug.local import LocalProxy

from helpdesk.clinical.services import patient_notice, patient_sentences
from helpdesk.extensions import db
from helpdesk.routing.emergency import EMERGENCY_MESSAGE, EMERGENCY_MESSAGE_ES
from helpdesk.routing.models import LabelSource, ModelVersion, RoutingDecision, RoutingLabel
from helpdesk.tickets.models import Ticket

log = logging.getLogger(__name__)

TRIAGE_QUEUE = "triage"
_EXTENSION_KEY = "helpdesk.routing_model"


def artefact_digest(data: bytes) -> str:
    """The sha256 stored with a model's artefact, re-checked on every load."""
    return hashlib.sha256(data).hexdigest()


def load_artefact(data: bytes | None, sha256: str | None) -> Any:
    """The router in a stored artefact. Raises ``ModelLoadError`` when there are no bytes,
    they do not match their checksum, or they are not a usable compiled model."""
    from helpdesk.routing import compiled  # lazy: numpy loads in the process that routes, not with the app

    if data is None:
        raise compiled.ModelLoadError("no stored model bytes")
    if sha256 is not None and artefact_digest(bytes(data)) != sha256:
        raise compiled.ModelLoadError("stored model bytes do not match their sha256")
    return compiled.loads(data)


@dataclass(frozen=True)
class ModelStatus:
    """What :func:`model_status` says about this process's model."""

    ok: bool  # a model is loaded and usable: requests are routed by it
    model_id: int | None  # the active version's id (None: no active version)
    version: str | None  # its name
    reason: str | None  # why not ok ("no active model version", "model v… could not be loaded: …")


class ModelCache:
    """This process's router, loaded from the active version's bytes in the database.

    One per app (``app.extensions``), so every process — web or worker, on any host —
    loads what the database says is active. The active id is re-read with one small
    query at most every ``routing_model_recheck_seconds`` (default 30); the bytes are
    read and loaded only when the active version changed. A version that fails to load
    is not retried until another one is activated (or :meth:`reset`).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.router: Any = None
        self.model_id: int | None = None
        self.digest: str | None = None
        self.version: str | None = None
        self.error: str | None = "not loaded yet"
        self.checked_at: float | None = None

    def _fresh(self, interval: float) -> bool:
        return self.checked_at is not None and time.monotonic() - self.checked_at < interval

    def get(self) -> Any:
        """The active router, or None (``error`` says why). Raises only when the
        database cannot be read."""
        interval = current_app.config["HELPDESK"].routing_model_recheck_seconds
        if self._fresh(interval):
            return self.router
        with self.lock:
            if self._fresh(interval):
                return self.router
            active = db.session.execute(
                sa.select(ModelVersion.id, ModelVersion.sha256).where(ModelVersion.active.is_(True))
            ).first()
            if active is None:
                self.router, self.model_id, self.digest, self.version = None, None, None, None
                self.error = "no active model version"
            elif (active.id, active.sha256) != (self.model_id, self.digest):
                self._load(active.id)
            self.checked_at = time.monotonic()
            return self.router

    def _load(self, model_id: int) -> None:
        row = db.session.execute(
            sa.select(ModelVersion.version, ModelVersion.artefact, ModelVersion.sha256)
            .where(ModelVersion.id == model_id)
        ).first()
        if row is None:  # deactivated and deleted between the two queries: look again next time
            self.router, self.model_id, self.digest, self.version = None, None, None, None
            self.error = "no active model version"
            return
        try:
            router, error = load_artefact(row.artefact, row.sha256), None
            log.info("routing model %s (id %s) loaded", row.version, model_id)
        except Exception as exc:  # ModelLoadError; loading is in-memory work, any failure is the model's
            log.error("routing model %s could not be loaded: %s (%s)", row.version, type(exc).__name__, exc)
            router, error = None, f"model {row.version} could not be loaded: {exc}"
        self.router, self.error = router, error
        self.model_id, self.digest, self.version = model_id, row.sha256, row.version

    def status(self) -> ModelStatus:
        router = self.get()
        return ModelStatus(ok=router is not None, model_id=self.model_id, version=self.version,
                           reason=None if router is not None else self.error)

    def reset(self) -> None:
        """Forget the loaded model: the next :meth:`get` reads the database again."""
        with self.lock:
            self.router, self.model_id, self.digest, self.version = None, None, None, None
            self.error, self.checked_at = "not loaded yet", None


def _app_model_cache() -> ModelCache:
    cache = current_app.extensions.get(_EXTENSION_KEY)
    if cache is None:  # dict.setdefault is atomic: two threads of one app get the same cache
        cache = current_app.extensions.setdefault(_EXTENSION_KEY, ModelCache())
    return cache


#: The current app's :class:`ModelCache` (each app has its own: two apps in one process
#: behave like two hosts).
model_cache: ModelCache = LocalProxy(_app_model_cache)  # type: ignore[assignment]


def model_status() -> ModelStatus:
    """Whether this process has the active model loaded and usable, and why not.

    Raises when the database cannot be read (the caller reports the database)."""
    return model_cache.status()


def model_health() -> str:
    """This process's routing model, for health and readiness checks. One of:

    - ``"ok (<version>)"`` — the active version is loaded and usable; requests are routed.
      A value starting with ``"ok"`` means exactly this.
    - ``"degraded: no active model version; requests go to triage"`` — no version is active.
    - ``"degraded: model <version> could not be loaded: <why>; requests go to triage"`` —
      the active version's bytes are missing, fail their sha256 or are not a usable model.
    - ``"unavailable (<ExceptionType>)"`` — the database could not be read.

    Every value but the first means requests go to triage with note ``"no_model"``.
    """
    try:
        status = model_status()
    except Exception as exc:  # the database itself is reported separately
        db.session.rollback()
        return f"unavailable ({type(exc).__name__})"
    if not status.ok:
        return f"degraded: {status.reason}; requests go to triage"
    return f"ok ({status.version})"


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
