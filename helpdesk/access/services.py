"""Identifiers on file and break-glass access: each one unit of work with its audit row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.access.models import BreakGlassGrant
from helpdesk.auth.models import User
from helpdesk.db import transactional
from helpdesk.errors import Conflict, Forbidden, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import break_glass_candidate, can_review_break_glass, can_view_identifiers
from helpdesk.tickets.models import Ticket
from helpdesk.timeutil import utcnow

# The patient identifiers on file, in the order shown: (User attribute, label). Never in
# lists, only on the agent ticket page after "Show identifiers on file" (audited).
IDENTIFIER_FIELDS: tuple[tuple[str, str], ...] = (
    ("date_of_birth", "Date of birth"),
    ("mrn", "Medical record number"),
    ("phone", "Phone"),
    ("address_zip", "Address ZIP code"),
)

BREAK_GLASS_MINUTES = 30
REASON_MIN = 10
REASON_MAX = 500


@dataclass(frozen=True)
class Identifier:
    field: str
    label: str
    value: str | None


def _shown(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@transactional
def view_identifiers(actor: User, ticket: Ticket) -> list[Identifier]:
    """The requester's identifiers on file; the view is an audit event of its own."""
    if not can_view_identifiers(actor, ticket):
        raise NotFound("No request with that reference.")
    patient = ticket.requester
    shown = [Identifier(f, label, _shown(getattr(patient, f, None))) for f, label in IDENTIFIER_FIELDS]
    audit.record(
        "patient.identifiers_viewed", "user", patient.id, actor_id=actor.id,
        changes={"ticket": ticket.reference, "fields": [i.field for i in shown]},
    )
    return shown


# ---------------------------------------------------------------- break-glass


def clean_reason(raw: object) -> str:
    reason = " ".join(raw.split()) if isinstance(raw, str) else ""
    if len(reason) < REASON_MIN:
        raise ValidationFailed(
            f"Give a reason of at least {REASON_MIN} characters.",
            fields={"reason": [f"At least {REASON_MIN} characters."]},
        )
    if len(reason) > REASON_MAX:
        raise ValidationFailed("That reason is too long.", fields={"reason": [f"At most {REASON_MAX} characters."]})
    return reason


@transactional
def break_glass(*, actor: User, reference: str, reason: object) -> BreakGlassGrant:
    """Grant ``actor`` time-limited access to one ticket outside their queues."""
    ticket = break_glass_candidate(actor, reference)
    if ticket is None:
        raise NotFound("No request with that reference.")
    text = clean_reason(reason)
    now = utcnow()
    grant = BreakGlassGrant(user_id=actor.id, ticket_id=ticket.id, reason=text, created_at=now,
                            expires_at=now + timedelta(minutes=BREAK_GLASS_MINUTES))
    db.session.add(grant)
    db.session.flush()
    # The reason stays in the grant (shown to admins on the review page), not in the log.
    audit.record(
        "ticket.break_glass", "ticket", ticket.reference, actor_id=actor.id, severity="high",
        changes={"grant": grant.id, "queue": ticket.queue.slug, "expires_at": grant.expires_at.isoformat()},
    )
    return grant


REVIEW_PAGE = 50


def grants_for_review(*, unreviewed_only: bool, before: int | None = None) -> tuple[list[BreakGlassGrant], int | None]:
    """Newest first, ``REVIEW_PAGE`` at a time (keyset on id); returns the next cursor."""
    stmt = sa.select(BreakGlassGrant).order_by(BreakGlassGrant.id.desc()).limit(REVIEW_PAGE + 1)
    if unreviewed_only:
        stmt = stmt.where(BreakGlassGrant.reviewed_at.is_(None))
    if before is not None:
        stmt = stmt.where(BreakGlassGrant.id < before)
    rows = list(db.session.scalars(stmt))
    more = len(rows) > REVIEW_PAGE
    rows = rows[:REVIEW_PAGE]
    return rows, (rows[-1].id if more else None)


@transactional
def mark_reviewed(*, actor: User, grant_id: int) -> BreakGlassGrant:
    if not can_review_break_glass(actor):
        raise Forbidden("Only admins review break-glass access.")
    grant = db.session.get(BreakGlassGrant, grant_id)
    if grant is None:
        raise NotFound("Not found.")
    if grant.reviewed_at is not None:
        raise Conflict("Already reviewed.")
    grant.reviewed_at = utcnow()
    grant.reviewed_by_id = actor.id
    audit.record("break_glass.reviewed", "break_glass", grant.id, actor_id=actor.id,
                 changes={"ticket": grant.ticket.reference, "user": grant.user_id})
    return grant
