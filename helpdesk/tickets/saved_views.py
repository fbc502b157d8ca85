"""Saved views of the ticket list: a name for a filter + sort combination.

Personal views belong to their owner; shared views belong to a queue (used by its
members, managed by its supervisors — see ``helpdesk.permissions``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.auth.models import User
from helpdesk.db import unit_of_work
from helpdesk.errors import Forbidden, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import can_manage_saved_view, can_manage_shared_items, can_use_saved_view, member_queue_ids
from helpdesk.tickets.models import Queue
from helpdesk.tickets.queries import TicketFilters
from helpdesk.tickets.services import clean_text
from helpdesk.tickets.workspace_models import SavedView
from helpdesk.timeutil import utcnow

FILTER_KEYS = ("queue", "status", "priority", "assignee", "q", "sort")
MAX_PER_OWNER = 50


def visible_views(user: User) -> list[SavedView]:
    queue_ids = member_queue_ids(user)
    clause = SavedView.owner_id == user.id
    if queue_ids:
        clause = sa.or_(clause, SavedView.queue_id.in_(queue_ids))
    return list(db.session.scalars(
        sa.select(SavedView).where(clause).order_by(SavedView.queue_id.is_not(None), SavedView.name, SavedView.id)
    ))


def get_view(user: User, view_id: Any) -> SavedView:
    view = db.session.get(SavedView, int(view_id)) if str(view_id).isdigit() else None
    if view is None or not can_use_saved_view(user, view):
        raise NotFound("No saved view here.")
    return view


def save_view(*, actor: User, name: Any, scope: Any, args: Any) -> SavedView:
    """Save the list's current filters (validated like the list validates them)."""
    with unit_of_work():
        title = clean_text(name, "name", max_len=80, multiline=False)
        raw = {k: args.get(k) for k in FILTER_KEYS if isinstance(args.get(k), str) and args.get(k).strip()}
        filters = TicketFilters.from_args(raw, limit=1)  # ValidationFailed on bad values
        stored = filters.as_args()
        if not stored:
            raise ValidationFailed("Choose some filters or a sort before saving a view.")
        owner_id, queue_id = actor.id, None
        if scope not in (None, "", "personal"):
            queue = db.session.scalar(sa.select(Queue).where(Queue.slug == str(scope)[:40]))
            if queue is None or not can_manage_shared_items(actor, queue.id):
                raise Forbidden("Only supervisors of that queue can share views with it.")
            owner_id, queue_id = None, queue.id
        else:
            n = db.session.scalar(sa.select(sa.func.count()).where(SavedView.owner_id == actor.id))
            if n >= MAX_PER_OWNER:
                raise ValidationFailed(f"You can keep at most {MAX_PER_OWNER} views; delete one first.")
        view = SavedView(name=title, owner_id=owner_id, queue_id=queue_id, args=stored, created_by_id=actor.id,
                         created_at=utcnow())
        db.session.add(view)
        db.session.flush()
        audit.record("saved_view.created", "saved_view", view.id, actor_id=actor.id,
                     changes={"name": {"before": None, "after": title}, "queue_id": {"before": None, "after": queue_id},
                              "filters": {"before": None, "after": sorted(stored)}})
    return view


def delete_view(view: SavedView, *, actor: User) -> None:
    if not can_manage_saved_view(actor, view):
        raise Forbidden("Only supervisors of this queue can delete its shared views.")
    with unit_of_work():
        audit.record("saved_view.deleted", "saved_view", view.id, actor_id=actor.id,
                     changes={"name": {"before": view.name, "after": None}})
        db.session.delete(view)
